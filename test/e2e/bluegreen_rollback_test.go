package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Rollback to a color that promote scaled to 0: rollback scales it back up, waits for its
// pods, and moves traffic to it at once (exit 0), although the Deployment's status may lag
// behind its Ready pods; afterwards the EndpointSlices hold only its pods, and the live
// color never had fewer ready endpoints than at the start.
func TestBlueGreenRollbackFromZero(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:2.0")
	run(t, h, 0, "switch", "teal", lgSvc, "-n", ns)
	run(t, h, 0, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	if n := lgReplicas(h, ns, lgAmber); n != "0" {
		t.Fatalf("promote left amber at %s replicas", n)
	}
	rec := h.RecordEndpoints(ns, lgSvc)
	rec.WaitUntil("2 ready teal endpoints", func(ready []harness.Endpoint) bool {
		return len(ready) == 2 && rec.LabelValues(ready, lgKey)["teal"] == 2
	})
	start := time.Now()

	r := run(t, h, 0, "rollback", lgSvc, "-n", ns)
	rolledBack := time.Now()
	if !strings.Contains(r.Stdout, "rolled back from teal to amber") {
		t.Errorf("rollback output:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
	if live, amber := lgLive(h, ns), lgReplicas(h, ns, lgAmber); live != "amber" || amber != "2" {
		t.Fatalf("after rollback: live %s, amber %s replicas", live, amber)
	}
	if rc := lgRelease(t, h, ns); rc.Phase != "rolled-back" || rc.Live != "amber" || rc.Operation != nil {
		t.Errorf("record after rollback: %+v", rc)
	}
	amberPods := map[string]bool{}
	for _, p := range h.WaitForPodsReady(ns, "tier=books,"+lgKey+"=amber", 2) {
		amberPods[p.Name] = true
	}
	rec.WaitUntil("only amber's pods", func(ready []harness.Endpoint) bool {
		for _, e := range ready {
			if !amberPods[e.Pod] {
				return false
			}
		}
		return len(ready) == len(amberPods)
	})
	if vals := valuesBetween(rec, rolledBack, time.Now(), lgKey); len(vals) != 1 || !vals["amber"] {
		t.Errorf("after the rollback returned the service served %v, want amber only:\n%s", vals, strings.Join(rec.Colors(lgKey), "\n"))
	}
	if least := rec.MinReadySince(start); least < 2 {
		t.Errorf("ready endpoints fell to %d (started with 2):\n%s", least, strings.Join(rec.Colors(lgKey), "\n"))
	}
	// A second rollback changes nothing.
	if r := run(t, h, 0, "rollback", lgSvc, "-n", ns); !strings.Contains(r.Stdout, "already rolled back") {
		t.Errorf("second rollback: %s", r.Stdout)
	}
}

// An HPA created with kubectl (a second writer) on the live color after the switch: the
// next release's deploy sees it, and the promote that switches to that release moves it to
// the new color before it scales the old one to 0.
func TestBlueGreenForeignAutoscalerFollowsPromote(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:2.0")
	run(t, h, 0, "switch", "teal", lgSvc, "-n", ns)
	h.MustKubectl("-n", ns, "autoscale", "deploy", lgTeal, "--min", "2", "--max", "4", "--cpu-percent", "80")
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:3.0")
	r := run(t, h, 0, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	if target := h.MustKubectl("-n", ns, "get", "hpa", lgTeal, "-o", "jsonpath={.spec.scaleTargetRef.name}"); target != lgAmber {
		t.Errorf("the HPA made with kubectl scales %s after the promote to amber, want %s\nstdout:\n%s\nstderr:\n%s", target, lgAmber, r.Stdout, r.Stderr)
	}
	if live, teal := lgLive(h, ns), lgReplicas(h, ns, lgTeal); live != "amber" || teal != "0" {
		t.Errorf("after promote: live %s, teal %s replicas", live, teal)
	}
}
