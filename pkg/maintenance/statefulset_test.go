package maintenance

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func inZone(z string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[corev1.LabelTopologyZone] = z }
}

func withClaim(name string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}})
	}
}

func zonalClaim(ns, name, pv, zone string) []runtime.Object {
	return []runtime.Object{
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: pv}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pv}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
		}}}}}},
	}
}

// A StatefulSet pod is re-created with its name and claims; a zonal volume pins it to its
// zone: the plan names the nodes of that zone with room, or says it stays Pending.
func TestPlanStatefulSetPodZone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nodes   []runtime.Object
		want    string
		problem bool
	}{
		{"room in the zone", []runtime.Object{node("n1", inZone("a")), node("n2", inZone("b")), node("n3", inZone("a"))}, "its volume is in zone a: only nodes of that zone can take it — 1 have room (n3)", false},
		{"no other node in the zone", []runtime.Object{node("n1", inZone("a")), node("n2", inZone("b"))}, "no other node of that zone has room: it stays Pending", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]runtime.Object{}, tc.nodes...)
			objs = append(objs, pod("db", "pg-1", "n1", ownedBy("StatefulSet", "pg"), labeled("app", "pg"), withClaim("data-pg-1")),
				pod("db", "pg-0", "n2", ownedBy("StatefulSet", "pg"), labeled("app", "pg")))
			objs = append(objs, zonalClaim("db", "data-pg-1", "pv-1", "a")...)
			p, err := Plan(context.Background(), newClient(objs...), PlanOptions{NodeSelection: NodeSelection{Nodes: []string{"n1"}}})
			if err != nil {
				t.Fatal(err)
			}
			var msg string
			for _, r := range p.Nodes[0].Pods[0].Reasons {
				if r.Code == ReasonStatefulSet {
					msg = r.Message
				}
			}
			if !strings.Contains(msg, "re-created with the same name pg-1") || !strings.Contains(msg, "data-pg-1") || !strings.Contains(msg, tc.want) {
				t.Errorf("reason: %q, want %q", msg, tc.want)
			}
			if got := strings.Contains(strings.Join(p.Problems, "\n"), "stays Pending"); got != tc.problem || (tc.problem && p.Verdict == VerdictSafe) {
				t.Errorf("problems %q verdict %s", p.Problems, p.Verdict)
			}
		})
	}
}
