package maintenance

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// planFor is a node's plan evicting the given pods.
func planFor(name string, pods ...*corev1.Pod) *NodePlan {
	np := &NodePlan{Name: name}
	for _, p := range pods {
		ref := p.OwnerReferences[0]
		np.Pods = append(np.Pods, PodPlan{Namespace: p.Namespace, Name: p.Name, Node: name, Action: ActionEvict, ownerUID: string(ref.UID), pod: p})
	}
	return np
}

func released(n *replNode) bool {
	select {
	case <-n.released:
		return true
	default:
		return false
	}
}

// Two nodes in flight evicted pods of the same Deployment. Each node's slot frees when as
// many replacements are Ready as IT evicted (the other node's losses are discounted from
// its target), one node per replacement count: the first two replacements release the node
// that started first, the next two the other one.
func TestReplacementsTargetPerNodeInFlight(t *testing.T) {
	a1, a2 := pod("app", "a1", "A", ownedBy("ReplicaSet", "web")), pod("app", "a2", "A", ownedBy("ReplicaSet", "web"))
	b1, b2 := pod("app", "b1", "B", ownedBy("ReplicaSet", "web")), pod("app", "b2", "B", ownedBy("ReplicaSet", "web"))
	s1 := pod("app", "s1", "S", ownedBy("ReplicaSet", "web"))
	other := pod("app", "o1", "S", ownedBy("ReplicaSet", "db")) // not followed
	inv := &inventory{pods: []corev1.Pod{*a1, *a2, *b1, *b2, *s1, *other}}
	want := map[string]WantReady{"owner-ReplicaSet-web": {Owner: "app/ReplicaSet/web", Ready: 5}}
	r := newReplacements(nil, inv, []map[string]WantReady{want, want})
	report := func(string, ...any) {}
	na := r.join(planFor("A", a1, a2), report)
	nb := r.join(planFor("B", b1, b2), report)
	if len(r.pods) != 5 {
		t.Fatalf("followed %d pods, want the 5 of web", len(r.pods))
	}
	step := func(deleted bool, pods ...*corev1.Pod) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range pods {
			r.track(p, deleted)
		}
		r.evaluate()
	}
	r.mu.Lock()
	na.want, nb.want = want, want // both wait (what wait sets)
	r.mu.Unlock()
	step(true, a1, a2, b1, b2) // both nodes drained

	step(false, pod("app", "r1", "S", ownedBy("ReplicaSet", "web")))
	if released(na) || released(nb) {
		t.Fatal("one replacement released a node that evicted two")
	}
	step(false, pod("app", "r2", "S", ownedBy("ReplicaSet", "web")))
	if !released(na) {
		t.Fatal("A not released with two replacements Ready")
	}
	if released(nb) {
		t.Fatal("B released by A's replacements")
	}
	notReady := pod("app", "r3", "S", ownedBy("ReplicaSet", "web"))
	notReady.Status.Conditions = nil
	step(false, notReady, pod("app", "r4", "S", ownedBy("ReplicaSet", "web")))
	if released(nb) {
		t.Fatal("B released with a replacement not Ready")
	}
	notReady.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	step(false, notReady)
	if err := r.wait(context.Background(), nb, want); err != nil {
		t.Fatalf("B: %v", err)
	}
	if len(r.flight) != 0 {
		t.Errorf("%d node(s) still in flight", len(r.flight))
	}
}

// A node that leaves flight without its replacements (failed, stopped) no longer discounts
// its losses: the nodes still waiting must see them replaced too.
func TestReplacementsLeavingNodeDiscountsNothing(t *testing.T) {
	a1 := pod("app", "a1", "A", ownedBy("ReplicaSet", "web"))
	b1 := pod("app", "b1", "B", ownedBy("ReplicaSet", "web"))
	inv := &inventory{pods: []corev1.Pod{*a1, *b1}}
	want := map[string]WantReady{"owner-ReplicaSet-web": {Owner: "app/ReplicaSet/web", Ready: 2}}
	r := newReplacements(nil, inv, []map[string]WantReady{want, want})
	na := r.join(planFor("A", a1), func(string, ...any) {})
	nb := r.join(planFor("B", b1), func(string, ...any) {})
	r.mu.Lock()
	r.track(a1, true)
	r.track(b1, true)
	r.mu.Unlock()
	r.leave(nb)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r.mu.Lock()
	r.track(pod("app", "r1", "S", ownedBy("ReplicaSet", "web")), false)
	r.mu.Unlock()
	err := r.wait(ctx, na, want)
	if err == nil || !strings.Contains(err.Error(), "app/ReplicaSet/web 1/2") {
		t.Fatalf("err = %v, want the target of 2 (B's loss no longer discounted)", err)
	}
}

// At most evictionLaneWidth evictions under one PodDisruptionBudget are in flight; another
// PDB's lane is not held up, and a place given back is taken by the next one.
func TestPDBLanesPaceEvictionsPerPDB(t *testing.T) {
	l := newPDBLanes()
	var held []func()
	for i := 0; i < evictionLaneWidth; i++ {
		rel, err := l.acquire(context.Background(), []string{"ns/a"})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, rel)
	}
	relB, err := l.acquire(context.Background(), []string{"ns/b"})
	if err != nil {
		t.Fatalf("another PDB's lane: %v", err)
	}
	relB()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, []string{"ns/a"}); err == nil {
		t.Fatalf("eviction %d under ns/a went out with %d in flight", evictionLaneWidth+1, evictionLaneWidth)
	}
	held[0]()
	rel, err := l.acquire(context.Background(), []string{"ns/a"})
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	rel()
	var none *pdbLanes
	rel, err = none.acquire(context.Background(), []string{"ns/a"})
	if err != nil {
		t.Fatal(err)
	}
	rel()
}
