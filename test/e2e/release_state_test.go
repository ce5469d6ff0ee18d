package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Release state with a second writer: names, label keys and colors other than the
// example's (a Service "ledger" whose color key is "flavor", colors amber and teal).

const (
	lgSvc   = "ledger"
	lgAmber = "ledger-amber"
	lgTeal  = "ledger-teal"
	lgKey   = "flavor"
)

// lgColor is one color Deployment of ledger.
func lgColor(color string, replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-%[1]s
  labels: {tier: books, %[4]s: %[1]s}
spec:
  replicas: %[2]d
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector:
    matchLabels: {tier: books, %[4]s: %[1]s}
  template:
    metadata:
      labels: {tier: books, %[4]s: %[1]s}
      annotations: {sim.feastflow.dev/ready-delay: 1s}
    spec:
      containers:
      - name: books
        image: %[3]s
        ports: [{name: web, containerPort: 8080}]
`, color, replicas, image, lgKey)
}

// lgSetup creates ledger: amber live with 2 replicas, teal idle with 0 (pods Ready 1 s
// after they start).
func lgSetup(t *testing.T, h *harness.H) string {
	t.Helper()
	return lgSetupDelay(t, h, "1s")
}

// lgRecord is the release record on the Service.
type lgRecord struct {
	Phase     string `json:"phase"`
	Live      string `json:"live"`
	Previous  string `json:"previous"`
	Pending   string `json:"pending"`
	Operation *struct {
		Verb string `json:"verb"`
	} `json:"operation"`
	Workloads map[string]struct {
		UID             string `json:"uid"`
		PodTemplateHash string `json:"podTemplateHash"`
	} `json:"workloads"`
}

func lgRelease(t *testing.T, h *harness.H, ns string) lgRecord {
	t.Helper()
	raw := h.MustKubectl("-n", ns, "get", "svc", lgSvc, "-o", `jsonpath={.metadata.annotations.feastflow\.dev/release}`)
	var r lgRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("release record %q: %v", raw, err)
	}
	return r
}

func lgLive(h *harness.H, ns string) string {
	return h.MustKubectl("-n", ns, "get", "svc", lgSvc, "-o", "jsonpath={.spec.selector."+lgKey+"}")
}

func lgReplicas(h *harness.H, ns, d string) string {
	return h.MustKubectl("-n", ns, "get", "deploy", d, "-o", "jsonpath={.spec.replicas}")
}

// run runs the plugin and fails the test unless it exits with want.
func run(t *testing.T, h *harness.H, want int, args ...string) harness.Result {
	t.Helper()
	r := h.Feastflow(args...)
	if r.ExitCode != want {
		t.Fatalf("kubectl feastflow %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.ExitCode, want, r.Stdout, r.Stderr)
	}
	return r
}

// Between switch and promote a second writer labels, annotates, scales and changes the
// image of the old color, and labels, annotates and scales the live one: promote still
// retires the old color and keeps the new one live. Then a new image set on the live color
// by hand makes status warn and promote refuse; rollback returns to the recorded color.
func TestReleaseStateForeignWrites(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	rec := h.RecordEndpoints(ns, lgSvc)
	rec.WaitUntil("2 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) >= 2 })
	start := time.Now()

	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:2.0")
	if r := lgRelease(t, h, ns); r.Phase != "deployed" || r.Pending != "teal" || r.Live != "amber" {
		t.Fatalf("record after deploy: %+v", r)
	}
	run(t, h, 0, "switch", "teal", lgSvc, "-n", ns)
	switched := time.Now()
	if r := lgRelease(t, h, ns); r.Phase != "switched" || r.Live != "teal" || r.Previous != "amber" || r.Workloads["teal"].UID == "" || r.Workloads["teal"].PodTemplateHash == "" {
		t.Fatalf("record after switch: %+v", r)
	}

	// The second writer, on both colors.
	for _, args := range [][]string{
		{"label", "deploy", lgAmber, "owner=payments"},
		{"annotate", "deploy", lgAmber, "note=checked"},
		{"scale", "deploy", lgAmber, "--replicas", "3"},
		{"set", "image", "deploy/" + lgAmber, "books=registry.example/books:0.9"},
		{"label", "deploy", lgTeal, "owner=payments"},
		{"annotate", "deploy", lgTeal, "note=checked"},
		{"scale", "deploy", lgTeal, "--replicas", "3"},
	} {
		h.MustKubectl(append([]string{"-n", ns}, args...)...)
	}
	h.WaitForRollout(ns, lgTeal)
	st := run(t, h, 0, "status", lgSvc, "-n", ns, "-o", "json")
	if strings.Contains(st.Stdout, `"warnings"`) {
		t.Errorf("status warns after writes that do not change the live template:\n%s", st.Stdout)
	}
	r := run(t, h, 0, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	if !strings.Contains(r.Stdout, "teal is live, amber (ledger-amber) scaled to 0") {
		t.Errorf("promote: %s", r.Stdout)
	}
	if live, n := lgLive(h, ns), lgReplicas(h, ns, lgAmber); live != "teal" || n != "0" {
		t.Fatalf("after promote: live %s, amber %s replicas", live, n)
	}
	if n := lgReplicas(h, ns, lgTeal); n != "3" {
		t.Errorf("promote changed the live color's replicas to %s", n)
	}
	if r := lgRelease(t, h, ns); r.Phase != "promoted" || r.Operation != nil {
		t.Errorf("record after promote: %+v", r)
	}
	if vals := valuesBetween(rec, switched, time.Now(), lgKey); len(vals) != 1 || !vals["teal"] {
		t.Errorf("after the switch the service served %v", vals)
	}
	if least := rec.MinReadySince(start); least < 2 {
		t.Errorf("ready endpoints fell to %d (started with 2)", least)
	}

	// A new release on amber, switched to, then changed by hand on the live color.
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:3.0")
	run(t, h, 0, "switch", "amber", lgSvc, "-n", ns)
	h.MustKubectl("-n", ns, "set", "image", "deploy/"+lgAmber, "books=registry.example/books:3.1")
	st = run(t, h, 0, "status", lgSvc, "-n", ns)
	if !strings.Contains(st.Stdout, "pod template changed since") {
		t.Errorf("status does not say the live template changed:\n%s", st.Stdout)
	}
	r = run(t, h, 1, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	if !strings.Contains(r.Stderr, "no longer runs the release switched to") || !strings.Contains(r.Stderr, "kubectl") {
		t.Errorf("promote refusal: %s", r.Stderr)
	}
	if n := lgReplicas(h, ns, lgTeal); n != "3" || lgLive(h, ns) != "amber" {
		t.Fatalf("the refused promote changed something: teal %s replicas, live %s", n, lgLive(h, ns))
	}
	run(t, h, 0, "rollback", lgSvc, "-n", ns)
	if live := lgLive(h, ns); live != "teal" {
		t.Fatalf("rollback left %s live", live)
	}
	if least := rec.MinReadySince(start); least < 2 {
		t.Errorf("ready endpoints fell to %d (started with 2)", least)
	}
}

// A kubectl scale of the old color during promote's scale-down delay stops promote with
// exit 1, naming the change and who made it; nothing is scaled to 0 and the live color stays.
func TestReleaseStatePromoteConcurrentScale(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:2.0")
	run(t, h, 0, "switch", "teal", lgSvc, "-n", ns)

	done := make(chan harness.Result, 1)
	go func() {
		done <- h.Feastflow("promote", lgSvc, "-n", ns, "--scale-down-delay", "8s", "--yes")
	}()
	// Once the promote is recorded in progress, scale the old color by hand.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	harness.WaitFor(ctx, h.Services(ns), "promote recorded in progress", func(svcs []*corev1.Service) (bool, error) {
		for _, s := range svcs {
			if s.Name == lgSvc && strings.Contains(s.Annotations["feastflow.dev/release"], `"phase":"promoting"`) {
				return true, nil
			}
		}
		return false, nil
	})
	h.MustKubectl("-n", ns, "scale", "deploy", lgAmber, "--replicas", "1")
	r := <-done
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "spec.replicas changed from 2 to 1") || !strings.Contains(r.Stderr, "kubectl") {
		t.Fatalf("promote during a foreign scale: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if n, live := lgReplicas(h, ns, lgAmber), lgLive(h, ns); n != "1" || live != "teal" {
		t.Fatalf("after the stopped promote: amber %s replicas, live %s", n, live)
	}
	// Re-running finishes from the state as it is now.
	run(t, h, 0, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	if n := lgReplicas(h, ns, lgAmber); n != "0" {
		t.Fatalf("re-run promote left amber at %s", n)
	}
}

// The canary bug: canary-step --weight 50 on 9 stable + 1 canary while someone
// scales the canary to 1. The step stops with exit 1 naming the change; the stable track is
// not scaled down, so the ready pods never drop below the 10 at the start.
func TestCanaryStepConcurrentScale(t *testing.T) {
	h := harness.For(t)
	ns := cnSetup(t, h, "4s")
	rec := h.RecordEndpoints(ns, cnSvc)
	rec.WaitUntil("10 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) >= 10 })
	start := time.Now()

	done := make(chan harness.Result, 1)
	go func() { done <- h.Feastflow("canary-step", cnSvc, "-n", ns, "--weight", "50") }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	harness.WaitFor(ctx, h.Deployments(ns), "the canary scaled up to 5", func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name == cnCanary && d.Spec.Replicas != nil && *d.Spec.Replicas == 5 {
				return true, nil
			}
		}
		return false, nil
	})
	h.MustKubectl("-n", ns, "scale", "deploy", cnCanary, "--replicas", "1")
	r := <-done
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "spec.replicas changed from 5 to 1") || !strings.Contains(r.Stderr, "kubectl") {
		t.Fatalf("canary-step during a foreign scale: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	cnExpect(t, h, ns, 9, 1)
	if least := rec.MinReadySince(start); least < 10 {
		t.Errorf("ready endpoints fell to %d during the step (started with 10)", least)
	}
}

// Two canary-steps at once: one records the step, the other either fails on the record's
// precondition (exit 1, nothing changed by it) or finds the step in progress and completes
// it; either way the component ends at 50 % with the total kept.
func TestCanaryStepTwoRunsAtOnce(t *testing.T) {
	h := harness.For(t)
	ns := cnSetup(t, h, "1s")
	rec := h.RecordEndpoints(ns, cnSvc)
	rec.WaitUntil("10 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) >= 10 })
	start := time.Now()
	results := twoAtOnce(h, "canary-step", cnSvc, "-n", ns, "--weight", "50")
	ok := 0
	for _, r := range results {
		switch {
		case r.ExitCode == 0:
			ok++
		case r.ExitCode == 1 && (strings.Contains(r.Stderr, "changed since it was read") || strings.Contains(r.Stderr, "conflict")):
		case r.ExitCode == 1 && strings.Contains(r.Stderr, "nothing changed"):
			// The second run met the first one's step in progress and its health gate saw
			// the new canary pods not ready yet: a safe refusal, nothing written.
		default:
			t.Errorf("concurrent canary-step: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	if ok == 0 {
		t.Fatalf("neither run succeeded: %+v", results)
	}
	cnExpect(t, h, ns, 5, 5)
	if least := rec.MinReadySince(start); least < 10 {
		t.Errorf("ready endpoints fell to %d (started with 10)", least)
	}
}
