package e2e

import (
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// scale is strategy-aware: a blue-green component scales its live color (the idle color,
// scaled to 0, stays there), a canary component scales its total at the current weight; an
// HPA created by autoscale points at the serving Deployment, and scale then refuses to fight
// it, changing nothing.
func TestScaleAndAutoscale(t *testing.T) {
	h := harness.For(t)

	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, "feastflow-backend-blue")
	cnRun(t, h, 0, "scale", "feastflow-backend", "--replicas", "3", "-n", ns)
	h.WaitForRollout(ns, "feastflow-backend-blue")
	got := h.MustKubectl("-n", ns, "get", "deploy", "feastflow-backend-blue", "feastflow-backend-green", "-o", "jsonpath={.items[0].spec.replicas} {.items[1].spec.replicas}")
	if got != "3 0" {
		t.Fatalf("replicas blue, green = %q, want \"3 0\"", got)
	}
	rv := cnRV(h, ns, "deploy", "feastflow-backend-blue")
	cnRun(t, h, 0, "scale", "feastflow-backend", "--replicas", "3", "-n", ns)
	if cnRV(h, ns, "deploy", "feastflow-backend-blue") != rv {
		t.Error("re-running scale wrote")
	}

	cnRun(t, h, 0, "autoscale", "feastflow-backend", "--min", "2", "--max", "6", "--cpu-percent", "70", "-n", ns)
	target := h.MustKubectl("-n", ns, "get", "hpa", "feastflow-backend", "-o", "jsonpath={.spec.scaleTargetRef.name} {.spec.minReplicas} {.spec.maxReplicas}")
	if target != "feastflow-backend-blue 2 6" {
		t.Errorf("hpa target, min, max = %q", target)
	}
	rv = cnRV(h, ns, "deploy", "feastflow-backend-blue")
	r := cnRun(t, h, 1, "scale", "feastflow-backend", "--replicas", "5", "-n", ns)
	if !strings.Contains(r.Stderr, "horizontalpodautoscaler") && !strings.Contains(r.Stderr, "hpa") {
		t.Errorf("scale under an HPA: stderr does not name it:\n%s", r.Stderr)
	}
	if cnRV(h, ns, "deploy", "feastflow-backend-blue") != rv {
		t.Error("scale refused by the HPA still wrote")
	}

	cns := cnSetup(t, h, "0s")
	cnRun(t, h, 0, "scale", cnSvc, "--replicas", "20", "-n", cns)
	cnExpect(t, h, cns, 18, 2) // 10 % kept
}
