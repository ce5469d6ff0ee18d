package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// WorkloadStateAnnotation on a Service records the release of its StatefulSet or DaemonSet:
// the revision the pods ran before, the weight and partition being set, the operation under
// way, the health baseline after the last step, and what pause replaced. It is written with
// a resourceVersion precondition before the first write to the workload and read back on
// every run, so that an interrupted run is completed by the next one and two concurrent runs
// cannot both act. (When the release-core record lands, readWorkloadState and
// recordWorkloadState are the two functions to point at it.)
const WorkloadStateAnnotation = "feastflow.dev/workload-state"

const (
	kindStatefulSet = "StatefulSet"
	kindDaemonSet   = "DaemonSet"

	// workloadBusy: an operation (Verb) was recorded and has not finished.
	workloadBusy = "in-progress"
	// workloadStaged: a partition canary stands at Weight, waiting for the next step.
	workloadStaged = "staged"
)

// workloadState is the JSON of WorkloadStateAnnotation.
type workloadState struct {
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
	// Phase is workloadBusy or workloadStaged; Verb the operation recorded.
	Phase string `json:"phase"`
	Verb  string `json:"verb"`
	// FromRevision is the ControllerRevision the pods ran before the release (abort returns
	// to it); FromImages and Images describe the two templates.
	FromRevision string `json:"fromRevision,omitempty"`
	FromImages   string `json:"fromImages,omitempty"`
	Images       string `json:"images,omitempty"`
	// Replicas is the StatefulSet's replicas when the step was planned; Weight and FromWeight
	// the percentage of pods on the new revision after and before it; Partition the
	// partition that gives Weight.
	Replicas   int32 `json:"replicas,omitempty"`
	FromWeight int   `json:"fromWeight"`
	Weight     int   `json:"weight"`
	Partition  int32 `json:"partition"`
	Forced     bool  `json:"forced,omitempty"`
	// Since and Restarts are the health baseline after the last completed step.
	Since    time.Time        `json:"since,omitempty"`
	Restarts map[string]int32 `json:"restarts,omitempty"`
	// Paused records what pause replaced: the StatefulSet's partition, or the DaemonSet's
	// update strategy (JSON), restored by resume.
	Paused *pausedWorkload `json:"paused,omitempty"`
}

// pausedWorkload is what pause replaced.
type pausedWorkload struct {
	Partition *int32          `json:"partition,omitempty"`
	Strategy  json.RawMessage `json:"strategy,omitempty"`
	At        time.Time       `json:"at"`
	By        string          `json:"by,omitempty"`
}

// readWorkloadState is the release recorded on the Service, nil when none (or unreadable:
// an annotation that does not parse is treated as absent and overwritten by the next write,
// which a resourceVersion precondition still guards).
func readWorkloadState(svc interface{ GetAnnotations() map[string]string }) *workloadState {
	raw, ok := svc.GetAnnotations()[WorkloadStateAnnotation]
	if !ok {
		return nil
	}
	var st workloadState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil
	}
	return &st
}

// stateFor is the recorded state when it is about this workload (same name and UID): a
// record left by a deleted and re-created StatefulSet of the same name is ignored.
func stateFor(c *Component, kind, name string, uid types.UID) *workloadState {
	st := readWorkloadState(c.Service)
	if st == nil || st.Kind != kind || st.Name != name || (st.UID != "" && uid != "" && st.UID != uid) {
		return nil
	}
	return st
}

func (st *workloadState) release() *WorkloadRelease {
	return &WorkloadRelease{Phase: st.Phase, Verb: st.Verb, Weight: st.Weight, Partition: st.Partition, FromRevision: st.FromRevision, Images: st.Images, Paused: st.Paused != nil}
}

// recordWorkloadState writes st on the Service with the last-operation record, in one merge
// patch preconditioned on the Service's resourceVersion as read: of two concurrent runs,
// the second fails here, before it writes to the workload. A nil st removes the record.
func recordWorkloadState(ctx context.Context, env *Env, c *Component, st *workloadState, op audit.Operation) error {
	value, err := stateValue(st)
	if err != nil {
		return err
	}
	return patchWorkloadState(ctx, env, c, audit.AnnotationPatch(op, map[string]*string{WorkloadStateAnnotation: value}))
}

// saveWorkloadState updates the record after a write of this run (a step done, the
// baseline taken), preconditioned like recordWorkloadState on the Service read last.
func saveWorkloadState(ctx context.Context, env *Env, c *Component, st *workloadState) error {
	value, err := stateValue(st)
	if err != nil {
		return err
	}
	return patchWorkloadState(ctx, env, c, map[string]any{"metadata": map[string]any{"annotations": map[string]any{WorkloadStateAnnotation: value}}})
}

func stateValue(st *workloadState) (*string, error) {
	if st == nil {
		return nil, nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode workload state: %w", err)
	}
	s := string(raw)
	return &s, nil
}

// patchWorkloadState sends a merge patch of the Service with its resourceVersion as the
// precondition (nothing in a dry run: the record is what makes a real run resumable).
func patchWorkloadState(ctx context.Context, env *Env, c *Component, body map[string]any) error {
	if !env.Writer.Live() {
		return nil
	}
	body["metadata"].(map[string]any)["resourceVersion"] = c.Service.ResourceVersion
	patch, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	svc, err := env.Client.CoreV1().Services(c.Namespace()).Patch(ctx, c.Name(), types.MergePatchType, patch, env.Writer.PatchOptions())
	if apierrors.IsConflict(err) {
		return &ConflictError{Object: fmt.Sprintf("service %s/%s (its release record %s)", c.Namespace(), c.Name(), WorkloadStateAnnotation), Err: err}
	}
	if err != nil {
		return writeError("patch", "service", c.Namespace(), c.Name(), err)
	}
	c.Service = svc
	return nil
}
