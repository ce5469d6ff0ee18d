package maintenance

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// The annotations a cordon by the plugin leaves on the node, so that a second person sees who
// cordoned it, when and why, and uncordon can tell the plugin's cordon from someone else's.
const (
	AnnotationCordonedBy       = "feastflow.dev/cordoned-by"
	AnnotationCordonedAt       = "feastflow.dev/cordoned-at"
	AnnotationCordonReason     = "feastflow.dev/cordon-reason"
	AnnotationWasUnschedulable = "feastflow.dev/was-unschedulable"
	// AnnotationDrainStartedAt and AnnotationDrainPods are written by drain with its cordon (in
	// the same patch): status computes progress from them and the pods left.
	AnnotationDrainStartedAt = "feastflow.dev/drain-started-at"
	AnnotationDrainPods      = "feastflow.dev/drain-pods"
)

var cordonAnnotations = []string{AnnotationCordonedBy, AnnotationCordonedAt, AnnotationCordonReason,
	AnnotationWasUnschedulable, AnnotationDrainStartedAt, AnnotationDrainPods, AnnotationDrainState}

// CordonOptions select the nodes to cordon or uncordon.
type CordonOptions struct {
	NodeSelection
	// Writer carries user, reason and dry run; required.
	Writer *audit.Writer
	// Force makes uncordon lift cordons the plugin did not set.
	Force bool
}

// NodeChange is what cordon or uncordon did to one node.
type NodeChange struct {
	Node string `json:"node"`
	// Action: Cordoned, AlreadyCordoned, Uncordoned, AlreadySchedulable, KeptCordoned.
	Action  string `json:"action"`
	Message string `json:"message"`
	// WasUnschedulable is set when the node was cordoned before the plugin cordoned it.
	WasUnschedulable bool `json:"wasUnschedulable,omitempty"`
	// Warning is a best-effort failure (the Event) that did not fail the change.
	Warning string `json:"warning,omitempty"`
}

// The node change actions.
const (
	ActionCordoned           = "Cordoned"
	ActionAlreadyCordoned    = "AlreadyCordoned"
	ActionUncordoned         = "Uncordoned"
	ActionAlreadySchedulable = "AlreadySchedulable"
	ActionKeptCordoned       = "KeptCordoned"
)

// CordonResult is the result of cordon and uncordon.
type CordonResult struct {
	metav1.TypeMeta `json:",inline"`
	DryRun          audit.DryRun `json:"dryRun,omitempty"`
	Nodes           []NodeChange `json:"nodes"`
}

// Cordon marks the selected nodes unschedulable and records on each who did it, when, why
// and whether it was cordoned already. A node the plugin cordoned already is left alone.
func Cordon(ctx context.Context, client kubernetes.Interface, opts CordonOptions) (*CordonResult, error) {
	return changeNodes(ctx, client, opts, "CordonResult", func(ctx context.Context, n *corev1.Node) (NodeChange, error) {
		return cordonNode(ctx, client, opts.Writer, n, nil)
	})
}

// Uncordon makes the selected nodes schedulable again, but only where the plugin cordoned
// them: a cordon that was there before (or set by someone else) stays unless Force.
func Uncordon(ctx context.Context, client kubernetes.Interface, opts CordonOptions) (*CordonResult, error) {
	return changeNodes(ctx, client, opts, "UncordonResult", func(ctx context.Context, n *corev1.Node) (NodeChange, error) {
		return uncordonNode(ctx, client, opts.Writer, n, opts.Force)
	})
}

func changeNodes(ctx context.Context, client kubernetes.Interface, opts CordonOptions, kind string, change func(context.Context, *corev1.Node) (NodeChange, error)) (*CordonResult, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	names, err := selectNodes(nodes.Items, opts.NodeSelection)
	if err != nil {
		return nil, err
	}
	res := &CordonResult{TypeMeta: report.TypeMeta(kind), Nodes: []NodeChange{}}
	if opts.Writer != nil && !opts.Writer.Live() {
		res.DryRun = opts.Writer.DryRun
	}
	for _, name := range names {
		var node *corev1.Node
		for i := range nodes.Items {
			if nodes.Items[i].Name == name {
				node = &nodes.Items[i]
			}
		}
		c, err := change(ctx, node)
		if err != nil {
			return res, err
		}
		res.Nodes = append(res.Nodes, c)
	}
	return res, nil
}

// drainMark is what drain adds to its cordon patch.
type drainMark struct {
	pods  int
	state *DrainState
}

// cordonNode cordons one node with a merge patch that carries the node's resourceVersion: the
// apiserver rejects it with a conflict if the node changed since it was read (someone else
// cordoned or uncordoned it meanwhile), and the node is re-read and judged again.
func cordonNode(ctx context.Context, client kubernetes.Interface, w *audit.Writer, node *corev1.Node, mark *drainMark) (NodeChange, error) {
	var change NodeChange
	current := node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if current == nil {
			fresh, err := client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			current = fresh
		}
		n := current
		current = nil // a conflict re-reads the node
		ann := n.Annotations
		ours := ann[AnnotationCordonedBy] != ""
		change = NodeChange{Node: n.Name, WasUnschedulable: n.Spec.Unschedulable && (!ours || ann[AnnotationWasUnschedulable] == "true")}
		if n.Spec.Unschedulable && ours && (mark == nil || ann[AnnotationDrainStartedAt] != "") {
			change.Action = ActionAlreadyCordoned
			change.Message = fmt.Sprintf("node %s already cordoned by %s at %s", n.Name, ann[AnnotationCordonedBy], ann[AnnotationCordonedAt])
			return nil
		}
		op := w.Operation("cordon", "schedulable", "unschedulable")
		if n.Spec.Unschedulable && !ours {
			op.From = "unschedulable"
		}
		extra := map[string]*string{}
		set := func(k, v string) { extra[k] = &v }
		if !ours {
			set(AnnotationCordonedBy, orUnknown(op.User))
			set(AnnotationCordonedAt, op.Time.Format(time.RFC3339))
			set(AnnotationWasUnschedulable, strconv.FormatBool(n.Spec.Unschedulable))
			if op.Reason != "" {
				set(AnnotationCordonReason, op.Reason)
			}
		}
		if mark != nil {
			set(AnnotationDrainStartedAt, op.Time.Format(time.RFC3339))
			set(AnnotationDrainPods, strconv.Itoa(mark.pods))
			if mark.state != nil {
				mark.state.At = op.Time.UTC()
				if b, err := json.Marshal(mark.state); err == nil {
					set(AnnotationDrainState, string(b))
				}
			}
		}
		body := audit.AnnotationPatch(op, extra)
		body["metadata"].(map[string]any)["resourceVersion"] = n.ResourceVersion
		body["spec"] = map[string]any{"unschedulable": true}
		change.Action = ActionCordoned
		change.Message = "node " + n.Name + " cordoned"
		if n.Spec.Unschedulable {
			change.Message = "node " + n.Name + " was cordoned already; recorded"
		}
		if w.Client() {
			change.Message += " (dry run)"
			return nil
		}
		out, err := patchNode(ctx, client, w, n.Name, body)
		if err != nil {
			return err
		}
		if w.DryRun == audit.DryRunServer {
			change.Message += " (server dry run)"
		}
		if err := w.Event(ctx, client, audit.Ref("Node", "v1", out), corev1.EventTypeNormal, "Cordoned", op); err != nil {
			change.Warning = err.Error()
		}
		return nil
	})
	if err != nil {
		return change, cordonError("cordon", node.Name, err)
	}
	return change, nil
}

// uncordonNode lifts the plugin's cordon. The annotations tell whether the node was cordoned
// before the plugin touched it; then the cordon stays (its owner lifts it) unless force.
func uncordonNode(ctx context.Context, client kubernetes.Interface, w *audit.Writer, node *corev1.Node, force bool) (NodeChange, error) {
	var change NodeChange
	current := node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if current == nil {
			fresh, err := client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			current = fresh
		}
		n := current
		current = nil
		ann := n.Annotations
		ours := ann[AnnotationCordonedBy] != ""
		pre := ann[AnnotationWasUnschedulable] == "true"
		change = NodeChange{Node: n.Name, WasUnschedulable: n.Spec.Unschedulable && (!ours || pre)}
		extra := map[string]*string{}
		if ours {
			for _, k := range cordonAnnotations {
				extra[k] = nil
			}
		}
		body := map[string]any{}
		var op audit.Operation
		switch {
		case !n.Spec.Unschedulable && !ours:
			change.Action = ActionAlreadySchedulable
			change.Message = "node " + n.Name + " already schedulable"
			return nil
		case !n.Spec.Unschedulable:
			// Someone uncordoned it by hand; only our records are left to clean.
			op = w.Operation("uncordon", "schedulable", "schedulable")
			change.Action = ActionAlreadySchedulable
			change.Message = "node " + n.Name + " already schedulable; cordon records removed"
		case (!ours || pre) && !force:
			if !ours {
				change.Action = ActionKeptCordoned
				change.Message = fmt.Sprintf("node %s kept cordoned: it was not cordoned by kubectl feastflow (use --force to uncordon it anyway)", n.Name)
				return nil
			}
			op = w.Operation("uncordon", "unschedulable", "unschedulable")
			change.Action = ActionKeptCordoned
			change.Message = fmt.Sprintf("node %s kept cordoned: it was cordoned before kubectl feastflow cordoned it (use --force to uncordon it anyway); cordon records removed", n.Name)
		default:
			op = w.Operation("uncordon", "unschedulable", "schedulable")
			body["spec"] = map[string]any{"unschedulable": false}
			change.Action = ActionUncordoned
			change.Message = "node " + n.Name + " uncordoned"
		}
		for k, v := range audit.AnnotationPatch(op, extra) {
			body[k] = v
		}
		body["metadata"].(map[string]any)["resourceVersion"] = n.ResourceVersion
		if w.Client() {
			change.Message += " (dry run)"
			return nil
		}
		out, err := patchNode(ctx, client, w, n.Name, body)
		if err != nil {
			return err
		}
		if w.DryRun == audit.DryRunServer {
			change.Message += " (server dry run)"
		}
		reason := "Uncordoned"
		if change.Action != ActionUncordoned {
			reason = "CordonRecordsRemoved"
		}
		if err := w.Event(ctx, client, audit.Ref("Node", "v1", out), corev1.EventTypeNormal, reason, op); err != nil {
			change.Warning = err.Error()
		}
		return nil
	})
	if err != nil {
		return change, cordonError("uncordon", node.Name, err)
	}
	return change, nil
}

func patchNode(ctx context.Context, client kubernetes.Interface, w *audit.Writer, name string, body map[string]any) (*corev1.Node, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, data, w.PatchOptions())
}

func cordonError(verb, node string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s node %s: forbidden: the user may not patch nodes (grant patch on nodes, e.g. deploy/rbac's maintenance role): %w", verb, node, err)
	}
	return fmt.Errorf("%s node %s: %w", verb, node, err)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
