package maintenance

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func TestPlanClassifiesPods(t *testing.T) {
	tests := []struct {
		name       string
		pod        *corev1.Pod
		opts       PlanOptions
		wantAction PodAction
		wantCodes  []string
	}{
		{"replicated pod", pod("app", "web-1", "n1", ownedBy("ReplicaSet", "web"), labeled("app", "web")), PlanOptions{}, ActionEvict, nil},
		{"unmanaged pod refused", pod("app", "bare", "n1"), PlanOptions{}, ActionRefuse, []string{ReasonUnmanaged}},
		{"unmanaged pod with --force", pod("app", "bare", "n1"), PlanOptions{Force: true}, ActionEvict, []string{ReasonUnmanaged}},
		{"emptyDir refused", pod("app", "cache-1", "n1", ownedBy("ReplicaSet", "cache"), withEmptyDir), PlanOptions{}, ActionRefuse, []string{ReasonEmptyDir}},
		{"emptyDir with --delete-emptydir-data", pod("app", "cache-1", "n1", ownedBy("ReplicaSet", "cache"), withEmptyDir), PlanOptions{DeleteEmptyDirData: true}, ActionEvict, []string{ReasonEmptyDir}},
		{"DaemonSet refused", pod("kube-system", "agent-x", "n1", ownedBy("DaemonSet", "agent")), PlanOptions{}, ActionRefuse, []string{ReasonDaemonSet}},
		{"DaemonSet ignored", pod("kube-system", "agent-x", "n1", ownedBy("DaemonSet", "agent")), PlanOptions{IgnoreDaemonSets: true}, ActionSkip, []string{ReasonDaemonSet}},
		{"mirror pod stays", pod("kube-system", "etcd-n1", "n1", mirror), PlanOptions{}, ActionSkip, []string{ReasonMirrorPod}},
		{"StatefulSet pod evicted", pod("db", "pg-0", "n1", ownedBy("StatefulSet", "pg"), labeled("app", "pg")), PlanOptions{}, ActionEvict, []string{ReasonSingleReplica, ReasonStatefulSet}},
		{"finished pod removed", pod("app", "job-x", "n1", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), PlanOptions{}, ActionEvict, []string{ReasonFinished}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{node("n1"), node("n2"), tt.pod,
				// a second replica of "web" and "cache" elsewhere, so that they are not single replicas
				pod("app", "web-2", "n2", ownedBy("ReplicaSet", "web"), labeled("app", "web")),
				pod("app", "cache-2", "n2", ownedBy("ReplicaSet", "cache")),
			}
			c := newClient(objs...)
			opts := tt.opts
			opts.Nodes = []string{"n1"}
			p, err := Plan(context.Background(), c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Nodes) != 1 || len(p.Nodes[0].Pods) != 1 {
				t.Fatalf("plan nodes = %+v", p.Nodes)
			}
			got := p.Nodes[0].Pods[0]
			if got.Action != tt.wantAction {
				t.Errorf("action = %s, want %s (%+v)", got.Action, tt.wantAction, got.Reasons)
			}
			var codes []string
			for _, r := range got.Reasons {
				codes = append(codes, r.Code)
			}
			if strings.Join(codes, ",") != strings.Join(tt.wantCodes, ",") {
				t.Errorf("reasons = %v, want %v", codes, tt.wantCodes)
			}
			// Plan reads, one LIST per kind, and writes nothing.
			want := map[string]int{"list nodes": 1, "list pods": 1, "list poddisruptionbudgets": 1, "list replicasets": 1}
			if strings.HasPrefix(tt.name, "StatefulSet") { // what happens to its volumes
				want["list persistentvolumeclaims"], want["list persistentvolumes"] = 1, 1
			}
			if got := actions(c); !equalCounts(got, want) {
				t.Errorf("requests = %v, want %v", got, want)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPlanPDBsAndVerdict(t *testing.T) {
	backend := func(name, n string) *corev1.Pod {
		return pod("shop", name, n, ownedBy("ReplicaSet", "backend"), labeled("app", "backend"))
	}
	tests := []struct {
		name        string
		objs        []runtime.Object
		wantVerdict Verdict
		wantCode    string
		wantProblem string
		wantRefusal string
	}{
		{
			name:        "PDB with room paces the drain",
			objs:        []runtime.Object{backend("b1", "n1"), backend("b2", "n2"), backend("b3", "n2"), pdb("shop", "backend", "backend", 3, 2, 1, 3)},
			wantVerdict: VerdictSafe, wantCode: ReasonPacedByPDB,
		},
		{
			name:        "minAvailable = replicas blocks",
			objs:        []runtime.Object{backend("b1", "n1"), backend("b2", "n2"), backend("b3", "n2"), pdb("shop", "backend", "backend", 3, 3, 0, 3)},
			wantVerdict: VerdictBlock, wantCode: ReasonBlockedByPDB,
			wantProblem: "blocked: poddisruptionbudget shop/backend needs 3 healthy, has 3 (currentHealthy 3, desiredHealthy 3, disruptionsAllowed 0, expectedPods 3): shop/b1 cannot be evicted now",
		},
		{
			name: "an unready pod leaves without spending a disruption",
			objs: []runtime.Object{pod("shop", "b1", "n1", ownedBy("ReplicaSet", "backend"), labeled("app", "backend"), func(p *corev1.Pod) {
				p.Status.Conditions = nil
			}), backend("b2", "n2"), backend("b3", "n2"), pdb("shop", "backend", "backend", 2, 2, 0, 3)},
			wantVerdict: VerdictSafe, wantCode: ReasonPacedByPDB,
		},
		{
			name:        "two PDBs refuse",
			objs:        []runtime.Object{backend("b1", "n1"), backend("b2", "n2"), pdb("shop", "backend", "backend", 2, 1, 1, 2), pdb("shop", "backend-too", "backend", 2, 1, 1, 2)},
			wantVerdict: VerdictBlock, wantCode: ReasonMultiplePDBs,
			wantRefusal: "cannot drain node n1: pods selected by more than one poddisruptionbudget (the Eviction API refuses them forever; make at most one PDB select each pod): shop/b1 (shop/backend, shop/backend-too)",
		},
		{
			name:        "single replica without PDB is downtime",
			objs:        []runtime.Object{backend("b1", "n1")},
			wantVerdict: VerdictDowntime, wantCode: ReasonSingleReplica,
			wantProblem: "downtime: pod shop/b1: the only replica of ReplicaSet/backend: its workload is down",
		},
		{
			name:        "all replicas on the node without PDB is downtime",
			objs:        []runtime.Object{backend("b1", "n1"), backend("b2", "n1")},
			wantVerdict: VerdictDowntime, wantCode: ReasonAllReplicas,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(append(tt.objs, node("n1"), node("n2"), node("n3"))...)
			p, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Verdict != tt.wantVerdict {
				t.Errorf("verdict = %s, want %s; problems %v", p.Verdict, tt.wantVerdict, p.Problems)
			}
			if !p.Nodes[0].Pods[0].has(tt.wantCode) {
				t.Errorf("pod reasons %+v lack %s", p.Nodes[0].Pods[0].Reasons, tt.wantCode)
			}
			if tt.wantProblem != "" {
				containsLine(t, p.Problems, tt.wantProblem)
			}
			if got := p.Refusal(); got != tt.wantRefusal {
				t.Errorf("refusal = %q, want %q", got, tt.wantRefusal)
			}
		})
	}
}

func TestPlanCapacity(t *testing.T) {
	big := func(name, n string) *corev1.Pod {
		return pod("app", name, n, ownedBy("ReplicaSet", "big"), requests("3", "1Gi"))
	}
	tests := []struct {
		name     string
		objs     []runtime.Object
		wantFits bool
		wantWhy  string
	}{
		{"fits on the other node", []runtime.Object{node("n1"), node("n2"), big("a", "n1"), big("b", "n3")}, true, ""},
		{"other node full", []runtime.Object{node("n1"), node("n2"), big("a", "n1"), big("b", "n2")}, false, "1 node(s) insufficient cpu"},
		{"other node cordoned", []runtime.Object{node("n1"), node("n2", cordoned), big("a", "n1"), big("b", "n2")}, false, "no schedulable node left"},
		{"untolerated taint", []runtime.Object{node("n1"), node("n2", tainted("dedicated")), big("a", "n1"), big("b", "n2")}, false, "1 node(s) have untolerated taint dedicated"},
		{"node selector", []runtime.Object{node("n1"), node("n2"), big("b", "n2"), pod("app", "pinned", "n1", ownedBy("ReplicaSet", "p"), func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "n1"}
		})}, false, "1 node(s) do not match its node selector or affinity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(tt.objs...)
			p, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Capacity.Fits != tt.wantFits {
				t.Fatalf("fits = %v, want %v: %+v", p.Capacity.Fits, tt.wantFits, p.Capacity)
			}
			if tt.wantFits {
				return
			}
			if p.Verdict == VerdictSafe {
				t.Errorf("verdict safe despite misfit")
			}
			if len(p.Capacity.Unplaced) != 1 || !strings.Contains(p.Capacity.Unplaced[0].Why, tt.wantWhy) {
				t.Errorf("unplaced = %+v, want why containing %q", p.Capacity.Unplaced, tt.wantWhy)
			}
		})
	}
}

func TestPlanUnknownNode(t *testing.T) {
	c := newClient(node("n1"))
	_, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"nope"}}})
	if err == nil || err.Error() != `node "nope" not found: nothing changed (`+"`kubectl get nodes`"+` lists the nodes)` {
		t.Fatalf("err = %v", err)
	}
	if got := actions(c); !equalCounts(got, map[string]int{"list nodes": 1}) {
		t.Errorf("requests = %v", got)
	}
}

func TestPlanSelector(t *testing.T) {
	c := newClient(node("n1", func(n *corev1.Node) { n.Labels["zone"] = "a" }), node("n2", func(n *corev1.Node) { n.Labels["zone"] = "a" }), node("n3"))
	p, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Selector: "zone=a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.nodeNames(); strings.Join(got, ",") != "n1,n2" {
		t.Errorf("nodes = %v", got)
	}
	if _, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Selector: "zone=b"}}); err == nil || !strings.Contains(err.Error(), `no node matches selector "zone=b"`) {
		t.Errorf("err = %v", err)
	}
}

// Availability is judged per Deployment and by Ready pods: the never-ready pod of a failed
// new ReplicaSet is not "the only replica" while the old ReplicaSet's pods serve, and the
// old pods' eviction is judged with the new one counted as not serving.
func TestPlanJudgesPerDeploymentByReadyPods(t *testing.T) {
	rs := func(name string) *appsv1.ReplicaSet {
		tr := true
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID("owner-ReplicaSet-" + name),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-web", Controller: &tr}}}}
	}
	notReady := func(p *corev1.Pod) { p.Status.Conditions = nil }
	c := newClient(node("n1"), node("n2"), rs("web-old"), rs("web-new"),
		pod("shop", "new-1", "n1", ownedBy("ReplicaSet", "web-new"), notReady),
		pod("shop", "old-1", "n2", ownedBy("ReplicaSet", "web-old")),
		pod("shop", "old-2", "n2", ownedBy("ReplicaSet", "web-old")))
	p, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Verdict != VerdictSafe || p.Nodes[0].Pods[0].Downtime || p.Nodes[0].Pods[0].Workload != "Deployment/web" {
		t.Errorf("new pod: verdict %s, plan %+v", p.Verdict, p.Nodes[0].Pods[0])
	}
	// Draining n2 takes both Ready pods of the Deployment: downtime, named by the Deployment.
	p, err = Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Verdict != VerdictDowntime || len(p.Problems) == 0 || !strings.Contains(p.Problems[0], "all 2 Ready replicas of Deployment/web") {
		t.Errorf("verdict %s, problems %v", p.Verdict, p.Problems)
	}
}
