package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestMaintenancePoolReadyTargetPerNode: two nodes in flight (--max-unavailable-nodes 2
// --wait-ready) whose pods belong to the same Deployment. Only one node's worth of
// replacements can run (the spare node has room for two pods; a fourth node stays cordoned).
// A node's slot must free when as many replacements are Ready as IT evicted — the other
// node's evictions are that node's to bring back — so one node reports its replacements
// Ready while the other's are still Pending; once room appears the other finishes too.
func TestMaintenancePoolReadyTargetPerNode(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 4, "2") // 0, 1: drained; 2: spare; 3: room that appears later
	ns := h.NewNamespace()
	h.MustKubectl("cordon", p.nodes[2], p.nodes[3])
	deployment(h, p, ns, "shared", 4, "1", nil) // two pods on each of nodes 0 and 1 (2 CPUs each)
	h.MustKubectl("uncordon", p.nodes[2])
	for i := 0; i < 2; i++ {
		if n := len(p.podsOn(ns, p.nodes[i])); n != 2 {
			t.Fatalf("%d pods on %s, want 2", n, p.nodes[i])
		}
		h.MustKubectl("label", "node", p.nodes[i], "e2e.feastflow.dev/retire=now")
	}
	sel := poolKey + "=" + p.id + ",e2e.feastflow.dev/retire=now"

	run := startFeastflow(t, h, "maintenance", "drain", "-l", sel, "--max-unavailable-nodes", "2", "--wait-ready", "--yes", "--timeout", "5m")
	at := run.waitLine(t, ": replacements Ready elsewhere", 2*time.Minute)
	var first, second string
	for i, n := range p.nodes[:2] {
		if strings.Contains(run.text(), "node "+n+": replacements Ready elsewhere") {
			first, second = n, p.nodes[1-i]
		}
	}
	// Two replacements run on the spare node; the other two cannot be placed while the
	// fourth node is cordoned.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	harness.WaitFor(ctx, h.Pods(ns, "app=shared"), "2 running and 2 Pending replacements", func(pods []*corev1.Pod) (bool, error) {
		on, pending := 0, 0
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Spec.NodeName == p.nodes[2]:
				on++
			case pod.Spec.NodeName == "":
				pending++
			}
		}
		return on == 2 && pending == 2, nil
	})
	if first == "" {
		t.Fatalf("no node of the pool reported Ready replacements:\n%s", run.text())
	}
	if strings.Contains(run.text(), "node "+second+": replacements Ready elsewhere") {
		t.Fatalf("both nodes reported Ready replacements with two of four running:\n%s", run.text())
	}
	h.MustKubectl("uncordon", p.nodes[3]) // room for the second node's replacements
	<-run.done
	_ = run.cmd.Wait()
	if code := run.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, run.stdout.String(), run.text())
	}
	done := run.waitLine(t, "node "+second+": replacements Ready elsewhere", time.Second)
	if !done.After(at) {
		t.Errorf("node %s's replacements reported before node %s's", second, first)
	}
	for _, n := range p.nodes[:2] {
		mustContain(t, "stdout", run.stdout.String(), n+"   Drained,ReplacementsReady")
	}
	for _, pod := range h.WaitForPodsReady(ns, "app=shared", 4) {
		if pod.Spec.NodeName != p.nodes[2] && pod.Spec.NodeName != p.nodes[3] {
			t.Errorf("pod %s on %s", pod.Name, pod.Spec.NodeName)
		}
	}
}
