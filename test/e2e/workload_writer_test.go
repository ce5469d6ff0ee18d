package e2e

import (
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// A second writer between DaemonSet pause and resume: a changed update strategy stops
// resume (exit 1, naming the field and its manager, the DaemonSet left as the other writer
// set it, the pause record removed); a changed template is named by resume and rolls.
func TestDaemonSetPauseResumeSecondWriter(t *testing.T) {
	h := harness.For(t)
	ns := dsSetup(t, h)
	cnRun(t, h, 0, "pause", dsSvc, "-n", ns)
	h.MustKubectl("-n", ns, "patch", "ds", dsName, "--type=merge", "-p", `{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":2}}}}`)
	rv := cnRV(h, ns, "ds", dsName)
	r := cnRun(t, h, 1, "resume", dsSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "spec.updateStrategy changed") || !strings.Contains(r.Stderr, "since pause") || !strings.Contains(r.Stderr, `field manager "kubectl`) {
		t.Errorf("resume after a changed update strategy:\n%s", r.Stderr)
	}
	if cnRV(h, ns, "ds", dsName) != rv {
		t.Error("resume wrote the daemonset over the other writer's change")
	}
	if mu := h.MustKubectl("-n", ns, "get", "ds", dsName, "-o", "jsonpath={.spec.updateStrategy.rollingUpdate.maxUnavailable}"); mu != "2" {
		t.Errorf("maxUnavailable %q, want the other writer's 2", mu)
	}
	r = cnRun(t, h, 0, "resume", dsSvc, "-n", ns) // the pause is no longer recorded
	if !strings.Contains(r.Stdout, "not paused") {
		t.Errorf("second resume:\n%s", r.Stdout)
	}

	// Paused, someone sets a new image: resume names it, and the pods roll to it.
	cnRun(t, h, 0, "pause", dsSvc, "-n", ns)
	h.MustKubectl("-n", ns, "set", "image", "ds/"+dsName, "agent="+dsImg2)
	r = cnRun(t, h, 0, "resume", dsSvc, "-n", ns)
	if !strings.Contains(r.Stdout, "pod template changed while paused") || !strings.Contains(r.Stdout, dsImg2) {
		t.Errorf("resume after a template change:\n%s", r.Stdout)
	}
	dsExpect(t, h, ns, dsImg2)
}

// A StatefulSet rollback that waits for its pods stops when someone scales the
// StatefulSet meanwhile, naming the change.
func TestStatefulSetRollbackSecondWriter(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 2, "4s")
	cnRun(t, h, 0, "deploy", stsSvc, "--image", img2, "-n", ns)
	stsExpectImages(t, h, ns, img2, img2)
	code, stderr := cnInterruptNone(t, h, "waiting for every pod", func() {
		h.MustKubectl("-n", ns, "scale", "sts", stsName, "--replicas", "3")
	}, "rollback", stsSvc, "-n", ns)
	if code != 1 || !strings.Contains(stderr, "changed by someone else") || !strings.Contains(stderr, "replicas 2 → 3") {
		t.Errorf("rollback with a concurrent scale: exit %d\n%s", code, stderr)
	}
	if n := h.MustKubectl("-n", ns, "get", "sts", stsName, "-o", "jsonpath={.spec.replicas}"); n != "3" {
		t.Errorf("replicas %s: the other writer's scale was undone", n)
	}
}

// restart on a StatefulSet and a DaemonSet component: the restartedAt template annotation,
// waited for (--wait is the default); refused with the reason while a release is staged.
func TestWorkloadRestart(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 2, "0s")
	r := cnRun(t, h, 0, "restart", stsSvc, "-n", ns)
	if !strings.Contains(r.Stdout, "statefulset/"+stsName) {
		t.Errorf("restart sts:\n%s", r.Stdout)
	}
	if at := h.MustKubectl("-n", ns, "get", "sts", stsName, "-o", `jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`); at == "" {
		t.Error("no restartedAt in the statefulset's template")
	}
	stsWaitComplete(t, h, ns)
	cnRun(t, h, 0, "deploy", stsSvc, "--canary", "--image", img2, "-n", ns)
	rv := cnRV(h, ns, "sts", stsName)
	r = cnRun(t, h, 1, "restart", stsSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "a release or pause is recorded") || cnRV(h, ns, "sts", stsName) != rv {
		t.Errorf("restart during a staged release:\n%s", r.Stderr)
	}

	dns := dsSetup(t, h)
	r = cnRun(t, h, 0, "restart", dsSvc, "-n", dns)
	if !strings.Contains(r.Stdout, "daemonset/"+dsName) {
		t.Errorf("restart ds:\n%s", r.Stdout)
	}
	if at := h.MustKubectl("-n", dns, "get", "ds", dsName, "-o", `jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`); at == "" {
		t.Error("no restartedAt in the daemonset's template")
	}
}
