package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// waveApp is a blue-green component "checkout" whose color key is "track" (recorded on the
// Service): checkout-blue is live, checkout-green runs greenImage.
func waveApp(ns, greenImage string) string {
	deploy := func(color, image string) string {
		return fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-%[2]s
  namespace: %[1]s
  labels: {tier: checkout, track: %[2]s}
spec:
  replicas: 2
  selector:
    matchLabels: {tier: checkout, track: %[2]s}
  template:
    metadata:
      labels: {tier: checkout, track: %[2]s}
    spec:
      containers:
      - name: app
        image: %[3]s
        ports: [{containerPort: 9090}]
`, ns, color, image)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Service
metadata:
  name: checkout
  namespace: %[1]s
  annotations: {feastflow.dev/color-key: track}
spec:
  selector: {tier: checkout, track: blue}
  ports: [{port: 80, targetPort: 9090}]
`, ns) + deploy("blue", "registry.example/checkout:2.0") + deploy("green", greenImage)
}

// TestFleetReleaseWaves switches a blue-green component to green in three clusters, one
// wave at a time. The second cluster's green cannot become ready: the first cluster moves,
// the second fails, the third is not started, and the exit code is 1. After the fix the
// same command continues: the first cluster is a no-op (its recorded state says green is
// live), the others move. A context that may write nothing stops its wave the same way.
func TestFleetReleaseWaves(t *testing.T) {
	h := harness.For(t)
	extra := h.ExtraClusters(2, 1)
	ns := h.NewNamespace()
	kubeconfigs := []string{h.Env.Kubeconfig, extra[0].Kubeconfig, extra[1].Kubeconfig}
	greens := []string{"registry.example/checkout:2.1", "registry.example/checkout:notfound", "registry.example/checkout:2.1"}
	for i, kc := range kubeconfigs {
		if r := h.KubectlStdin(waveApp(ns, greens[i]), "--kubeconfig", kc, "apply", "-f", "-"); r.ExitCode != 0 {
			t.Fatalf("apply in cluster %d: %s%s", i, r.Stdout, r.Stderr)
		}
	}
	for i, kc := range kubeconfigs {
		h.MustKubectl("--kubeconfig", kc, "rollout", "status", "deploy/checkout-blue", "-n", ns, "--timeout", "2m")
		if i != 1 {
			h.MustKubectl("--kubeconfig", kc, "rollout", "status", "deploy/checkout-green", "-n", ns, "--timeout", "2m")
		}
	}
	kc := h.WriteKubeconfig(
		harness.KubeconfigContext{Name: "eu-1", From: kubeconfigs[0], Namespace: ns},
		harness.KubeconfigContext{Name: "eu-2", From: kubeconfigs[1], Namespace: ns},
		harness.KubeconfigContext{Name: "us-1", From: kubeconfigs[2], Namespace: ns},
		harness.KubeconfigContext{Name: "ro", From: kubeconfigs[0], Namespace: ns, As: "e2e-wave-nobody"},
	)
	live := func(i int) string {
		return h.MustKubectl("--kubeconfig", kubeconfigs[i], "-n", ns, "get", "svc", "checkout", "-o", "jsonpath={.spec.selector.track}")
	}
	lives := func() string { return live(0) + "," + live(1) + "," + live(2) }
	rv := func(i int) string {
		return h.MustKubectl("--kubeconfig", kubeconfigs[i], "-n", ns, "get", "svc", "checkout", "-o", "jsonpath={.metadata.resourceVersion}")
	}

	// A dry run lists every context and changes nothing.
	r := h.FeastflowWith(kc, "switch", "green", "checkout", "--contexts", "eu-1,us-1", "--dry-run=server")
	if r.ExitCode != 0 || !hasRow(r.Stdout, "eu-1", "checkout", "blue", "green") || !hasRow(r.Stdout, "us-1", "checkout", "blue", "green") || lives() != "blue,blue,blue" {
		t.Fatalf("dry run: exit %d, live %s\n%s%s", r.ExitCode, lives(), r.Stdout, r.Stderr)
	}

	r = h.FeastflowWith(kc, "switch", "green", "checkout", "--contexts", "eu-1,eu-2,us-1", "--reason", "checkout 2.1")
	t.Logf("first run:\n%s%s", r.Stdout, r.Stderr)
	if r.ExitCode != 1 {
		t.Fatalf("first run: exit %d, want 1 (eu-2's green is not ready)", r.ExitCode)
	}
	if !hasRow(r.Stdout, "eu-1", "1", "done", "ok") || !hasRow(r.Stdout, "eu-2", "2", "failed", "exit", "1:") || !hasRow(r.Stdout, "us-1", "3", "not", "started") {
		t.Errorf("first run: outcome table wrong")
	}
	if !hasRow(r.Stdout, "eu-1", "checkout", "blue", "green", "checkout-green", "2", "true") {
		t.Errorf("first run: eu-1's verified switch is not in the table")
	}
	if !strings.Contains(r.Stderr, "wave 2 stopped the release") || !strings.Contains(r.Stderr, "done: eu-1; not started: us-1") {
		t.Errorf("first run: the error does not say which contexts moved: %s", r.Stderr)
	}
	if got := lives(); got != "green,blue,blue" {
		t.Fatalf("after the first run the live colors are %s, want green,blue,blue", got)
	}

	// The fix: eu-2's green gets an image that becomes ready.
	h.MustKubectl("--kubeconfig", kubeconfigs[1], "-n", ns, "set", "image", "deploy/checkout-green", "app=registry.example/checkout:2.1")
	h.MustKubectl("--kubeconfig", kubeconfigs[1], "rollout", "status", "deploy/checkout-green", "-n", ns, "--timeout", "2m")

	before := rv(0)
	r = h.FeastflowWith(kc, "switch", "green", "checkout", "--contexts", "eu-1,eu-2,us-1", "--reason", "checkout 2.1", "-o", "json")
	if r.ExitCode != 0 {
		t.Fatalf("re-run: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	var res struct {
		Kind  string
		Verb  string
		Items []struct {
			Context  string
			ExitCode int
			Wave     int
			State    string
			Result   struct{ Changed bool }
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("re-run -o json: %v\n%s", err, r.Stdout)
	}
	changed := map[string]bool{}
	for _, it := range res.Items {
		if it.State != "done" || it.ExitCode != 0 {
			t.Errorf("re-run: %s is %s (exit %d)", it.Context, it.State, it.ExitCode)
		}
		changed[it.Context] = it.Result.Changed
	}
	if res.Kind != "FleetResult" || res.Verb != "switch" || len(res.Items) != 3 || changed["eu-1"] || !changed["eu-2"] || !changed["us-1"] {
		t.Errorf("re-run: kind %s verb %s changed %v; want eu-1 a no-op, eu-2 and us-1 switched", res.Kind, res.Verb, changed)
	}
	if rv(0) != before {
		t.Errorf("re-run wrote to eu-1's Service although green was already live there")
	}
	if got := lives(); got != "green,green,green" {
		t.Fatalf("after the re-run the live colors are %s", got)
	}

	// A context that may write nothing fails its wave; the contexts after it are not started.
	r = h.FeastflowWith(kc, "rollback", "checkout", "--contexts", "ro,us-1")
	if r.ExitCode != 1 || !strings.Contains(r.Stdout, "forbidden") || !hasRow(r.Stdout, "ro", "1", "failed") || !hasRow(r.Stdout, "us-1", "2", "not", "started") {
		t.Errorf("forbidden context: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if got := lives(); got != "green,green,green" {
		t.Errorf("after the forbidden run the live colors are %s", got)
	}

	// Rolling back in a wave of two moves both contexts back to the recorded previous color.
	r = h.FeastflowWith(kc, "rollback", "checkout", "--contexts", "eu-2,us-1", "--wave-size", "2")
	if r.ExitCode != 0 || live(1) != "blue" || live(2) != "blue" {
		t.Errorf("rollback wave: exit %d, live %s\n%s%s", r.ExitCode, lives(), r.Stdout, r.Stderr)
	}

	// A second writer in one context of a wave: both switch to green, then someone sets a
	// new image on us-1's live green. The promote wave promotes eu-2 and stops at us-1,
	// which refuses naming the change: its blue keeps its replicas, green stays live.
	r = h.FeastflowWith(kc, "switch", "green", "checkout", "--contexts", "eu-2,us-1", "--wave-size", "2")
	if r.ExitCode != 0 || live(1) != "green" || live(2) != "green" {
		t.Fatalf("switch wave: exit %d, live %s\n%s%s", r.ExitCode, lives(), r.Stdout, r.Stderr)
	}
	h.MustKubectl("--kubeconfig", kubeconfigs[2], "-n", ns, "set", "image", "deploy/checkout-green", "app=registry.example/checkout:2.2")
	r = h.FeastflowWith(kc, "promote", "checkout", "--contexts", "eu-2,us-1", "--yes", "--scale-down-delay", "0s")
	t.Logf("promote wave with a second writer in us-1:\n%s%s", r.Stdout, r.Stderr)
	if r.ExitCode != 1 || !hasRow(r.Stdout, "eu-2", "1", "done", "ok") || !hasRow(r.Stdout, "us-1", "2", "failed") || !strings.Contains(r.Stdout+r.Stderr, "pod template changed") {
		t.Errorf("promote wave with a second writer: exit %d", r.ExitCode)
	}
	blue := func(i int) string {
		return h.MustKubectl("--kubeconfig", kubeconfigs[i], "-n", ns, "get", "deploy", "checkout-blue", "-o", "jsonpath={.spec.replicas}")
	}
	if blue(1) != "0" || blue(2) != "2" || live(2) != "green" {
		t.Errorf("after the promote wave: eu-2 blue %s replicas (want 0), us-1 blue %s (want 2), us-1 live %s (want green)", blue(1), blue(2), live(2))
	}
}
