package maintenance

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func zone(z string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels["topology.kubernetes.io/zone"] = z }
}

func antiAffinity(key string, app string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}}}
	}
}

func affinity(key string, app string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}}}
	}
}

func spread(key string, skew int32, app string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: skew, TopologyKey: key,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
	}
}

// The capacity estimate follows the scheduler's hard inter-pod rules.
func TestCapacityInterPodRules(t *testing.T) {
	const host = "kubernetes.io/hostname"
	tests := []struct {
		name    string
		objs    []runtime.Object
		fits    bool
		unplace string
	}{
		{"anti-affinity per host: the only other node holds a replica",
			[]runtime.Object{node("n1"), node("n2"),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), antiAffinity(host, "w")),
				pod("a", "w2", "n2", ownedBy("ReplicaSet", "w"), labeled("app", "w"), antiAffinity(host, "w"))},
			false, "break its pod anti-affinity (kubernetes.io/hostname)"},
		{"anti-affinity per host: a free third node",
			[]runtime.Object{node("n1"), node("n2"), node("n3"),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), antiAffinity(host, "w")),
				pod("a", "w2", "n2", ownedBy("ReplicaSet", "w"), labeled("app", "w"), antiAffinity(host, "w"))},
			true, ""},
		{"an existing pod's anti-affinity keeps the evicted pod out",
			[]runtime.Object{node("n1"), node("n2"),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w")),
				pod("a", "x1", "n2", ownedBy("ReplicaSet", "x"), labeled("app", "x"), antiAffinity(host, "w"))},
			false, "hold a pod whose anti-affinity excludes it (a/x1)"},
		{"pod affinity to a cache that stays on the drained node",
			[]runtime.Object{node("n1"), node("n2"),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), affinity(host, "cache")),
				pod("a", "c1", "n1", ownedBy("ReplicaSet", "c"), labeled("app", "cache", LabelCAPIDrain, CAPIDrainSkip))},
			false, "do not satisfy its pod affinity"},
		{"pod affinity to a cache that moves too",
			[]runtime.Object{node("n1"), node("n2"),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), affinity(host, "cache")),
				pod("a", "c1", "n1", ownedBy("ReplicaSet", "c"), labeled("app", "cache"))},
			true, ""},
		// The drained node keeps its zone: the scheduler counts the (now empty) zone a, so
		// zone b with two replicas is two ahead and the evicted pod stays Pending.
		{"zone spread: the drained node's zone still counts",
			[]runtime.Object{node("n1", zone("a")), node("n2", zone("b")), node("n3", zone("b")),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w2", "n2", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w3", "n3", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w"))},
			false, "break its topology spread"},
		{"zone spread: a second node in the same zone stays",
			[]runtime.Object{node("n1", zone("a")), node("n4", zone("a")), node("n2", zone("b")), node("n3", zone("c")),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w0", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w2", "n2", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w3", "n3", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w"))},
			true, ""},
		{"zone spread: every other zone would be two ahead",
			[]runtime.Object{node("n1", zone("a")), node("n2", zone("b")), node("n3", zone("c")),
				pod("a", "w1", "n1", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w2", "n2", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w4", "n2", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w3", "n3", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w")),
				pod("a", "w5", "n3", ownedBy("ReplicaSet", "w"), labeled("app", "w"), spread("topology.kubernetes.io/zone", 1, "w"))},
			false, "break its topology spread (topology.kubernetes.io/zone, maxSkew 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(tt.objs...)
			p, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Capacity.Fits != tt.fits {
				t.Fatalf("fits = %v, want %v: %s %+v", p.Capacity.Fits, tt.fits, p.Capacity.Summary, p.Capacity.Unplaced)
			}
			if tt.unplace != "" && (len(p.Capacity.Unplaced) == 0 || !strings.Contains(p.Capacity.Unplaced[0].Why, tt.unplace)) {
				t.Errorf("unplaced = %+v, want %q", p.Capacity.Unplaced, tt.unplace)
			}
		})
	}
}

// Cluster API's drain controls are honoured and shown in the plan.
func TestPlanClusterAPIDrainControls(t *testing.T) {
	excluded := node("n3")
	excluded.Annotations = map[string]string{AnnotationCAPIExcludeDrain: "true"}
	c := newClient(node("n1"), node("n2"), excluded,
		pod("a", "skip-me", "n1", ownedBy("ReplicaSet", "s"), labeled(LabelCAPIDrain, CAPIDrainSkip)),
		pod("a", "job-1", "n1", ownedBy("Job", "j"), labeled(LabelCAPIDrain, CAPIDrainWaitCompleted)),
		pod("a", "web-1", "n3", ownedBy("ReplicaSet", "w")))
	p, err := Plan(context.Background(), c, PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n1", "n3"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PodAction{}
	for _, n := range p.Nodes {
		for _, pp := range n.Pods {
			got[pp.Name] = pp.Action
		}
	}
	if got["skip-me"] != ActionSkip || got["job-1"] != ActionWait || got["web-1"] != ActionSkip {
		t.Errorf("actions = %v", got)
	}
	if p.Nodes[1].Excluded == "" || !p.Nodes[1].Pods[0].has(ReasonNodeExcluded) {
		t.Errorf("node n3 = %+v", p.Nodes[1])
	}
	// The drain waits for the wait-completed pod: bounded here, it ends naming it.
	res, err := Drain(context.Background(), c, DrainOptions{PlanOptions: p.Options, Writer: writer(""), Timeout: 500 * time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "a/job-1") {
		t.Fatalf("drain: %v", err)
	}
	if res.Nodes[1].State != NodeExcluded || getNode(t, c, "n3").Spec.Unschedulable {
		t.Errorf("excluded node drained or cordoned: %+v", res.Nodes[1])
	}
}
