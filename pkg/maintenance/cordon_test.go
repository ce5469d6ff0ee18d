package maintenance

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

var fixedNow = time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)

func writer(mode audit.DryRun) *audit.Writer {
	return &audit.Writer{User: "alice", Reason: "kernel upgrade", DryRun: mode, Now: func() time.Time { return fixedNow }}
}

func getNode(t *testing.T, c interface {
	Tracker() k8stesting.ObjectTracker
}, name string) *corev1.Node {
	t.Helper()
	obj, err := c.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Node)
}

func TestCordonRecordsAndIsIdempotent(t *testing.T) {
	c := newClient(node("n1"))
	res, err := Cordon(context.Background(), c, CordonOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}, Writer: writer(audit.DryRunNone)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].Action != ActionCordoned || res.Nodes[0].Message != "node n1 cordoned" {
		t.Errorf("change = %+v", res.Nodes[0])
	}
	n := getNode(t, c, "n1")
	if !n.Spec.Unschedulable {
		t.Error("node not unschedulable")
	}
	want := map[string]string{
		AnnotationCordonedBy: "alice", AnnotationCordonedAt: "2026-11-26T01:02:03Z",
		AnnotationCordonReason: "kernel upgrade", AnnotationWasUnschedulable: "false",
	}
	for k, v := range want {
		if n.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, n.Annotations[k], v)
		}
	}
	op, ok := audit.ParseOperation(n.Annotations)
	if !ok || op.Verb != "cordon" || op.User != "alice" {
		t.Errorf("last operation = %+v", op)
	}
	if got := actions(c); !equalCounts(got, map[string]int{"list nodes": 1, "patch nodes": 1, "create events": 1}) {
		t.Errorf("requests = %v", got)
	}
	// The patch carries the resourceVersion it was computed from.
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			var body map[string]map[string]any
			_ = json.Unmarshal(p.GetPatch(), &body)
			if body["metadata"]["resourceVersion"] != "1" {
				t.Errorf("patch without precondition: %s", p.GetPatch())
			}
		}
	}

	c.ClearActions()
	res, err = Cordon(context.Background(), c, CordonOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}, Writer: writer(audit.DryRunNone)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].Action != ActionAlreadyCordoned {
		t.Errorf("second cordon = %+v", res.Nodes[0])
	}
	if got := actions(c); !equalCounts(got, map[string]int{"list nodes": 1}) {
		t.Errorf("re-run requests = %v, want only the list", got)
	}
}

func TestUncordon(t *testing.T) {
	ours := func(pre string) func(*corev1.Node) {
		return func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			n.Annotations = map[string]string{AnnotationCordonedBy: "bob", AnnotationCordonedAt: "2026-11-25T00:00:00Z", AnnotationWasUnschedulable: pre}
		}
	}
	tests := []struct {
		name          string
		node          *corev1.Node
		force         bool
		wantAction    string
		wantCordoned  bool
		wantPatches   int
		wantOurRecord bool
	}{
		{"plugin cordon is lifted", node("n1", ours("false")), false, ActionUncordoned, false, 1, false},
		{"pre-existing cordon stays", node("n1", ours("true")), false, ActionKeptCordoned, true, 1, false},
		{"pre-existing cordon lifted with --force", node("n1", ours("true")), true, ActionUncordoned, false, 1, false},
		{"foreign cordon stays", node("n1", cordoned), false, ActionKeptCordoned, true, 0, false},
		{"foreign cordon lifted with --force", node("n1", cordoned), true, ActionUncordoned, false, 1, false},
		{"schedulable node untouched", node("n1"), false, ActionAlreadySchedulable, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(tt.node)
			res, err := Uncordon(context.Background(), c, CordonOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}, Writer: writer(audit.DryRunNone), Force: tt.force})
			if err != nil {
				t.Fatal(err)
			}
			if res.Nodes[0].Action != tt.wantAction {
				t.Errorf("action = %s (%s), want %s", res.Nodes[0].Action, res.Nodes[0].Message, tt.wantAction)
			}
			n := getNode(t, c, "n1")
			if n.Spec.Unschedulable != tt.wantCordoned {
				t.Errorf("unschedulable = %v, want %v", n.Spec.Unschedulable, tt.wantCordoned)
			}
			if _, ok := n.Annotations[AnnotationCordonedBy]; ok != tt.wantOurRecord {
				t.Errorf("cordoned-by present = %v", ok)
			}
			if got := actions(c)["patch nodes"]; got != tt.wantPatches {
				t.Errorf("patches = %d, want %d", got, tt.wantPatches)
			}
		})
	}
}

func TestCordonDryRuns(t *testing.T) {
	c := newClient(node("n1"))
	res, err := Cordon(context.Background(), c, CordonOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}, Writer: writer(audit.DryRunClient)})
	if err != nil {
		t.Fatal(err)
	}
	if res.DryRun != audit.DryRunClient || !strings.HasSuffix(res.Nodes[0].Message, "(dry run)") {
		t.Errorf("result = %+v", res)
	}
	if got := actions(c); !equalCounts(got, map[string]int{"list nodes": 1}) {
		t.Errorf("client dry run sent %v", got)
	}

	c = newClient(node("n1"))
	var dryRun []string
	c.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		dryRun = a.(k8stesting.PatchActionImpl).PatchOptions.DryRun
		return true, node("n1"), nil
	})
	if _, err := Cordon(context.Background(), c, CordonOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}, Writer: writer(audit.DryRunServer)}); err != nil {
		t.Fatal(err)
	}
	if len(dryRun) != 1 || dryRun[0] != metav1.DryRunAll {
		t.Errorf("server dry run patch options dryRun = %v", dryRun)
	}
	if actions(c)["create events"] != 0 {
		t.Error("dry run recorded an event")
	}
}

func TestCordonConflictRetries(t *testing.T) {
	c := newClient(node("n1"))
	conflicts := 1
	c.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "n1", nil)
		}
		return false, nil, nil
	})
	res, err := Cordon(context.Background(), c, CordonOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}, Writer: writer(audit.DryRunNone)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].Action != ActionCordoned {
		t.Errorf("change = %+v", res.Nodes[0])
	}
	if got := actions(c); got["patch nodes"] != 2 || got["get nodes"] != 1 {
		t.Errorf("requests = %v, want 2 patches and a re-read", got)
	}
}
