package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestMaintenancePoolInterruptAndResume rolls through a pool of three nodes one at a time
// with --wait-ready, is interrupted while the first node's replacements are not Ready yet,
// and is resumed: the re-run waits for them with the numbers recorded on the node before the
// evictions (not with what is Ready after), then drains the rest.
func TestMaintenancePoolInterruptAndResume(t *testing.T) {
	h := harness.For(t)
	p, ns, sel := slowPool(h, "8s", "e2e.feastflow.dev/retire=true", "a", "b", "c")

	run := startFeastflow(t, h, "maintenance", "drain", "-l", sel, "--max-unavailable-nodes", "1", "--wait-ready", "--yes", "--timeout", "5m")
	run.waitLine(t, "node "+p.nodes[0]+": waiting for replacements to be Ready elsewhere", 60*time.Second)
	if err := run.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-run.done
	_ = run.cmd.Wait()
	if code := run.cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d after SIGINT, want 130:\n%s", code, run.text())
	}
	// Recorded on the node, before its first eviction: app a had 2 Ready pods.
	var st struct {
		Phase string
		Want  map[string]struct {
			Owner string
			Ready int
		}
	}
	if err := json.Unmarshal([]byte(p.node(0).Annotations["feastflow.dev/drain-state"]), &st); err != nil {
		t.Fatalf("drain state on %s: %v", p.nodes[0], err)
	}
	if st.Phase != "Cordoned" || len(st.Want) != 1 {
		t.Fatalf("drain state = %+v", st)
	}
	for _, w := range st.Want {
		if w.Ready != 2 || !strings.HasPrefix(w.Owner, ns+"/ReplicaSet/a-") {
			t.Errorf("recorded want = %+v", w)
		}
	}
	// The next nodes were cordoned, not drained: the roll waits for the first one.
	if len(p.podsOn(ns, p.nodes[1])) != 2 || len(p.podsOn(ns, p.nodes[2])) != 2 {
		t.Errorf("a node after the first lost pods before the first one's replacements were Ready")
	}
	st2 := h.Feastflow("maintenance", "status", "-l", sel)
	mustContain(t, "status during the pause", st2.Stdout, "pool: 3 node(s)")

	r := h.Feastflow("maintenance", "drain", "-l", sel, "--max-unavailable-nodes", "1", "--wait-ready", "--yes", "--timeout", "5m")
	if r.ExitCode != 0 {
		t.Fatalf("resume: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	mustContain(t, "resume stderr", r.Stderr, "node "+p.nodes[0]+": drained by an earlier run")
	for i := 0; i < 3; i++ {
		mustContain(t, "resume stdout", r.Stdout, p.nodes[i]+"   Drained,ReplacementsReady")
		if n := len(p.podsOn(ns, p.nodes[i])); n != 0 {
			t.Errorf("%d pods left on %s", n, p.nodes[i])
		}
	}
	st2 = h.Feastflow("maintenance", "status", "-l", sel, "-o", "json")
	mustContain(t, "status after", st2.Stdout, `"ReplacementsReady": 3`)
}

// slowPool makes a pool of one node more than apps, one two-pod Deployment per app on each
// of the first nodes (pods Ready after readyDelay), those nodes labelled label; it returns
// the pool, the namespace and the selector of the labelled nodes.
func slowPool(h *harness.H, readyDelay, label string, apps ...string) (*pool, string, string) {
	h.T.Helper()
	p := newPool(h, len(apps)+1, "4")
	ns := h.NewNamespace()
	slow := func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"sim.feastflow.dev/ready-delay": readyDelay}
	}
	for i, app := range apps {
		p.onNode(i, func() { deployment(h, p, ns, app, 2, "100m", slow) })
	}
	for _, n := range p.nodes[:len(apps)] {
		h.MustKubectl("label", "node", n, label)
	}
	return p, ns, poolKey + "=" + p.id + "," + label
}

// TestMaintenancePlanLikeTheScheduler: pods that only fit where the scheduler would refuse
// them — node selector, an untolerated taint, pod anti-affinity, topology spread — are named
// with the reason, on purpose-built private nodes.
func TestMaintenancePlanLikeTheScheduler(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 3, "4")
	ns := h.NewNamespace()
	zoneKey := "e2e.feastflow.dev/zone"
	h.MustKubectl("label", "node", p.nodes[0], zoneKey+"=a", "e2e.feastflow.dev/disk=ssd", "e2e.feastflow.dev/gpu-ok=true")
	h.MustKubectl("label", "node", p.nodes[1], zoneKey+"=b", "e2e.feastflow.dev/gpu-ok=true")
	h.MustKubectl("label", "node", p.nodes[2], zoneKey+"=b")
	labels := func(kv map[string]string) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			for k, v := range kv {
				d.Spec.Template.Labels[k] = v
			}
		}
	}
	spread := func(d *appsv1.Deployment) {
		d.Spec.Template.Labels["group"] = "spread"
		d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: zoneKey,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": "spread"}}}}
	}
	// Blockers on n1 and n2 that the anti-affine pod must not share a node with.
	p.onNode(1, func() { deployment(h, p, ns, "blocker-1", 1, "100m", labels(map[string]string{"role": "blocker"})) })
	p.onNode(2, func() {
		deployment(h, p, ns, "blocker-2", 1, "100m", labels(map[string]string{"role": "blocker"}))
		deployment(h, p, ns, "spread-b", 1, "100m", spread)
	})
	p.onNode(0, func() {
		deployment(h, p, ns, "ssd", 1, "100m", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.NodeSelector["e2e.feastflow.dev/disk"] = "ssd"
		})
		deployment(h, p, ns, "gpu", 1, "100m", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.NodeSelector["e2e.feastflow.dev/gpu-ok"] = "true"
		})
		deployment(h, p, ns, "anti", 1, "100m", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname",
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "blocker"}}}}}}
		})
		deployment(h, p, ns, "spread-a", 1, "100m", spread)
	})
	h.MustKubectl("taint", "node", p.nodes[1], "e2e.feastflow.dev/gpu=busy:NoSchedule")

	r := h.Feastflow("maintenance", "plan", p.nodes[0], "--ignore-daemonsets")
	if r.ExitCode != 0 {
		t.Fatalf("plan: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	mustContain(t, "plan", r.Stdout,
		"Deployment/ssd", "do not match its node selector or affinity",
		"have untolerated taint e2e.feastflow.dev/gpu",
		"break its pod anti-affinity (kubernetes.io/hostname)",
		"break its topology spread ("+zoneKey+", maxSkew 1)",
		"verdict: will cause downtime")
}
