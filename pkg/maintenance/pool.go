package maintenance

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// AnnotationDrainState is where a drain records, on each node, how far the node got: the
// phase and, before the first eviction, how many Ready pods each evicted pod's controller had.
// A re-run (after Ctrl-C, a crash, a timeout) reads it back instead of guessing: a node whose
// replacements were not Ready yet is waited for with the numbers recorded before its pods
// left, not with what is Ready now.
const AnnotationDrainState = "feastflow.dev/drain-state"

// DrainPhase is how far the drain of one node got, as recorded on the node.
type DrainPhase string

// The drain phases, in order.
const (
	// PhaseCordoned: recorded with the drain's cordon, before the first eviction, with Want.
	PhaseCordoned DrainPhase = "Cordoned"
	// PhaseEvicting and PhaseDrained are never recorded: status shows them for a Cordoned
	// node with some, or all, of its pods gone.
	PhaseEvicting DrainPhase = "Evicting"
	PhaseDrained  DrainPhase = "Drained"
	// PhaseReplacementsReady: the evicted pods' controllers have their Ready pods back elsewhere.
	PhaseReplacementsReady DrainPhase = "ReplacementsReady"
	// PhaseFailed: the node could not be drained, or its replacements did not come up.
	PhaseFailed DrainPhase = "Failed"
)

// DrainState is the JSON recorded in AnnotationDrainState.
type DrainState struct {
	Phase DrainPhase `json:"phase"`
	// Want maps the UID of each evicted pod's controller to the Ready pods it had before the
	// node's first eviction, with its name for people.
	Want    map[string]WantReady `json:"want,omitempty"`
	Message string               `json:"message,omitempty"`
	At      time.Time            `json:"at"`
}

// WantReady is one controller's Ready pods before the drain.
type WantReady struct {
	Owner string `json:"owner"`
	Ready int    `json:"ready"`
}

// readDrainState returns the state recorded on the node, or nil.
func readDrainState(n *corev1.Node) *DrainState {
	if n == nil || n.Annotations[AnnotationDrainState] == "" {
		return nil
	}
	var st DrainState
	if err := json.Unmarshal([]byte(n.Annotations[AnnotationDrainState]), &st); err != nil || st.Phase == "" {
		return nil
	}
	return &st
}

// recordDrainState writes the node's drain state (a merge patch of the one annotation, which
// only drains write). A dry run records nothing.
func recordDrainState(ctx context.Context, client kubernetes.Interface, w *audit.Writer, node string, st *DrainState) error {
	if !w.Live() {
		return nil
	}
	st.At = time.Now().UTC().Truncate(time.Second)
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationDrainState: string(b)}}})
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, w.PatchOptions()); err != nil {
		return fmt.Errorf("record drain state on node %s: %w", node, err)
	}
	return nil
}

// recordedWant is the Want a node's drain works with: the one recorded by an unfinished earlier
// drain, else counted now.
func recordedWant(rec *DrainState, np *NodePlan, pods []corev1.Pod) map[string]WantReady {
	if rec != nil && rec.Phase != PhaseReplacementsReady && rec.Want != nil {
		return rec.Want
	}
	return wantReady(np, pods)
}

// wantReady counts, for the controllers of the pods a node's drain evicts, their Ready pods
// in the inventory (read before the first eviction).
func wantReady(np *NodePlan, pods []corev1.Pod) map[string]WantReady {
	want := map[string]WantReady{}
	for _, pp := range np.ToEvict() {
		if pp.ownerUID != "" && !pp.has(ReasonFinished) {
			want[pp.ownerUID] = WantReady{Owner: pp.Namespace + "/" + pp.Owner}
		}
	}
	for i := range pods {
		p := &pods[i]
		if ref := metav1.GetControllerOf(p); ref != nil && p.DeletionTimestamp == nil && podutils.IsPodReady(p) {
			if w, ok := want[string(ref.UID)]; ok {
				w.Ready++
				want[string(ref.UID)] = w
			}
		}
	}
	return want
}

// PoolProgress sums up the recorded phases of a pool's nodes.
type PoolProgress struct {
	Nodes int `json:"nodes"`
	// Phases counts nodes per recorded phase; NotStarted counts those with none.
	Phases map[DrainPhase]int `json:"phases"`
}

// String is "12 nodes: 4 ReplacementsReady, 1 Evicting, 7 not started".
func (p PoolProgress) String() string {
	s := fmt.Sprintf("%d node(s)", p.Nodes)
	var keys []string
	for k := range p.Phases {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(", %d %s", p.Phases[DrainPhase(k)], k)
	}
	return s
}
