package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// StatefulSet releases on a component unlike the example: Service "ledger" selects
// tier=ledger-store; StatefulSet "ledger-db" has 5 replicas.

const (
	stsSvc  = "ledger"
	stsName = "ledger-db"
)

func stsManifest(replicas int, image, readyDelay string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  clusterIP: None
  selector:
    tier: ledger-store
  ports:
    - port: 5432
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[2]s
spec:
  serviceName: %[1]s
  replicas: %[3]d
  selector:
    matchLabels:
      tier: ledger-store
  template:
    metadata:
      labels:
        tier: ledger-store
      annotations:
        sim.feastflow.dev/ready-delay: "%[5]s"
    spec:
      containers:
        - name: store
          image: %[4]s
          ports:
            - containerPort: 5432
`, stsSvc, stsName, replicas, image, readyDelay)
}

// stsSetup applies the StatefulSet in a fresh namespace and waits for its pods.
func stsSetup(t *testing.T, h *harness.H, replicas int, readyDelay string) string {
	t.Helper()
	ns := h.NewNamespace()
	h.Apply(ns, stsManifest(replicas, "registry.local/ledger:1.0", readyDelay))
	h.WaitForPodsReady(ns, "tier=ledger-store", replicas)
	stsWaitComplete(t, h, ns)
	return ns
}

// stsWaitComplete waits (bounded) for kubectl rollout status sts to report complete.
func stsWaitComplete(t *testing.T, h *harness.H, ns string) {
	t.Helper()
	h.MustKubectl("-n", ns, "rollout", "status", "sts/"+stsName, "--timeout=2m")
}

// stsPods returns, per pod name, its image and controller-revision-hash.
func stsPods(t *testing.T, h *harness.H, ns string) map[string][2]string {
	t.Helper()
	out := h.MustKubectl("-n", ns, "get", "pods", "-l", "tier=ledger-store", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.containers[0].image} {.metadata.labels.controller-revision-hash}{"\n"}{end}`)
	pods := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			pods[f[0]] = [2]string{f[1], f[2]}
		}
	}
	return pods
}

// stsImages returns the image of each ordinal, "" where the pod does not exist.
func stsImages(t *testing.T, h *harness.H, ns string, replicas int) []string {
	t.Helper()
	pods := stsPods(t, h, ns)
	out := make([]string, replicas)
	for i := range out {
		out[i] = pods[fmt.Sprintf("%s-%d", stsName, i)][0]
	}
	return out
}

func stsExpectImages(t *testing.T, h *harness.H, ns string, want ...string) {
	t.Helper()
	if got := stsImages(t, h, ns, len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pod images by ordinal: %v, want %v", got, want)
	}
}

const (
	img1 = "registry.local/ledger:1.0"
	img2 = "registry.local/ledger:2.0"
	img3 = "registry.local/ledger:3.0"
)

// deploy --canary → step 20 % → step 60 % → promote: the highest ordinals move first, the
// Service never has fewer than replicas − maxUnavailable ready endpoints, re-runs write nothing.
func TestStatefulSetPartitionCanary(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 5, "1s")
	rec := h.RecordEndpoints(ns, stsSvc)
	if n := len(rec.Current()); n != 5 {
		t.Fatalf("ready endpoints before: %d", n)
	}
	r := cnRun(t, h, 0, "deploy", stsSvc, "--canary", "--image", img2, "-n", ns)
	if !strings.Contains(r.Stdout, "staged") {
		t.Errorf("deploy --canary output:\n%s", r.Stdout)
	}
	stsExpectImages(t, h, ns, img1, img1, img1, img1, img1)
	r = cnRun(t, h, 0, "canary-step", stsSvc, "--weight", "20", "-n", ns)
	if !strings.Contains(r.Stdout, "1 of 5 pods on the new revision (partition 4") || !strings.Contains(r.Stdout, "OrderedReady, maxUnavailable 1") {
		t.Errorf("step 20 output:\n%s", r.Stdout)
	}
	stsExpectImages(t, h, ns, img1, img1, img1, img1, img2)
	cnRun(t, h, 0, "canary-step", stsSvc, "--weight", "60", "-n", ns)
	stsExpectImages(t, h, ns, img1, img1, img2, img2, img2)

	// status shows the release with revisions and counts (-o json).
	r = cnRun(t, h, 0, "status", stsSvc, "-n", ns, "-o", "json")
	var rep struct {
		Components []struct {
			Strategy  string `json:"strategy"`
			Workloads []struct {
				Kind            string `json:"kind"`
				Updated         int    `json:"updated"`
				Ready           int    `json:"ready"`
				CurrentRevision string `json:"currentRevision"`
				UpdateRevision  string `json:"updateRevision"`
				Partition       *int   `json:"partition"`
				Release         *struct {
					Weight int `json:"weight"`
				} `json:"release"`
			} `json:"workloads"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || len(rep.Components) != 1 || len(rep.Components[0].Workloads) != 1 {
		t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
	}
	w := rep.Components[0].Workloads[0]
	if rep.Components[0].Strategy != "statefulset" || w.Updated != 3 || w.Ready != 5 || w.Partition == nil || *w.Partition != 2 || w.CurrentRevision == w.UpdateRevision || w.Release == nil || w.Release.Weight != 60 {
		t.Errorf("status: %+v", rep.Components[0])
	}
	r = cnRun(t, h, 0, "status", "-n", ns)
	if !strings.Contains(r.Stdout, "statefulset/"+stsName) || !strings.Contains(r.Stdout, "partition 2") {
		t.Errorf("status table:\n%s", r.Stdout)
	}

	cnRun(t, h, 0, "promote", stsSvc, "--yes", "-n", ns)
	stsExpectImages(t, h, ns, img2, img2, img2, img2, img2)
	rec.WaitUntil("5 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 5 })
	if n := rec.MinReady(); n < 4 {
		t.Errorf("ready endpoints fell to %d (replicas 5, maxUnavailable 1)", n)
	}
	// Re-running promote and the last step changes nothing.
	svcRV, stsRV := cnRV(h, ns, "svc", stsSvc), cnRV(h, ns, "sts", stsName)
	cnRun(t, h, 0, "promote", stsSvc, "--yes", "-n", ns)
	cnRun(t, h, 1, "canary-step", stsSvc, "-n", ns) // no release to step
	if cnRV(h, ns, "svc", stsSvc) != svcRV || cnRV(h, ns, "sts", stsName) != stsRV {
		t.Error("re-running promote wrote")
	}
}

// step → abort returns every pod to the old revision, one pod at a time.
func TestStatefulSetAbort(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 5, "1s")
	oldRev := h.MustKubectl("-n", ns, "get", "sts", stsName, "-o", "jsonpath={.status.currentRevision}")
	rec := h.RecordEndpoints(ns, stsSvc)
	cnRun(t, h, 0, "deploy", stsSvc, "--canary", "--image", img2, "-n", ns)
	cnRun(t, h, 0, "canary-step", stsSvc, "--weight", "40", "-n", ns)
	stsExpectImages(t, h, ns, img1, img1, img1, img2, img2)
	cnRun(t, h, 1, "abort", stsSvc, "-n", ns) // no terminal, no --yes
	r := cnRun(t, h, 0, "abort", stsSvc, "--yes", "-n", ns)
	if !strings.Contains(r.Stdout, "back on revision "+oldRev) {
		t.Errorf("abort output:\n%s", r.Stdout)
	}
	stsExpectImages(t, h, ns, img1, img1, img1, img1, img1)
	for name, p := range stsPods(t, h, ns) {
		if p[1] != oldRev {
			t.Errorf("pod %s on revision %s, want %s", name, p[1], oldRev)
		}
	}
	if part := h.MustKubectl("-n", ns, "get", "sts", stsName, "-o", "jsonpath={.spec.updateStrategy.rollingUpdate.partition}"); part != "0" {
		t.Errorf("partition after abort: %q", part)
	}
	rec.WaitUntil("5 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 5 })
	if n := rec.MinReady(); n < 4 {
		t.Errorf("ready endpoints fell to %d during abort", n)
	}
	if state := h.MustKubectl("-n", ns, "get", "svc", stsSvc, "-o", `jsonpath={.metadata.annotations}`); strings.Contains(state, `workload`) || !strings.Contains(state, `feastflow.dev/release`) {
		t.Errorf("release record after abort still holds the statefulset's release (or is missing): %s", state)
	}
	cnRun(t, h, 0, "abort", stsSvc, "--yes", "-n", ns) // nothing left to abort
}

// A crash-looping updated pod blocks the next step (the health gate); a crash-looping new
// image fails deploy fast with the pod named; abort brings the crash-looping pods back.
func TestStatefulSetGateAndFailFast(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 3, "0s")
	cnRun(t, h, 0, "deploy", stsSvc, "--canary", "--image", img2, "-n", ns)
	cnRun(t, h, 0, "canary-step", stsSvc, "--weight", "34", "-n", ns)
	h.MustKubectl("-n", ns, "label", "pod", stsName+"-2", "sim.feastflow.dev/state=crashloop")
	h.WaitForPod(ns, stsName+"-2", "crash-looping", func(p *corev1.Pod) bool { return !harness.PodReady(p) })
	r := cnRun(t, h, 1, "canary-step", stsSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "not healthy, nothing changed") || !strings.Contains(r.Stderr, stsName+"-2") {
		t.Errorf("canary-step on a crash-looping canary:\n%s", r.Stderr)
	}
	cnRun(t, h, 0, "abort", stsSvc, "--yes", "-n", ns)
	stsExpectImages(t, h, ns, img1, img1, img1)

	start := time.Now()
	r = cnRun(t, h, 1, "deploy", stsSvc, "--image", "registry.local/ledger:crashloop", "-n", ns)
	if !strings.Contains(r.Stderr, "CrashLoopBackOff") || !strings.Contains(r.Stderr, "pod "+stsName+"-2") {
		t.Errorf("deploy of a crash-looping image:\n%s", r.Stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("deploy took %s to report the crash loop", d)
	}
	// rollback while the release is recorded = abort: every pod back on 1.0.
	cnRun(t, h, 0, "rollback", stsSvc, "-n", ns)
	stsExpectImages(t, h, ns, img1, img1, img1)
}

// rollback and history agree with kubectl rollout history sts.
func TestStatefulSetRollbackHistory(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 2, "0s")
	cnRun(t, h, 0, "deploy", stsSvc, "--image", img2, "-n", ns)
	cnRun(t, h, 0, "deploy", stsSvc, "--image", img3, "-n", ns)
	stsExpectImages(t, h, ns, img3, img3)
	kh := h.MustKubectl("-n", ns, "rollout", "history", "sts/"+stsName)
	r := cnRun(t, h, 0, "history", stsSvc, "-n", ns, "-o", "json")
	var hist struct {
		Workloads []struct {
			Current   int64 `json:"currentRevision"`
			Revisions []struct {
				Revision    int64  `json:"revision"`
				ChangeCause string `json:"changeCause"`
				Images      []struct {
					Image string `json:"image"`
				} `json:"images"`
			} `json:"revisions"`
		} `json:"workloads"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &hist); err != nil || len(hist.Workloads) != 1 {
		t.Fatalf("history -o json: %v\n%s", err, r.Stdout)
	}
	revs := hist.Workloads[0].Revisions
	if len(revs) != 3 || hist.Workloads[0].Current != 3 || revs[2].Images[0].Image != img3 || !strings.Contains(revs[2].ChangeCause, "deploy "+stsSvc) {
		t.Errorf("history: %+v", hist.Workloads[0])
	}
	for _, rv := range revs {
		if !strings.Contains(kh, fmt.Sprintf("\n%d ", rv.Revision)) {
			t.Errorf("revision %d not in kubectl rollout history:\n%s", rv.Revision, kh)
		}
	}
	cnRun(t, h, 0, "rollback", stsSvc, "-n", ns)
	stsExpectImages(t, h, ns, img2, img2)
	cnRun(t, h, 0, "rollback", stsSvc, "--to-revision", "1", "-n", ns)
	stsExpectImages(t, h, ns, img1, img1)
	rv := cnRV(h, ns, "sts", stsName)
	cnRun(t, h, 0, "rollback", stsSvc, "--to-revision", "1", "-n", ns) // re-run: renumbered, nothing to do
	if cnRV(h, ns, "sts", stsName) != rv {
		t.Error("re-running rollback wrote")
	}
	cnRun(t, h, 1, "rollback", stsSvc, "--to-revision", "42", "-n", ns)
	r = h.Feastflow("rollback", stsSvc, "--to-revision", "-1", "-n", ns)
	if r.ExitCode != 2 {
		t.Errorf("--to-revision -1: exit %d", r.ExitCode)
	}
	// Rolling back renumbers the revision returned to as the newest, in kubectl's view too.
	if kh2 := h.MustKubectl("-n", ns, "rollout", "history", "sts/"+stsName); !strings.Contains(kh2, "\n5 ") || strings.Contains(kh2, "\n1 ") {
		t.Errorf("kubectl rollout history after rollback:\n%s", kh2)
	}
}

// A second writer in the middle of a step: the step stops and says so; a re-run continues.
func TestStatefulSetSecondWriter(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 4, "0s")
	cnRun(t, h, 0, "deploy", stsSvc, "--canary", "--image", img2, "-n", ns)
	// New pods take long to become Ready: the step waits, and meanwhile someone scales.
	h.MustKubectl("-n", ns, "patch", "sts", stsName, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/ready-delay":"8s"}}}}}`)
	// That template change is a second writer too: deploy records it, so re-stage.
	cnRun(t, h, 0, "deploy", stsSvc, "--canary", "--image", img2, "-n", ns)
	code, stderr := cnInterruptNone(t, h, "pods (ordinals", func() {
		h.MustKubectl("-n", ns, "scale", "sts", stsName, "--replicas", "5")
	}, "canary-step", stsSvc, "--weight", "50", "-n", ns)
	if code != 1 || !strings.Contains(stderr, "changed by someone else") || !strings.Contains(stderr, "replicas 4 → 5") {
		t.Errorf("step with a concurrent scale: exit %d\n%s", code, stderr)
	}
	// A partition patch between runs fails the next write's precondition: nothing written.
	h.MustKubectl("-n", ns, "patch", "sts", stsName, "--type=merge", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":5}}}}`)
	r := cnRun(t, h, 0, "canary-step", stsSvc, "-n", ns)
	if !strings.Contains(r.Stdout, "completed the interrupted step") {
		t.Errorf("re-run after the second writer:\n%s\n%s", r.Stdout, r.Stderr)
	}
}

// Bad input: exit 2 before any request, or 1 with the reason; nothing changed.
func TestStatefulSetBadInput(t *testing.T) {
	h := harness.For(t)
	ns := stsSetup(t, h, 2, "0s")
	rv := cnRV(h, ns, "sts", stsName)
	cnRun(t, h, 2, "canary-step", stsSvc, "--weight", "150", "-n", ns)
	cnRun(t, h, 2, "deploy", stsSvc, "--image", "store=", "-n", ns)
	cnRun(t, h, 1, "deploy", stsSvc, "--image", "nosuch="+img2, "-n", ns) // an unknown container: 1, like every verb
	r := cnRun(t, h, 1, "canary-step", stsSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "no release to step") {
		t.Errorf("canary-step without a release:\n%s", r.Stderr)
	}
	cnRun(t, h, 0, "deploy", stsSvc, "--image", img2, "--dry-run=server", "-n", ns)
	if cnRV(h, ns, "sts", stsName) != rv {
		t.Error("bad input or a dry run changed the statefulset")
	}
	cnRun(t, h, 0, "deploy", stsSvc, "--image", img2, "-n", ns)
	rv = cnRV(h, ns, "sts", stsName)
	cnRun(t, h, 0, "deploy", stsSvc, "--image", img2, "-n", ns) // re-run
	if cnRV(h, ns, "sts", stsName) != rv {
		t.Error("re-running deploy wrote")
	}
}

// cnInterruptNone runs the plugin through kubectl until its stderr shows a line containing
// trigger, then calls during (a second writer) and waits for the plugin to end by itself; it
// returns the exit code and stderr.
func cnInterruptNone(t *testing.T, h *harness.H, trigger string, during func(), args ...string) (int, string) {
	t.Helper()
	return cnRunUntil(t, h, trigger, func(*exec.Cmd) { during() }, args...)
}

// examples/feastflow-stateful: postgres as a StatefulSet (one bound PVC per replica) and a
// log agent DaemonSet, each recognised as its component.
func TestExampleStatefulBecomesReady(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow-stateful")
	for i := 0; i < 3; i++ {
		h.WaitForPVCBound(ns, fmt.Sprintf("data-postgres-%d", i))
	}
	h.MustKubectl("-n", ns, "rollout", "status", "sts/postgres", "--timeout=2m")
	h.MustKubectl("-n", ns, "rollout", "status", "ds/log-agent", "--timeout=2m")
	r := cnRun(t, h, 0, "status", "-n", ns, "-o", "json")
	for _, want := range []string{`"name": "postgres"`, `"strategy": "statefulset"`, `"name": "log-agent"`, `"strategy": "daemonset"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status -o json lacks %s:\n%s", want, r.Stdout)
		}
	}
}
