package maintenance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// StatusOptions select the nodes to report; empty means every node under maintenance.
type StatusOptions struct {
	NodeSelection
}

// NodeStatus is one node under maintenance.
type NodeStatus struct {
	Name          string `json:"name"`
	Unschedulable bool   `json:"unschedulable"`
	// CordonedByPlugin is set when kubectl feastflow recorded the cordon.
	CordonedByPlugin bool `json:"cordonedByPlugin"`
	// WasUnschedulable: the node was cordoned before the plugin cordoned it.
	WasUnschedulable bool         `json:"wasUnschedulable,omitempty"`
	By               string       `json:"by,omitempty"`
	Since            *metav1.Time `json:"since,omitempty"`
	Reason           string       `json:"reason,omitempty"`
	// DrainStartedAt and DrainPods are recorded by drain; Progress compares DrainPods with
	// the pods left.
	DrainStartedAt *metav1.Time `json:"drainStartedAt,omitempty"`
	DrainPods      int          `json:"drainPods,omitempty"`
	Progress       string       `json:"progress,omitempty"`
	// Phase is the drain phase recorded on the node (Drained: recorded Evicting, no pod left).
	Phase DrainPhase `json:"phase,omitempty"`
	// PhaseMessage is what the drain recorded with a Failed phase.
	PhaseMessage string `json:"phaseMessage,omitempty"`
	// PodsLeft are the pods a drain would still evict (DaemonSet and mirror pods excluded).
	PodsLeft []string `json:"podsLeft"`
}

// StatusResult lists the nodes under maintenance.
type StatusResult struct {
	metav1.TypeMeta `json:",inline"`
	Nodes           []NodeStatus `json:"nodes"`
	// Pool sums up the recorded drain phases of the selected nodes (with NODE... or -l).
	Pool *PoolProgress `json:"pool,omitempty"`
}

// Status reports the nodes that are unschedulable or carry the plugin's cordon records: who
// cordoned them, since when, why, the pods still on them and the drain's progress. One LIST
// of nodes and one of pods.
func Status(ctx context.Context, client kubernetes.Interface, opts StatusOptions) (*StatusResult, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var names []string
	explicit := len(opts.Nodes) > 0 || opts.Selector != ""
	if explicit {
		if names, err = selectNodes(nodes.Items, opts.NodeSelection); err != nil {
			return nil, err
		}
	} else {
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if n.Spec.Unschedulable || n.Annotations[AnnotationCordonedBy] != "" {
				names = append(names, n.Name)
			}
		}
		sort.Strings(names)
	}
	res := &StatusResult{TypeMeta: report.TypeMeta("MaintenanceStatus"), Nodes: []NodeStatus{}}
	if len(names) == 0 {
		return res, nil
	}
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	left := map[string][]string{}
	for i := range pods.Items {
		p := &pods.Items[i]
		pp := classify(p, PlanOptions{IgnoreDaemonSets: true, DeleteEmptyDirData: true, Force: true})
		if pp.Action == ActionSkip || pp.has(ReasonFinished) {
			continue
		}
		left[p.Spec.NodeName] = append(left[p.Spec.NodeName], podKey(p))
	}
	for _, name := range names {
		var node *corev1.Node
		for i := range nodes.Items {
			if nodes.Items[i].Name == name {
				node = &nodes.Items[i]
			}
		}
		res.Nodes = append(res.Nodes, nodeStatus(node, left[name]))
	}
	if explicit {
		res.Pool = &PoolProgress{Nodes: len(res.Nodes), Phases: map[DrainPhase]int{}}
		for _, n := range res.Nodes {
			phase := n.Phase
			if phase == "" {
				phase = "NotStarted"
			}
			res.Pool.Phases[phase]++
		}
	}
	return res, nil
}

func nodeStatus(n *corev1.Node, left []string) NodeStatus {
	sort.Strings(left)
	ann := n.Annotations
	st := NodeStatus{Name: n.Name, Unschedulable: n.Spec.Unschedulable, PodsLeft: left}
	if st.PodsLeft == nil {
		st.PodsLeft = []string{}
	}
	if by := ann[AnnotationCordonedBy]; by != "" {
		st.CordonedByPlugin = true
		st.By = by
		st.Reason = ann[AnnotationCordonReason]
		st.WasUnschedulable = ann[AnnotationWasUnschedulable] == "true"
		st.Since = parseTime(ann[AnnotationCordonedAt])
	} else {
		// A cordon from elsewhere: the node lifecycle controller's taint tells since when,
		// and the last operation (if the plugin recorded one) who.
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeUnschedulable && t.TimeAdded != nil {
				st.Since = t.TimeAdded.DeepCopy()
			}
		}
		if op, ok := audit.ParseOperation(ann); ok && op.Verb == "cordon" {
			st.By, st.Reason = op.User, op.Reason
		}
	}
	if rec := readDrainState(n); rec != nil {
		st.Phase, st.PhaseMessage = rec.Phase, rec.Message
		if rec.Phase == PhaseCordoned {
			switch n, err := strconv.Atoi(ann[AnnotationDrainPods]); {
			case len(left) == 0:
				st.Phase = PhaseDrained
			case err == nil && len(left) < n:
				st.Phase = PhaseEvicting
			}
		}
	}
	st.DrainStartedAt = parseTime(ann[AnnotationDrainStartedAt])
	if n, err := strconv.Atoi(ann[AnnotationDrainPods]); err == nil && st.DrainStartedAt != nil {
		st.DrainPods = n
		done := max(n-len(left), 0)
		st.Progress = fmt.Sprintf("%d/%d evicted", done, n)
		if len(left) == 0 {
			st.Progress = "drained"
		}
	}
	return st
}

func parseTime(s string) *metav1.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}
