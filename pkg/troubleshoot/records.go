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
	r := eventRecord{FieldPath: e.InvolvedObject.FieldPath, Type: e.Type, Reason: e.Reason, Message: e.Message, Count: eventCount(e), Last: EventTime(e)}
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

// EventTime is the last time an event was seen, whichever API wrote it (events.k8s.io's
// series, core's lastTimestamp, eventTime, firstTimestamp, else its creation).
func EventTime(e *corev1.Event) time.Time {
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

// podRecord is one pod of the snapshot. A quiet pod (trim.go) is kept as a quietRecord, a
// few hundred bytes instead of a corev1.Pod (1,240 bytes of struct before anything it points
// to); every other pod is kept whole for the rules that explain it.
type podRecord struct {
	whole *corev1.Pod
	quiet *quietRecord
}

// quietRecord is what compactQuietPod keeps of a quiet pod, in fields rather than a Pod's
// structs (an ObjectMeta is 232 bytes, a ContainerStatus 208, most of them empty): its
// names, labels, annotations, owners and creation time; node, service account, pull
// secrets, volumes, containers, overhead and pod-level resources; its start time, since
// when it is Ready, and each container's name and running-since. The rest is what every
// quiet pod has (running, Ready, each container ready and started without a restart).
type quietRecord struct {
	name, generateName, namespace string
	labels, annotations           map[string]string
	owners                        []metav1.OwnerReference
	created                       metav1.Time
	nodeName, serviceAccount      string
	pullSecrets                   []corev1.LocalObjectReference
	volumes                       []corev1.Volume
	containers                    []corev1.Container
	overhead                      corev1.ResourceList
	resources                     *corev1.ResourceRequirements
	start                         *metav1.Time
	readySince                    metav1.Time
	statuses                      []quietStatus
}

// quietStatus is a quiet pod's container status: its name and since when it runs.
type quietStatus struct {
	name  string
	since metav1.Time
}

// started is every quiet container's Started; pods rebuilt from records share it (nothing
// changes a snapshot's pods).
var started = true

// newPodRecord keeps p (trimmed as its page arrives, see trimPodSharing) as a record: a
// quiet pod's compact parts move into a quietRecord, any other pod is copied whole.
func newPodRecord(p *corev1.Pod, s *sharer) podRecord {
	if !trimPages || !trimPodSharing(p, s) {
		whole := new(corev1.Pod)
		*whole = *p
		return podRecord{whole: whole}
	}
	statuses := make([]quietStatus, len(p.Status.ContainerStatuses))
	for i := range p.Status.ContainerStatuses {
		st := &p.Status.ContainerStatuses[i]
		statuses[i] = quietStatus{name: st.Name, since: st.State.Running.StartedAt} // quietPod: running
	}
	return podRecord{quiet: &quietRecord{
		name: p.Name, generateName: p.GenerateName, namespace: p.Namespace,
		labels: p.Labels, annotations: p.Annotations, owners: p.OwnerReferences, created: p.CreationTimestamp,
		nodeName: p.Spec.NodeName, serviceAccount: p.Spec.ServiceAccountName,
		pullSecrets: p.Spec.ImagePullSecrets, volumes: p.Spec.Volumes, containers: p.Spec.Containers,
		overhead: p.Spec.Overhead, resources: p.Spec.Resources,
		start: p.Status.StartTime, readySince: p.Status.Conditions[0].LastTransitionTime,
		statuses: statuses,
	}}
}

// pod returns the pod as the rules read it: the whole pod, or a quiet pod rebuilt as
// compactQuietPod left it (a new copy each time; its slices and maps are the record's,
// which nothing changes).
func (r *podRecord) pod() *corev1.Pod {
	if r.whole != nil {
		return r.whole
	}
	q := r.quiet
	statuses := make([]corev1.ContainerStatus, len(q.statuses))
	for i, st := range q.statuses {
		statuses[i] = corev1.ContainerStatus{
			Name: st.name, Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: st.since}},
		}
	}
	return &corev1.Pod{
		ObjectMeta: q.meta(),
		Spec: corev1.PodSpec{
			Volumes: q.volumes, Containers: q.containers, NodeName: q.nodeName,
			ServiceAccountName: q.serviceAccount, ImagePullSecrets: q.pullSecrets,
			Overhead: q.overhead, Resources: q.resources,
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: q.start, ContainerStatuses: statuses,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: q.readySince}},
		},
	}
}

func (q *quietRecord) meta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: q.name, GenerateName: q.generateName, Namespace: q.namespace, CreationTimestamp: q.created,
		Labels: q.labels, Annotations: q.annotations, OwnerReferences: q.owners,
	}
}

// namespace, name, labels, deleting, nodeName, phase and volumes read a record without
// rebuilding a quiet pod.
func (r *podRecord) namespace() string {
	if r.whole != nil {
		return r.whole.Namespace
	}
	return r.quiet.namespace
}

func (r *podRecord) name() string {
	if r.whole != nil {
		return r.whole.Name
	}
	return r.quiet.name
}

func (r *podRecord) labels() map[string]string {
	if r.whole != nil {
		return r.whole.Labels
	}
	return r.quiet.labels
}

// controller is the pod's controlling owner, or nil: the record's own (callers only read it).
func (r *podRecord) controller() *metav1.OwnerReference {
	if r.whole != nil {
		return metav1.GetControllerOfNoCopy(r.whole)
	}
	for i := range r.quiet.owners {
		if c := r.quiet.owners[i].Controller; c != nil && *c {
			return &r.quiet.owners[i]
		}
	}
	return nil
}

// deleting reports a pod with a deletion timestamp (never a quiet one).
func (r *podRecord) deleting() bool { return r.whole != nil && r.whole.DeletionTimestamp != nil }

func (r *podRecord) nodeName() string {
	if r.whole != nil {
		return r.whole.Spec.NodeName
	}
	return r.quiet.nodeName
}

func (r *podRecord) phase() corev1.PodPhase {
	if r.whole != nil {
		return r.whole.Status.Phase
	}
	return corev1.PodRunning // quietPod
}

func (r *podRecord) volumes() []corev1.Volume {
	if r.whole != nil {
		return r.whole.Spec.Volumes
	}
	return r.quiet.volumes
}

// podsSpec reads the pods of ns page by page into records.
func (s *snapshot) podsSpec(list pages.ListFunc[*corev1.PodList], selector string) listSpec {
	share := newSharer()
	if !trimPages {
		share = nil
	}
	return listSpec{kind: "pods", read: func(ctx context.Context) (int, error) {
		return pages.Stream(ctx, metav1.ListOptions{FieldSelector: selector}, list, func(l *corev1.PodList) []corev1.Pod { return l.Items },
			func(total int) { s.pods = make([]podRecord, 0, total) },
			func(p *corev1.Pod) { s.pods = append(s.pods, newPodRecord(p, share)) })
	}}
}
