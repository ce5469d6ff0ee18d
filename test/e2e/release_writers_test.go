package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Release verbs with a second writer: a second plugin run, or kubectl, changing what the
// verb is acting on while it runs. Names and keys are not the examples' (ledger's colors
// amber and teal under the key "flavor"; a rolling "tally" labelled unit=tally).

// lgSetupDelay creates ledger: amber live with 2 replicas, teal idle with 0, their pods
// turning Ready delay after they start (long enough, for a wait to outlast a second writer).
func lgSetupDelay(t *testing.T, h *harness.H, delay string) string {
	t.Helper()
	ns := h.NewNamespace()
	slow := func(s string) string { return strings.Replace(s, "ready-delay: 1s", "ready-delay: "+delay, 1) }
	h.Apply(ns, slow(lgColor("amber", 2, "registry.example/books:1.0"))+"---\n"+slow(lgColor("teal", 0, "registry.example/books:1.0"))+`---
apiVersion: v1
kind: Service
metadata:
  name: ledger
  annotations: {feastflow.dev/color-key: `+lgKey+`}
spec:
  selector: {tier: books, `+lgKey+`: amber}
  ports: [{name: web, port: 80, targetPort: web}]
`)
	h.WaitForRollout(ns, lgAmber)
	return ns
}

// waitReplicas waits until deployment name's spec.replicas is n.
func waitReplicas(t *testing.T, h *harness.H, ns, name string, n int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	harness.WaitFor(ctx, h.Deployments(ns), fmt.Sprintf("%s scaled to %d", name, n), func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name == name && d.Spec.Replicas != nil && *d.Spec.Replicas == n {
				return true, nil
			}
		}
		return false, nil
	})
}

// twoAtOnce runs the same plugin command twice at the same time.
func twoAtOnce(h *harness.H, args ...string) []harness.Result {
	var wg sync.WaitGroup
	results := make([]harness.Result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.Feastflow(args...)
		}()
	}
	wg.Wait()
	return results
}

// Two promotes at once, each of which would switch to the deployed color and retire the
// old one: exactly one of them acts; the other refuses with exit 1 saying nothing changed
// by it, or finds the release already promoted. teal ends live with its 2 pods, amber at
// 0, and the Service never has fewer than the 2 ready endpoints it started with.
func TestPromoteTwoRunsAtOnce(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:2.0")
	rec := h.RecordEndpoints(ns, lgSvc)
	rec.WaitUntil("2 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) >= 2 })
	start := time.Now()

	results := twoAtOnce(h, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	acted := 0
	for _, r := range results {
		switch {
		case r.ExitCode == 0 && strings.Contains(r.Stdout, "promoted: teal is live, amber (ledger-amber) scaled to 0"):
			acted++
		case r.ExitCode == 0 && strings.Contains(r.Stdout, "nothing to do"):
		case r.ExitCode == 0 && strings.Contains(r.Stdout, "has no replicas; recorded"):
			// The other run's scale-down landed before its record: this run found the
			// release promoted and recorded it.
		case r.ExitCode == 1 && (strings.Contains(r.Stderr, "nothing changed") || strings.Contains(r.Stderr, "nothing was changed") || strings.Contains(r.Stderr, "got there first")):
		case r.ExitCode == 1 && strings.Contains(r.Stderr, "spec.replicas changed from 2 to 0") && strings.Contains(r.Stderr, "kubectl-feastflow"):
			// It met the other run's operation in progress and completed it; the other
			// run's scale-down landed first and its own cut stopped on the change.
		default:
			t.Errorf("concurrent promote: exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	if acted != 1 {
		t.Errorf("%d runs report the promotion, want exactly 1:\n%+v", acted, results)
	}
	if live, amber, teal := lgLive(h, ns), lgReplicas(h, ns, lgAmber), lgReplicas(h, ns, lgTeal); live != "teal" || amber != "0" || teal != "2" {
		t.Fatalf("after two promotes: live %s, amber %s replicas, teal %s", live, amber, teal)
	}
	if r := lgRelease(t, h, ns); r.Phase != "promoted" || r.Operation != nil || r.Live != "teal" || r.Previous != "amber" {
		t.Errorf("record after two promotes: %+v", r)
	}
	if least := rec.MinReadySince(start); least < 2 {
		t.Errorf("ready endpoints fell to %d (started with 2)", least)
	}
	// Once settled, a third run changes nothing.
	if r := run(t, h, 0, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes"); !strings.Contains(r.Stdout, "nothing to do") {
		t.Errorf("promote after the promotion: %s", r.Stdout)
	}
}

// A kubectl scale of the color rollback is scaling back up, during its wait: rollback stops
// with exit 1 naming the change and its manager, traffic stays on the live color (which
// keeps its ready pods), and a re-run finishes the rollback from the state as it is.
func TestRollbackConcurrentScale(t *testing.T) {
	h := harness.For(t)
	ns := lgSetupDelay(t, h, "6s")
	run(t, h, 0, "deploy", lgSvc, "-n", ns, "--image", "registry.example/books:2.0")
	run(t, h, 0, "promote", lgSvc, "-n", ns, "--scale-down-delay", "0s", "--yes")
	if n := lgReplicas(h, ns, lgAmber); n != "0" {
		t.Fatalf("promote left amber at %s", n)
	}
	rec := h.RecordEndpoints(ns, lgSvc)
	rec.WaitUntil("2 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) >= 2 })
	start := time.Now()

	done := make(chan harness.Result, 1)
	go func() { done <- h.Feastflow("rollback", lgSvc, "-n", ns) }()
	waitReplicas(t, h, ns, lgAmber, 2)
	h.MustKubectl("-n", ns, "scale", "deploy", lgAmber, "--replicas", "1")
	r := <-done
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "spec.replicas changed from 2 to 1") || !strings.Contains(r.Stderr, "kubectl") || !strings.Contains(r.Stderr, "traffic stays on teal") {
		t.Fatalf("rollback during a foreign scale: exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if live, teal := lgLive(h, ns), lgReplicas(h, ns, lgTeal); live != "teal" || teal != "2" {
		t.Fatalf("after the stopped rollback: live %s, teal %s replicas", live, teal)
	}
	if vals := rec.ValuesSince(start, lgKey); len(vals) != 1 || !vals["teal"] {
		t.Errorf("the service served %v during the stopped rollback, want teal only", vals)
	}
	if least := rec.MinReadySince(start); least < 2 {
		t.Errorf("ready endpoints fell to %d (started with 2)", least)
	}
	// The re-run switches to amber as it is now (1 pod, Ready): the rollback completes.
	h.WaitForRollout(ns, lgAmber)
	run(t, h, 0, "rollback", lgSvc, "-n", ns)
	if live := lgLive(h, ns); live != "amber" {
		t.Fatalf("re-run rollback left %s live", live)
	}
	if r := lgRelease(t, h, ns); r.Phase != "rolled-back" || r.Operation != nil {
		t.Errorf("record after the re-run rollback: %+v", r)
	}
}

// tally is a rolling component whose pods take 3 s to turn Ready: a rollout of 3 pods one
// at a time lasts long enough for a second writer.
const tallyYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: tally, labels: {unit: tally}}
spec:
  replicas: 3
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {unit: tally}}
  template:
    metadata:
      labels: {unit: tally}
      annotations: {sim.feastflow.dev/ready-delay: 3s}
    spec:
      containers:
      - {name: counter, image: registry.example/tally:1, ports: [{name: web, containerPort: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: tally}
spec:
  selector: {unit: tally}
  ports: [{name: web, port: 80, targetPort: web}]
`

// waitImage waits until deployment name's first container runs image (in its spec).
func waitImage(t *testing.T, h *harness.H, ns, name, image string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	harness.WaitFor(ctx, h.Deployments(ns), name+" set to "+image, func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name == name && d.Spec.Template.Spec.Containers[0].Image == image {
				return true, nil
			}
		}
		return false, nil
	})
}

// deploy during which someone sets another image stops with exit 1 naming the template
// change and kubectl as its manager, instead of reporting the deployed image available;
// it does not roll back the other writer's change. A kubectl scale during a deploy is
// followed: the deploy ends with the new count available and says who scaled.
func TestDeployConcurrentWriter(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, tallyYAML)
	h.WaitForRollout(ns, "tally")

	done := make(chan harness.Result, 1)
	go func() {
		done <- h.Feastflow("deploy", "tally", "-n", ns, "--image", "registry.example/tally:2", "--auto-rollback")
	}()
	waitImage(t, h, ns, "tally", "registry.example/tally:2")
	h.MustKubectl("-n", ns, "set", "image", "deploy/tally", "counter=registry.example/tally:3")
	r := <-done
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "spec.template changed") || !strings.Contains(r.Stderr, "kubectl") || !strings.Contains(r.Stderr, "not rolled back") {
		t.Fatalf("deploy during a foreign set image: exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if img := h.MustKubectl("-n", ns, "get", "deploy", "tally", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "registry.example/tally:3" {
		t.Errorf("the other writer's image was replaced: %s", img)
	}
	h.WaitForRollout(ns, "tally")

	go func() { done <- h.Feastflow("deploy", "tally", "-n", ns, "--image", "registry.example/tally:4") }()
	waitImage(t, h, ns, "tally", "registry.example/tally:4")
	h.MustKubectl("-n", ns, "scale", "deploy", "tally", "--replicas", "4")
	r = <-done
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "with 4 replicas, all available") || !strings.Contains(r.Stderr, `scaled from 3 to 4 replicas by field manager "kubectl"`) {
		t.Fatalf("deploy during a foreign scale: exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if ready := h.MustKubectl("-n", ns, "get", "deploy", "tally", "-o", "jsonpath={.status.readyReplicas}"); ready != "4" {
		t.Errorf("after the deploy the scaled Deployment has %s ready pods, want 4", ready)
	}
}
