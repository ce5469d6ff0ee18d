package maintenance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/progress"
)

var pdbGVR = schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}

func drainOpts(nodes ...string) DrainOptions {
	return DrainOptions{
		PlanOptions: PlanOptions{NodeSelection: NodeSelection{Nodes: nodes}, IgnoreDaemonSets: true},
		Writer:      writer(audit.DryRunNone),
		Timeout:     10 * time.Second,
	}
}

func TestDrainEvictsWaitsAndCountsRequests(t *testing.T) {
	objs := []runtime.Object{node("n1"), node("n2")}
	for _, name := range []string{"a", "b", "c", "d"} {
		objs = append(objs, pod("app", "web-"+name, "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web")))
	}
	objs = append(objs, pod("app", "web-e", "n2", ownedBy("ReplicaSet", "web"), labeled("app", "web")),
		pod("kube-system", "agent-1", "n1", ownedBy("DaemonSet", "agent")))
	c := newClient(objs...)
	rec := &progress.Recorder{}
	res, err := Drain(context.Background(), c, drainOpts("n1"), rec)
	if err != nil {
		t.Fatalf("drain: %v\n%s", err, strings.Join(rec.Messages(), "\n"))
	}
	n := res.Nodes[0]
	if n.State != NodeDrained || len(n.Evicted) != 4 || len(n.Left) != 0 || n.Cordon != ActionCordoned {
		t.Errorf("result = %+v", n)
	}
	if strings.Join(n.Skipped, ",") != "kube-system/agent-1" {
		t.Errorf("skipped = %v", n.Skipped)
	}
	// pods + 7: four lists, the cordon patch, its event, one watch; no discovery, no GET per pod.
	want := map[string]int{"list nodes": 1, "list pods": 1, "list poddisruptionbudgets": 1, "list replicasets": 1, "patch nodes": 1,
		"create events": 1, "watch pods": 1, "create pods/eviction": 4}
	if got := actions(c); !equalCounts(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	nd := getNode(t, c, "n1")
	if !nd.Spec.Unschedulable || nd.Annotations[AnnotationDrainPods] != "4" || nd.Annotations[AnnotationDrainStartedAt] == "" {
		t.Errorf("node after drain: unschedulable=%v annotations=%v", nd.Spec.Unschedulable, nd.Annotations)
	}

	// Re-running on a drained node changes nothing.
	c.ClearActions()
	res, err = Drain(context.Background(), c, drainOpts("n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].Cordon != ActionAlreadyCordoned || len(res.Nodes[0].Evicted) != 0 {
		t.Errorf("re-run = %+v", res.Nodes[0])
	}
	for k := range actions(c) {
		if !strings.HasPrefix(k, "list ") {
			t.Errorf("re-run made a %s request", k)
		}
	}
}

func TestDrainCordonFailureMakesZeroEvictions(t *testing.T) {
	c := newClient(node("n1"), node("n2"), pod("app", "web-a", "n1", ownedBy("ReplicaSet", "web")), pod("app", "web-b", "n2", ownedBy("ReplicaSet", "web")))
	c.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n1", errors.New(`User "carol" cannot patch resource "nodes"`))
	})
	res, err := Drain(context.Background(), c, drainOpts("n1"), nil)
	if err == nil || !strings.Contains(err.Error(), "cordon node n1: forbidden") || !strings.HasSuffix(err.Error(), "; no pod was evicted") {
		t.Fatalf("err = %v", err)
	}
	if res.Nodes[0].State != NodeFailed {
		t.Errorf("state = %s", res.Nodes[0].State)
	}
	if evictions(c) != 0 {
		t.Errorf("%d evictions after a failed cordon", evictions(c))
	}
}

func TestDrainRefusesUpFront(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		opts func(*DrainOptions)
		want string
	}{
		{"unmanaged", pod("app", "bare", "n1"), nil, "pods that declare no controller (use --force to override): app/bare"},
		{"emptyDir", pod("app", "cache", "n1", ownedBy("ReplicaSet", "cache"), withEmptyDir), nil, "pods with local storage (use --delete-emptydir-data to override): app/cache"},
		{"DaemonSet", pod("kube-system", "agent", "n1", ownedBy("DaemonSet", "agent")), func(o *DrainOptions) { o.IgnoreDaemonSets = false }, "DaemonSet-managed pods (use --ignore-daemonsets to ignore): kube-system/agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(node("n1"), node("n2"), tt.pod)
			opts := drainOpts("n1")
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err := Drain(context.Background(), c, opts, nil)
			if err == nil || err.Error() != "cannot drain node n1: "+tt.want+"; nothing changed" {
				t.Fatalf("err = %v", err)
			}
			for k := range actions(c) {
				if !strings.HasPrefix(k, "list ") {
					t.Errorf("refused drain made a %s request", k)
				}
			}
		})
	}
}

// A PDB that allows no disruption blocks: the drain names it with its numbers at once, and
// evicts when the PDB's status changes (a watch event, not a timer).
func TestDrainBlockedByPDBReportsAndRetriesOnChange(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "backend-1", "n1", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pod("shop", "backend-2", "n2", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pdb("shop", "backend", "backend", 2, 2, 0, 2))
	rec := &progress.Recorder{}
	done := make(chan struct{})
	var res *DrainResult
	var err error
	go func() {
		defer close(done)
		res, err = Drain(context.Background(), c, drainOpts("n1"), rec)
	}()
	waitFor(t, func() bool { return evictions(c) >= 1 && len(rec.Messages()) >= 3 })
	containsLine(t, rec.Messages(), "node n1: eviction blocked by poddisruptionbudget shop/backend: needs 2 healthy, has 2 (currentHealthy 2, desiredHealthy 2, disruptionsAllowed 0, expectedPods 2); waiting for it to change")

	// The disruption controller sees a third replica Ready: one disruption allowed.
	b := pdb("shop", "backend", "backend", 3, 2, 1, 3)
	if err := c.Tracker().Update(pdbGVR, b, "shop"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("drain did not finish after the PDB allowed a disruption:\n%s", strings.Join(rec.Messages(), "\n"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].State != NodeDrained {
		t.Errorf("state = %s", res.Nodes[0].State)
	}
	containsLine(t, rec.Messages(), "node n1: poddisruptionbudget shop/backend now needs 2 healthy, has 3")
	if got := evictions(c); got != 2 {
		t.Errorf("evictions = %d, want 2 (the blocked one and the retry)", got)
	}
	if got := actions(c)["watch poddisruptionbudgets"]; got != 1 {
		t.Errorf("PDB watches = %d, want 1", got)
	}
}

func TestDrainTimeoutLeavesNodeCordonedAndListsPods(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "backend-1", "n1", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pod("shop", "backend-2", "n2", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pdb("shop", "backend", "backend", 2, 2, 0, 2))
	opts := drainOpts("n1")
	// Long enough for the eviction and the pod's deletion on a loaded CI machine under -race
	// (300ms was not); the replacement never becomes Ready, so the test waits it out.
	opts.Timeout = 3 * time.Second
	res, err := Drain(context.Background(), c, opts, nil)
	want := "drain timed out after 3s: node n1: 1 pod(s) left: shop/backend-1 (blocked by poddisruptionbudget shop/backend, disruptionsAllowed 0); node n1 stays cordoned: re-run the drain to continue, or `kubectl feastflow maintenance uncordon n1` to give up"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if res.Nodes[0].State != NodeTimedOut {
		t.Errorf("state = %s", res.Nodes[0].State)
	}
	if !getNode(t, c, "n1").Spec.Unschedulable {
		t.Error("node not left cordoned")
	}
	// Blocked evictions are retried on PDB changes only: no change, no retry.
	if got := evictions(c); got != 1 {
		t.Errorf("evictions = %d, want 1", got)
	}
}

func TestDrainInterruptStopsAndRerunContinues(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "backend-1", "n1", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pod("shop", "web-1", "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web")),
		pod("shop", "web-2", "n2", ownedBy("ReplicaSet", "web"), labeled("app", "web")),
		pod("shop", "backend-2", "n2", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pdb("shop", "backend", "backend", 2, 2, 0, 2))
	ctx, cancel := context.WithCancel(context.Background())
	rec := &progress.Recorder{}
	go func() {
		waitFor(t, func() bool { return len(rec.Messages()) >= 4 })
		cancel()
	}()
	res, err := Drain(ctx, c, drainOpts("n1"), rec)
	// web-1 was evicted; whether the drain saw it disappear before the cancel is a race, so
	// it may still be listed as terminating. backend-1, blocked by the PDB, is always left.
	if err == nil || !strings.HasPrefix(err.Error(), "drain interrupted: node n1: ") ||
		!strings.Contains(err.Error(), "shop/backend-1 (blocked by poddisruptionbudget shop/backend") {
		t.Fatalf("err = %v", err)
	}
	if res.Nodes[0].State != NodeInterrupted || strings.Join(res.Nodes[0].Evicted, ",") != "shop/web-1" {
		t.Errorf("result = %+v", res.Nodes[0])
	}

	// The PDB relents; a re-run continues with what is left and does not cordon again.
	if err := c.Tracker().Update(pdbGVR, pdb("shop", "backend", "backend", 3, 2, 1, 3), "shop"); err != nil {
		t.Fatal(err)
	}
	c.ClearActions()
	res, err = Drain(context.Background(), c, drainOpts("n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].Cordon != ActionAlreadyCordoned || strings.Join(res.Nodes[0].Evicted, ",") != "shop/backend-1" {
		t.Errorf("re-run = %+v", res.Nodes[0])
	}
	if actions(c)["patch nodes"] != 0 {
		t.Error("re-run patched the node again")
	}
}

func TestDrainServerDryRun(t *testing.T) {
	c := newClient(node("n1"), node("n2"), pod("app", "web-a", "n1", ownedBy("ReplicaSet", "web")), pod("app", "web-b", "n2", ownedBy("ReplicaSet", "web")))
	var evictDryRun []string
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "eviction" {
			evictDryRun = a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction).DeleteOptions.DryRun
		}
		return false, nil, nil
	})
	opts := drainOpts("n1")
	opts.Writer = writer(audit.DryRunServer)
	res, err := Drain(context.Background(), c, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].State != NodeDryRun || len(res.Nodes[0].Evicted) != 1 {
		t.Errorf("result = %+v", res.Nodes[0])
	}
	if len(evictDryRun) != 1 || evictDryRun[0] != metav1.DryRunAll {
		t.Errorf("eviction dryRun = %v", evictDryRun)
	}
	// The fake tracker applies dry-run patches (the apiserver does not): check the option.
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchActionImpl); ok && (len(p.PatchOptions.DryRun) != 1 || p.PatchOptions.DryRun[0] != metav1.DryRunAll) {
			t.Errorf("cordon patch without dryRun=All: %+v", p.PatchOptions)
		}
	}
	if actions(c)["create events"] != 0 || actions(c)["watch pods"] != 0 {
		t.Errorf("server dry run recorded an event or waited: %v", actions(c))
	}
}

func TestDrainMaxUnavailableNodes(t *testing.T) {
	objs := []runtime.Object{node("n1"), node("n2"), node("n3"), node("n4")}
	for _, n := range []string{"n1", "n2", "n3"} {
		objs = append(objs, pod("app", "web-"+n, n, ownedBy("ReplicaSet", "web")))
	}
	objs = append(objs, pod("app", "web-n4", "n4", ownedBy("ReplicaSet", "web")))
	c := newClient(objs...)
	opts := drainOpts("n1", "n2", "n3")
	opts.MaxUnavailableNodes = 2
	res, err := Drain(context.Background(), c, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Nodes {
		if n.State != NodeDrained || len(n.Evicted) != 1 {
			t.Errorf("node %s = %+v", n.Node, n)
		}
	}
	if got := actions(c)["patch nodes"]; got != 3 {
		t.Errorf("cordons = %d", got)
	}
}

func TestDrainWaitReady(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "backend-1", "n1", ownedBy("ReplicaSet", "backend")),
		pod("shop", "backend-2", "n2", ownedBy("ReplicaSet", "backend")))
	opts := drainOpts("n1")
	opts.WaitReady = true
	rec := &progress.Recorder{}
	done := make(chan struct{})
	var res *DrainResult
	var err error
	go func() {
		defer close(done)
		res, err = Drain(context.Background(), c, opts, rec)
	}()
	waitFor(t, func() bool {
		for _, m := range rec.Messages() {
			if strings.Contains(m, "waiting for replacements") {
				return true
			}
		}
		return false
	})
	select {
	case <-done:
		t.Fatal("drain returned before the replacement was Ready")
	default:
	}
	// The ReplicaSet's replacement lands on n2 and becomes Ready.
	repl := pod("shop", "backend-3", "n2", ownedBy("ReplicaSet", "backend"))
	if err := c.Tracker().Add(repl); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("drain did not see the replacement:\n%s", strings.Join(rec.Messages(), "\n"))
	}
	if err != nil {
		t.Fatal(err)
	}
	if !res.Nodes[0].ReplacementsReady {
		t.Errorf("result = %+v", res.Nodes[0])
	}
	containsLine(t, rec.Messages(), "waiting for replacements to be Ready elsewhere: shop/ReplicaSet/backend 1/2")
}

func TestDrainUnknownNodeChangesNothing(t *testing.T) {
	c := newClient(node("n1"))
	_, err := Drain(context.Background(), c, drainOpts("n9"), nil)
	if err == nil || !strings.Contains(err.Error(), `node "n9" not found`) {
		t.Fatalf("err = %v", err)
	}
	if got := actions(c); !equalCounts(got, map[string]int{"list nodes": 1}) {
		t.Errorf("requests = %v", got)
	}
}

// waitFor waits, with a deadline, for a condition on the fake clientset's state (which has
// no event to wait on).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatal("condition not met in 5s")
	}
}

// A pod bound to the node after the plan listed it (before the cordon took effect) is seen
// by the watch and evicted too.
func TestDrainEvictsPodsArrivingAfterThePlan(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "backend-1", "n1", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pod("shop", "backend-2", "n2", ownedBy("ReplicaSet", "backend"), labeled("app", "backend")),
		pdb("shop", "backend", "backend", 2, 2, 0, 2))
	rec := &progress.Recorder{}
	done := make(chan struct{})
	var res *DrainResult
	var err error
	go func() {
		defer close(done)
		res, err = Drain(context.Background(), c, drainOpts("n1"), rec)
	}()
	waitFor(t, func() bool { return evictions(c) >= 1 })
	late := pod("shop", "web-late", "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web"))
	if err := c.Tracker().Add(late); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return evictions(c) >= 2 })
	if err := c.Tracker().Update(pdbGVR, pdb("shop", "backend", "backend", 3, 2, 1, 3), "shop"); err != nil {
		t.Fatal(err)
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	containsLine(t, rec.Messages(), "node n1: pod shop/web-late arrived on the node before the cordon took effect: evicting it too")
	if got := strings.Join(res.Nodes[0].Evicted, ","); !strings.Contains(got, "shop/web-late") || !strings.Contains(got, "shop/backend-1") {
		t.Errorf("evicted = %s", got)
	}
}

func TestDrainWaitReadyTimeoutNamesTheWorkload(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("shop", "backend-1", "n1", ownedBy("ReplicaSet", "backend")),
		pod("shop", "backend-2", "n2", ownedBy("ReplicaSet", "backend")))
	opts := drainOpts("n1")
	opts.WaitReady = true
	// Long enough for the eviction and the pod's deletion on a loaded CI machine under -race
	// (300ms was not); the replacement never becomes Ready, so the test waits it out.
	opts.Timeout = 3 * time.Second
	res, err := Drain(context.Background(), c, opts, nil)
	want := "drain timed out after 3s: node n1: evicted pods are gone, replacements not Ready elsewhere: shop/ReplicaSet/backend 1/2; node n1 stays cordoned: re-run the drain to continue, or `kubectl feastflow maintenance uncordon n1` to give up"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if res.Nodes[0].State != NodeTimedOut || strings.Join(res.Nodes[0].Evicted, ",") != "shop/backend-1" {
		t.Errorf("result = %+v", res.Nodes[0])
	}
}

// A watch whose resourceVersion was compacted away (410 Expired, after a long wait on an
// earlier node) is replaced by one re-list of the node's pods, which settles the pods gone
// meanwhile.
func TestDrainRelistsWhenTheWatchExpires(t *testing.T) {
	c := newClient(node("n1"), node("n2"),
		pod("app", "web-a", "n1", ownedBy("ReplicaSet", "web")),
		pod("app", "web-b", "n1", ownedBy("ReplicaSet", "web")),
		pod("app", "web-c", "n2", ownedBy("ReplicaSet", "web")))
	evicted := make(chan struct{})
	n := 0
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "eviction" {
			n++
			if n == 2 {
				close(evicted)
			}
		}
		return false, nil, nil // on to the Eviction API of newClient
	})
	expired := false
	c.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		if expired {
			return false, nil, nil
		}
		expired = true
		w := watch.NewFake()
		go func() {
			// The evictions happen while this watch delivers nothing; then it expires.
			<-evicted
			w.Error(&apierrors.NewResourceExpired("too old resource version").ErrStatus)
		}()
		return true, w, nil
	})
	res, err := Drain(context.Background(), c, drainOpts("n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes[0].State != NodeDrained || len(res.Nodes[0].Evicted) != 2 {
		t.Errorf("result = %+v", res.Nodes[0])
	}
	if got := actions(c)["list pods"]; got != 2 {
		t.Errorf("pod lists = %d, want the plan's and one re-list", got)
	}
}

// An interrupted drain reports each pod once: evicted (gone), still terminating, or not
// evicted. Evictions in flight at the interrupt whose answers were lost but that landed
// (the pods are terminating) are found by the re-read of the node's pods, not reported as
// "not evicted" and not twice.
func TestDrainInterruptReportsEachPodOnce(t *testing.T) {
	objs := []runtime.Object{node("n1"), node("n2"), pdb("shop", "db", "db", 1, 1, 0, 1),
		pod("shop", "db-1", "n1", ownedBy("ReplicaSet", "db"), labeled("app", "db"))}
	for _, name := range []string{"quick-1", "quick-2", "slow-1", "slow-2", "slow-3"} {
		objs = append(objs, pod("shop", name, "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web")))
	}
	c := newClient(objs...)
	// The server accepts the slow evictions (the pods start terminating), but their answers
	// are lost: the client gives up when the drain is interrupted.
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ev, ok := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		if a.GetSubresource() != "eviction" || !ok || !strings.HasPrefix(ev.Name, "slow-") {
			return false, nil, nil
		}
		obj, err := c.Tracker().Get(podsGVR, ev.Namespace, ev.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		now := metav1.Now()
		p.DeletionTimestamp = &now
		return true, nil, c.Tracker().Update(podsGVR, p, p.Namespace)
	})
	lost := &lostAnswers{Interface: c, landed: make(chan string, 3), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	rec := &progress.Recorder{}
	go func() {
		for range 3 {
			<-lost.landed
		}
		waitFor(t, func() bool {
			n := 0
			for _, m := range rec.Messages() {
				if strings.Contains(m, "evicted shop/quick-") || strings.Contains(m, "blocked by poddisruptionbudget shop/db") {
					n++
				}
			}
			return n == 3
		})
		cancel()
		close(lost.release)
	}()
	res, err := Drain(ctx, lost, drainOpts("n1"), rec)
	if err == nil {
		t.Fatal("no error after the interrupt")
	}
	n := res.Nodes[0]
	if n.State != NodeInterrupted {
		t.Fatalf("state %s", n.State)
	}
	seen := map[string]string{}
	add := func(list string, pods ...string) {
		for _, p := range pods {
			if prev, dup := seen[p]; dup {
				t.Errorf("%s reported as %s and as %s", p, prev, list)
			}
			seen[p] = list
		}
	}
	add("evicted", n.Evicted...)
	add("terminating", n.Terminating...)
	for _, l := range n.Left {
		add("not evicted", l.Pod)
	}
	want := map[string]string{"shop/quick-1": "evicted", "shop/quick-2": "evicted", "shop/slow-1": "terminating", "shop/slow-2": "terminating", "shop/slow-3": "terminating", "shop/db-1": "not evicted"}
	for p, list := range want {
		if seen[p] != list {
			t.Errorf("%s reported as %q, want %q (result %+v)", p, seen[p], list, n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("reported %v", seen)
	}
	if !strings.Contains(err.Error(), "node n1: 2 evicted, 3 still terminating, 1 not evicted: shop/db-1 (blocked by poddisruptionbudget shop/db") {
		t.Errorf("err = %v", err)
	}
}

// lostAnswers is a client whose evictions of "slow-" pods reach the server but whose
// answers never come back: the request ends only when the caller gives up (its context).
// The wait is outside the fake clientset, which serialises its reactors.
type lostAnswers struct {
	kubernetes.Interface
	landed  chan string
	release chan struct{}
}

func (l *lostAnswers) PolicyV1() policyv1client.PolicyV1Interface {
	return &lostPolicy{PolicyV1Interface: l.Interface.PolicyV1(), l: l}
}

type lostPolicy struct {
	policyv1client.PolicyV1Interface
	l *lostAnswers
}

func (p *lostPolicy) Evictions(ns string) policyv1client.EvictionInterface {
	return &lostEvictions{EvictionInterface: p.PolicyV1Interface.Evictions(ns), l: p.l}
}

type lostEvictions struct {
	policyv1client.EvictionInterface
	l *lostAnswers
}

func (e *lostEvictions) Evict(ctx context.Context, ev *policyv1.Eviction) error {
	err := e.EvictionInterface.Evict(ctx, ev)
	if err != nil || !strings.HasPrefix(ev.Name, "slow-") {
		return err
	}
	e.l.landed <- ev.Name
	<-e.l.release
	<-ctx.Done()
	return ctx.Err()
}
