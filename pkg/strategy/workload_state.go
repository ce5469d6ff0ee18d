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

// WorkloadStateAnnotation is where older versions recorded the release of a StatefulSet
// or DaemonSet. It is now the Workload part of the release record (ReleaseAnnotation): read
// once when the Service has no workload record yet, removed by the first write.
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
	// Held is the partition pause set (StatefulSet); Images and Template the images and
	// template digest when paused: resume names a change made since.
	Held     *int32    `json:"held,omitempty"`
	Images   string    `json:"images,omitempty"`
	Template string    `json:"template,omitempty"`
	At       time.Time `json:"at"`
	By       string    `json:"by,omitempty"`
}

// readWorkloadState is the StatefulSet/DaemonSet release in the component's release
// record, nil when none. A Service still carrying the older WorkloadStateAnnotation (and no
// workload part in its record) is migrated in memory; the next write stores it in the record
// and removes the annotation. A record that cannot be read gives nil here: the next write
// refuses it (ReleaseError).
func readWorkloadState(c *Component) *workloadState {
	if rec, err := c.Release(); err == nil && rec.Workload != nil {
		return rec.Workload
	}
	return legacyWorkloadState(c.Service.Annotations)
}

// legacyWorkloadState parses WorkloadStateAnnotation (nil when absent or unreadable: it is
// overwritten by the next write, which a resourceVersion precondition still guards).
func legacyWorkloadState(ann map[string]string) *workloadState {
	raw, ok := ann[WorkloadStateAnnotation]
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
	st := readWorkloadState(c)
	if st == nil || st.Kind != kind || st.Name != name || (st.UID != "" && uid != "" && st.UID != uid) {
		return nil
	}
	return st
}

func (st *workloadState) release() *WorkloadRelease {
	return &WorkloadRelease{Phase: st.Phase, Verb: st.Verb, Weight: st.Weight, Partition: st.Partition, FromRevision: st.FromRevision, Images: st.Images, Paused: st.Paused != nil}
}

// recordWorkloadState writes st into the component's release record on the Service, with
// the last-operation record, in one merge patch preconditioned on the Service's
// resourceVersion as read: of two concurrent runs, the second fails here, before it writes
// to the workload. A nil st ends the workload's release.
func recordWorkloadState(ctx context.Context, env *Env, c *Component, st *workloadState, op audit.Operation) error {
	return writeWorkloadState(ctx, env, c, st, &op)
}

// saveWorkloadState updates the record after a write of this run (a step done, the
// baseline taken), preconditioned like recordWorkloadState on the Service read last.
func saveWorkloadState(ctx context.Context, env *Env, c *Component, st *workloadState) error {
	return writeWorkloadState(ctx, env, c, st, nil)
}

// writeWorkloadState stores st as the Workload part of the release record (writeRelease:
// one merge patch with the Service's resourceVersion as precondition; nothing in a dry run:
// the record is what makes a real run resumable, and a dry run plans from the one read).
// The record's phase, weight and operation say the same for the readers
// of the whole record: an operation under way (busy), a canary at a weight (staged), or
// nothing under way (st nil).
func writeWorkloadState(ctx context.Context, env *Env, c *Component, st *workloadState, op *audit.Operation) error {
	if !env.Writer.Live() {
		return nil
	}
	cur, err := c.Release()
	if err != nil {
		return err
	}
	if st == nil && cur.Workload == nil && legacyWorkloadState(c.Service.Annotations) == nil {
		return nil // nothing recorded, nothing to end
	}
	rec := cur.clone()
	rec.Strategy, rec.Workload, rec.Operation, rec.Weight, rec.Step = c.Strategy, st, nil, nil, 0
	rec.Phase, rec.MigratedFrom = PhaseDeployed, nil
	if st != nil {
		w := st.Weight
		rec.Weight = &w
		if st.Phase == workloadStaged {
			rec.Phase = PhaseCanary
		}
		if st.Phase == workloadBusy {
			started := rec.begin(env, st.Verb, fmt.Sprintf("%d%%", st.FromWeight), fmt.Sprintf("%d%%", st.Weight))
			if cur.Operation != nil && cur.Operation.Verb == st.Verb {
				started.Start = cur.Operation.Start
			}
			started.FromWeight, started.Weight, started.Forced = st.FromWeight, st.Weight, st.Forced
		}
	}
	err = writeRelease(ctx, env, c, rec, op, "")
	var ce *ConflictError
	if asConflict(err, &ce) {
		return &ConflictError{Object: ce.Object + " (its release record " + ReleaseAnnotation + ")", Err: ce.Err}
	}
	return err
}

// recordedBefore is the part of the Service a release operation's first record replaced:
// its release record and last operation as they were (absent: ""), kept to take them back
// when the operation's first write to the workload is refused.
type recordedBefore struct{ release, last string }

func recordBefore(c *Component) recordedBefore {
	return recordedBefore{release: c.Service.Annotations[ReleaseAnnotation], last: c.Service.Annotations[audit.LastOperationAnnotation]}
}

// firstWriteFailed ends an operation whose first write to the workload failed after its
// record was written. When the API server refused the write outright (forbidden, invalid,
// not found, conflict), nothing of the operation happened: the record is taken back (the
// previous release record and last operation, preconditioned on the Service as this run
// wrote it), so that status and the next verb never see an operation that did not happen.
// Any other error (a timeout, a lost connection) may hide a write that landed: the record
// stays, and rerun says how to continue.
func firstWriteFailed(ctx context.Context, env *Env, c *Component, before recordedBefore, err error, rerun string) error {
	_, err = takeBackOnRefusal(ctx, env, c, before, err, rerun)
	return err
}

// takeBackOnRefusal is firstWriteFailed that also says whether the record was restored.
func takeBackOnRefusal(ctx context.Context, env *Env, c *Component, before recordedBefore, err error, rerun string) (restored bool, _ error) {
	if !refusedOutright(err) || !env.Writer.Live() {
		return false, fmt.Errorf("%w (the release is recorded on service/%s: %s)", err, c.Name(), rerun)
	}
	if terr := takeBackRecord(ctx, env, c, before); terr != nil {
		return false, fmt.Errorf("%w; nothing changed on the workload, but the release record written before it could not be taken back (%v): it names an operation that did not happen; re-run when the cause is fixed", err, terr)
	}
	return true, fmt.Errorf("%w; "+recordRestored, err)
}

// recordRestored ends the error of an operation whose record was taken back.
const recordRestored = "nothing changed (the release record was restored)"

// takeBackRecord restores the release record and last operation as they were before this
// run's record, preconditioned on the Service as this run wrote it.
func takeBackRecord(ctx context.Context, env *Env, c *Component, before recordedBefore) error {
	value := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": c.Service.ResourceVersion,
		"annotations":     map[string]any{ReleaseAnnotation: value(before.release), audit.LastOperationAnnotation: value(before.last)},
	}})
	if err != nil {
		return err
	}
	_, err = env.Client.CoreV1().Services(c.Namespace()).Patch(ctx, c.Name(), types.MergePatchType, patch, env.Writer.PatchOptions())
	return err
}

// refusedOutright reports an API answer that says the write was not applied.
func refusedOutright(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsBadRequest(err) || apierrors.IsUnauthorized(err)
}
