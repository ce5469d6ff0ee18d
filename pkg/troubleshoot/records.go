package troubleshoot

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
)

// Records: the analysis keeps of some kinds its own small record, built from each item as
// its page arrives (pages.Stream); the typed page is garbage as soon as it is converted.
// A record holds what the rules read and nothing else.

// eventRecord is what the rules read of an Event: the container it is about (the involved
// object's field path), its type, reason, message, count (the legacy counter or the
// series', at least 1) and when it was last seen (whichever API wrote it). The involved
// object is the key it is filed under (eventKey).
type eventRecord struct {
	FieldPath, Type, Reason, Message string
	Count                            int32
	Last                             time.Time
}

// eventKey files an event under its involved object: Kind/namespace/name.
func eventKey(kind, ns, name string) string { return kind + "/" + key(ns, name) }

// newEventRecord converts an Event; s shares the strings many events repeat (nil: not).
func newEventRecord(e *corev1.Event, s *sharer) eventRecord {
	r := eventRecord{FieldPath: e.InvolvedObject.FieldPath, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: eventCount(e), Last: eventTime(e)}
	if s != nil {
		r.FieldPath, r.Type, r.Reason = s.str(r.FieldPath), s.str(r.Type), s.str(r.Reason)
	}
	return r
}

// eventsSpec reads the Events of ns page by page into the snapshot's index of event
// records by involved object, in list order (a.events sorts by time, stable).
func (s *snapshot) eventsSpec(list pages.ListFunc[*corev1.EventList]) listSpec {
	share := newSharer()
	return listSpec{kind: "events", read: func(ctx context.Context) (int, error) {
		return pages.Stream(ctx, metav1.ListOptions{}, list, func(l *corev1.EventList) []corev1.Event { return l.Items },
			func(int) { s.events = map[string][]eventRecord{} },
			func(e *corev1.Event) {
				k := eventKey(e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name)
				s.events[k] = append(s.events[k], newEventRecord(e, share))
			})
	}}
}

// eventCount reads the count from either the legacy counter or the event series.
func eventCount(e *corev1.Event) int32 {
	if e.Series != nil && e.Series.Count > 0 {
		return e.Series.Count
	}
	if e.Count > 0 {
		return e.Count
	}
	return 1
}

// eventTime is the last time an event was seen, whichever API wrote it.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
