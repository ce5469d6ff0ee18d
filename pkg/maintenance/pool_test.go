package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/progress"
)

// A pool rolls one node at a time; the first node that cannot be drained stops it: the
// nodes after it are cordoned (as kubectl does up front) but none of their pods is evicted.
func TestPoolStopsAtTheFirstFailedNode(t *testing.T) {
	c := newClient(node("p1"), node("p2"), node("p3"), node("spare"),
		pod("app", "a", "p1", ownedBy("ReplicaSet", "web")),
		pod("app", "b", "p2", ownedBy("ReplicaSet", "web")),
		pod("app", "c", "p3", ownedBy("ReplicaSet", "web")))
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "eviction" && a.(k8stesting.CreateAction).GetObject().(interface{ GetName() string }).GetName() == "b" {
			return true, nil, errors.New("admission webhook denied the eviction")
		}
		return false, nil, nil
	})
	opts := drainOpts("p1", "p2", "p3")
	res, err := Drain(context.Background(), c, opts, nil)
	if err == nil || !strings.Contains(err.Error(), "node p2") {
		t.Fatalf("err = %v", err)
	}
	states := []NodeState{res.Nodes[0].State, res.Nodes[1].State, res.Nodes[2].State}
	if states[0] != NodeDrained || states[1] != NodeFailed || states[2] != NodeNotStarted {
		t.Fatalf("states = %v", states)
	}
	if !strings.Contains(res.Nodes[2].Message, "stopped at node p2") {
		t.Errorf("p3 message = %q", res.Nodes[2].Message)
	}
	if n := evictions(c); n != 2 {
		t.Errorf("evictions = %d, want 2 (p1's and the refused one of p2)", n)
	}
	st := readDrainState(getNode(t, c, "p2"))
	if st == nil || st.Phase != PhaseFailed {
		t.Errorf("p2 drain state = %+v, want Failed recorded", st)
	}
}

// The numbers the replacements must reach are recorded with the cordon and read back by a
// re-run, not recounted from what is Ready after the pods left.
func TestPoolRerunWaitsWithRecordedNumbers(t *testing.T) {
	rec, _ := json.Marshal(DrainState{Phase: PhaseCordoned, Want: map[string]WantReady{"owner-ReplicaSet-web": {Owner: "app/ReplicaSet/web", Ready: 2}}})
	n1 := node("n1", cordoned)
	n1.Annotations = map[string]string{AnnotationCordonedBy: "alice", AnnotationDrainStartedAt: "2026-01-01T00:00:00Z", AnnotationDrainState: string(rec)}
	c := newClient(n1, node("n2"), pod("app", "web-2", "n2", ownedBy("ReplicaSet", "web")))
	opts := drainOpts("n1")
	opts.WaitReady = true
	opts.Timeout = 300 * time.Millisecond // only one Ready pod of the two recorded exists
	res, err := Drain(context.Background(), c, opts, nil)
	if err == nil || !strings.Contains(err.Error(), "app/ReplicaSet/web ") || !strings.Contains(err.Error(), "/2") {
		t.Fatalf("err = %v; want a wait for the 2 recorded Ready pods", err)
	}
	if res.Nodes[0].ReplacementsReady {
		t.Error("replacements reported Ready")
	}
	if actions(c)["patch nodes"] != 0 {
		t.Errorf("a re-run of an interrupted drain patched the node: %v", actions(c))
	}
}

// Someone uncordons a node of the pool while its pods are being evicted: the node is not
// reported drained, the failure says why, and the roll stops before the next node.
func TestPoolDrainNoticesAnUncordon(t *testing.T) {
	c := newClient(node("n1"), node("n2"), node("n3"),
		pod("app", "web-1", "n1", ownedBy("ReplicaSet", "web")),
		pod("app", "web-2", "n2", ownedBy("ReplicaSet", "web")))
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "eviction" && a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction).Name == "web-1" {
			obj, err := c.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, "", "n1")
			if err != nil {
				return true, nil, err
			}
			n := obj.(*corev1.Node).DeepCopy()
			n.Spec.Unschedulable = false // the second writer: `kubectl uncordon n1`
			if err := c.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, n, ""); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	opts := drainOpts("n1", "n2")
	res, err := Drain(context.Background(), c, opts, nil)
	if err == nil {
		t.Fatal("drain succeeded although n1 was uncordoned during it")
	}
	if n := res.Nodes[0]; n.State != NodeFailed || !strings.Contains(n.Message, "someone uncordoned the node") {
		t.Errorf("n1 = %+v", n)
	}
	if n := res.Nodes[1]; n.State != NodeNotStarted || len(n.Evicted) != 0 {
		t.Errorf("n2 = %+v (the roll should stop at n1)", n)
	}
	if !strings.Contains(err.Error(), "n1") {
		t.Errorf("error does not name the node: %v", err)
	}
}

// An eviction the API server answers 409 (its PDB status update kept conflicting through the
// server's own retries) evicted nothing: the pod is sent again and the node drains, said once.
func TestDrainSendsAgainAfterAPDBConflict(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "web-1", "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web")),
		pod("shop", "web-2", "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web")),
		pdb("shop", "web", "web", 4, 2, 2, 4))
	conflicts := 0
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "eviction" && conflicts < 2 {
			conflicts++
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, "web", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	rec := &progress.Recorder{}
	res, err := Drain(context.Background(), c, drainOpts("n1"), rec)
	if err != nil {
		t.Fatalf("drain: %v\n%s", err, strings.Join(rec.Messages(), "\n"))
	}
	if res.Nodes[0].State != NodeDrained || len(res.Nodes[0].Evicted) != 2 {
		t.Fatalf("node = %+v", res.Nodes[0])
	}
	if got := evictions(c); got != 4 {
		t.Errorf("evictions = %d, want 4 (two conflicts, two sent again)", got)
	}
	n := 0
	for _, m := range rec.Messages() {
		if strings.Contains(m, "conflicted on its poddisruptionbudget's status") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d conflict line(s), want 1:\n%s", n, strings.Join(rec.Messages(), "\n"))
	}
}
