package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// DaemonSet releases on a component unlike the example: Service "shipper" selects
// role=log-shipper; DaemonSet "shipper-agent" runs on every node.

const (
	dsSvc  = "shipper"
	dsName = "shipper-agent"
	dsImg1 = "registry.local/shipper:1.0"
	dsImg2 = "registry.local/shipper:2.0"
)

func dsSetup(t *testing.T, h *harness.H) string {
	t.Helper()
	ns := h.NewNamespace()
	h.Apply(ns, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector:
    role: log-shipper
  ports:
    - port: 24224
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: %[2]s
spec:
  selector:
    matchLabels:
      role: log-shipper
  template:
    metadata:
      labels:
        role: log-shipper
    spec:
      containers:
        - name: agent
          image: %[3]s
`, dsSvc, dsName, dsImg1))
	h.MustKubectl("-n", ns, "rollout", "status", "ds/"+dsName, "--timeout=2m")
	return ns
}

// dsImages returns the distinct images of the DaemonSet's pods and how many pods there are.
func dsImages(t *testing.T, h *harness.H, ns string) (map[string]int, int) {
	t.Helper()
	out := h.MustKubectl("-n", ns, "get", "pods", "-l", "role=log-shipper", "-o", `jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}`)
	images := map[string]int{}
	n := 0
	for _, l := range strings.Fields(out) {
		images[l]++
		n++
	}
	return images, n
}

func dsExpect(t *testing.T, h *harness.H, ns, image string) {
	t.Helper()
	h.MustKubectl("-n", ns, "rollout", "status", "ds/"+dsName, "--timeout=2m")
	desired := h.MustKubectl("-n", ns, "get", "ds", dsName, "-o", "jsonpath={.status.desiredNumberScheduled}")
	images, n := dsImages(t, h, ns)
	if fmt.Sprint(n) != desired || images[image] != n {
		t.Fatalf("daemonset pods: %v (%d pods, %s desired), want all on %s", images, n, desired, image)
	}
}

func TestDaemonSetRelease(t *testing.T) {
	h := harness.For(t)
	ns := dsSetup(t, h)
	if n := strings.TrimSpace(h.MustKubectl("-n", ns, "get", "ds", dsName, "-o", "jsonpath={.status.desiredNumberScheduled}")); n == "0" || n == "1" {
		t.Fatalf("want a multi-node cluster, desiredNumberScheduled %s", n)
	}
	r := cnRun(t, h, 0, "deploy", dsSvc, "--image", dsImg2, "-n", ns)
	if !strings.Contains(r.Stdout, "runs "+dsImg2+" on all") {
		t.Errorf("deploy output:\n%s", r.Stdout)
	}
	dsExpect(t, h, ns, dsImg2)
	r = cnRun(t, h, 0, "status", dsSvc, "-n", ns)
	if !strings.Contains(r.Stdout, "daemonset/"+dsName) || !strings.Contains(r.Stdout, "pool zone ") {
		t.Errorf("status:\n%s", r.Stdout)
	}

	// canary-step is refused with the reason.
	r = cnRun(t, h, 1, "canary-step", dsSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "one pod per node") {
		t.Errorf("canary-step on a daemonset:\n%s", r.Stderr)
	}

	// pause = OnDelete, recorded; deploy refused while paused; resume restores RollingUpdate.
	cnRun(t, h, 0, "pause", dsSvc, "-n", ns)
	if typ := h.MustKubectl("-n", ns, "get", "ds", dsName, "-o", "jsonpath={.spec.updateStrategy.type}"); typ != "OnDelete" {
		t.Errorf("update strategy after pause: %s", typ)
	}
	rv := cnRV(h, ns, "ds", dsName)
	cnRun(t, h, 0, "pause", dsSvc, "-n", ns) // re-run: nothing
	r = cnRun(t, h, 1, "deploy", dsSvc, "--image", dsImg1, "-n", ns)
	if !strings.Contains(r.Stderr, "paused") || cnRV(h, ns, "ds", dsName) != rv {
		t.Errorf("deploy while paused:\n%s", r.Stderr)
	}
	cnRun(t, h, 0, "resume", dsSvc, "-n", ns)
	if typ := h.MustKubectl("-n", ns, "get", "ds", dsName, "-o", "jsonpath={.spec.updateStrategy.type} {.spec.updateStrategy.rollingUpdate.maxUnavailable}"); typ != "RollingUpdate 1" {
		t.Errorf("update strategy after resume: %q", typ)
	}
	cnRun(t, h, 0, "resume", dsSvc, "-n", ns) // re-run: nothing

	// rollback to the previous revision, then to revision 2 by number; history agrees with kubectl.
	cnRun(t, h, 0, "rollback", dsSvc, "-n", ns)
	dsExpect(t, h, ns, dsImg1)
	kh := h.MustKubectl("-n", ns, "rollout", "history", "ds/"+dsName)
	r = cnRun(t, h, 0, "history", dsSvc, "-n", ns)
	if !strings.Contains(r.Stdout, "daemonset/"+dsName) || !strings.Contains(r.Stdout, dsImg2) || !strings.Contains(kh, "\n2 ") {
		t.Errorf("history:\n%s\nkubectl:\n%s", r.Stdout, kh)
	}
	cnRun(t, h, 0, "rollback", dsSvc, "--to-revision", "2", "-n", ns)
	dsExpect(t, h, ns, dsImg2)

	// A crash-looping image fails fast, naming a node.
	start := time.Now()
	r = cnRun(t, h, 1, "deploy", dsSvc, "--image", "registry.local/shipper:crashloop", "-n", ns)
	if !strings.Contains(r.Stderr, "CrashLoopBackOff") || !strings.Contains(r.Stderr, "node ") {
		t.Errorf("deploy of a crash-looping image:\n%s", r.Stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("deploy took %s to fail", d)
	}
	cnRun(t, h, 0, "rollback", dsSvc, "-n", ns)
	dsExpect(t, h, ns, dsImg2)
}
