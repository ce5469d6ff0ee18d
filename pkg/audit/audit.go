package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// FieldManager is the field manager of every write the plugin makes.
	FieldManager = "kubectl-feastflow"
	// LastOperationAnnotation holds the JSON Operation of the last write the plugin made.
	LastOperationAnnotation = "feastflow.dev/last-operation"
	// EventSource is the reporting component of the Events the plugin creates.
	EventSource = "kubectl-feastflow"
)

// DryRun is the --dry-run mode of a write verb.
type DryRun string

// The dry-run modes, as kubectl names them.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// ParseDryRun turns a --dry-run flag value into a DryRun; an empty value means none.
func ParseDryRun(s string) (DryRun, error) {
	switch DryRun(s) {
	case "", DryRunNone:
		return DryRunNone, nil
	case DryRunClient, DryRunServer:
		return DryRun(s), nil
	}
	return "", fmt.Errorf("invalid --dry-run value %q: use none, client or server", s)
}

// Operation is what the plugin did to an object, as stored in LastOperationAnnotation.
type Operation struct {
	Verb     string    `json:"verb"`
	From     string    `json:"from,omitempty"`
	To       string    `json:"to,omitempty"`
	User     string    `json:"user,omitempty"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason,omitempty"`
	Override string    `json:"overrideWindow,omitempty"`
}

// ParseOperation reads the last operation recorded in an object's annotations; ok is false
// when there is none or it does not parse.
func ParseOperation(annotations map[string]string) (op Operation, ok bool) {
	raw, found := annotations[LastOperationAnnotation]
	if !found {
		return Operation{}, false
	}
	if err := json.Unmarshal([]byte(raw), &op); err != nil {
		return Operation{}, false
	}
	return op, true
}

// Writer carries what every write needs: who writes, why, whether for real, and the clock.
// The zero value writes for real as an unknown user; libraries take it by pointer.
type Writer struct {
	// User is the authenticated user name, recorded in annotations and events.
	User string
	// Reason is the free-text --reason of the operation.
	Reason string
	// OverrideWindow is the --override-window reason, recorded when a window was bypassed.
	OverrideWindow string
	// DryRun selects whether writes are sent, sent with dryRun=All, or not sent at all.
	DryRun DryRun
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client reports whether writes must not be sent at all (--dry-run=client).
func (w *Writer) Client() bool { return w != nil && w.DryRun == DryRunClient }

// Live reports whether writes change the cluster (neither client nor server dry run).
func (w *Writer) Live() bool { return w == nil || w.DryRun == "" || w.DryRun == DryRunNone }

func (w *Writer) dryRunOpt() []string {
	if w != nil && w.DryRun == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// PatchOptions are the options of every PATCH: field manager and dry run.
func (w *Writer) PatchOptions() metav1.PatchOptions {
	return metav1.PatchOptions{FieldManager: FieldManager, DryRun: w.dryRunOpt()}
}

// UpdateOptions are the options of every UPDATE.
func (w *Writer) UpdateOptions() metav1.UpdateOptions {
	return metav1.UpdateOptions{FieldManager: FieldManager, DryRun: w.dryRunOpt()}
}

// CreateOptions are the options of every CREATE.
func (w *Writer) CreateOptions() metav1.CreateOptions {
	return metav1.CreateOptions{FieldManager: FieldManager, DryRun: w.dryRunOpt()}
}

// DeleteOptions are the options of every DELETE.
func (w *Writer) DeleteOptions() metav1.DeleteOptions {
	return metav1.DeleteOptions{DryRun: w.dryRunOpt()}
}

func (w *Writer) now() time.Time {
	if w != nil && w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Operation builds the record of a verb that moved an object from one state to another.
func (w *Writer) Operation(verb, from, to string) Operation {
	op := Operation{Verb: verb, From: from, To: to, Time: w.now().UTC().Truncate(time.Second)}
	if w != nil {
		op.User, op.Reason, op.Override = w.User, w.Reason, w.OverrideWindow
	}
	return op
}

// Annotation returns the LastOperationAnnotation value for an operation.
func (op Operation) Annotation() string {
	b, err := json.Marshal(op)
	if err != nil { // a struct of strings and a time always marshals
		return ""
	}
	return string(b)
}

// Message is a one-line human description of the operation, used as an Event message.
func (op Operation) Message() string {
	msg := op.Verb
	switch {
	case op.From != "" && op.To != "":
		msg += fmt.Sprintf(" from %s to %s", op.From, op.To)
	case op.To != "":
		msg += " to " + op.To
	}
	if op.User != "" {
		msg += " by " + op.User
	}
	if op.Reason != "" {
		msg += ": " + op.Reason
	}
	if op.Override != "" {
		msg += " (deployment window overridden: " + op.Override + ")"
	}
	return msg
}

// AnnotationPatch is a merge-patch fragment {"metadata":{"annotations":{...}}} that records op
// next to the given extra annotations (nil values delete). Callers merge it into the patch
// of the change itself, so the change and its record land in one request.
func AnnotationPatch(op Operation, extra map[string]*string) map[string]any {
	ann := map[string]any{LastOperationAnnotation: op.Annotation()}
	for k, v := range extra {
		if v == nil {
			ann[k] = nil
		} else {
			ann[k] = *v
		}
	}
	return map[string]any{"metadata": map[string]any{"annotations": ann}}
}

// Event creates a Normal (or Warning) Event on the object for the operation. It is best
// effort: a failure to record never fails the operation, so the error is returned for the
// caller to report as a warning. Nothing is sent in a dry run.
func (w *Writer) Event(ctx context.Context, client kubernetes.Interface, ref corev1.ObjectReference, eventType, reason string, op Operation) error {
	if !w.Live() {
		return nil
	}
	now := metav1.NewTime(w.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: ref.Name + ".",
			Namespace:    eventNamespace(ref),
		},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             op.Message(),
		Type:                eventType,
		Source:              corev1.EventSource{Component: EventSource},
		ReportingController: EventSource,
		ReportingInstance:   EventSource,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
	}
	if _, err := client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("record event %s on %s/%s: %w", reason, ref.Kind, ref.Name, err)
	}
	return nil
}

// Events of cluster-scoped objects (nodes) live in the default namespace, as kubectl's do.
func eventNamespace(ref corev1.ObjectReference) string {
	if ref.Namespace == "" {
		return metav1.NamespaceDefault
	}
	return ref.Namespace
}

// Ref builds the ObjectReference of an object for an Event.
func Ref(kind, apiVersion string, meta metav1.Object) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: kind, APIVersion: apiVersion, Namespace: meta.GetNamespace(), Name: meta.GetName(),
		UID: meta.GetUID(), ResourceVersion: meta.GetResourceVersion(),
	}
}
