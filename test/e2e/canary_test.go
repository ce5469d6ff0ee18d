package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Canary releases on examples/feastflow-canary: the Service feastflow-backend selects
// app=feastflow-backend (no track key); feastflow-backend-stable has 9 replicas and
// feastflow-backend-canary 1 (10 %).

const (
	cnSvc    = "feastflow-backend"
	cnStable = "feastflow-backend-stable"
	cnCanary = "feastflow-backend-canary"
)

// cnSetup applies the example with a readiness delay on both tracks, so that a step that
// scaled a track down before the other's new pods were Ready would show as lost endpoints.
func cnSetup(t *testing.T, h *harness.H, delay string) string {
	t.Helper()
	ns := h.ApplyExample("feastflow-canary")
	for _, d := range []string{cnStable, cnCanary} {
		h.MustKubectl("-n", ns, "patch", "deploy", d, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/ready-delay":"`+delay+`"}}}}}`)
	}
	h.WaitForRollout(ns, cnStable)
	h.WaitForRollout(ns, cnCanary)
	return ns
}

// cnRun runs the plugin through kubectl and fails the test unless it exits with want.
func cnRun(t *testing.T, h *harness.H, want int, args ...string) harness.Result {
	t.Helper()
	r := h.Feastflow(args...)
	if r.ExitCode != want {
		t.Fatalf("kubectl feastflow %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.ExitCode, want, r.Stdout, r.Stderr)
	}
	return r
}

// cnRV is the resourceVersion of an object.
func cnRV(h *harness.H, ns, kind, name string) string {
	return h.MustKubectl("-n", ns, "get", kind, name, "-o", "jsonpath={.metadata.resourceVersion}")
}

// cnReplicas returns the desired replicas of stable and canary.
func cnReplicas(t *testing.T, h *harness.H, ns string) (stable, canary int) {
	t.Helper()
	out := h.MustKubectl("-n", ns, "get", "deploy", cnStable, cnCanary, "-o", "jsonpath={.items[0].spec.replicas} {.items[1].spec.replicas}")
	if _, err := fmt.Sscan(out, &stable, &canary); err != nil { // items in the order asked
		t.Fatalf("replicas %q: %v", out, err)
	}
	return stable, canary
}

func cnExpect(t *testing.T, h *harness.H, ns string, stable, canary int) {
	t.Helper()
	s, c := cnReplicas(t, h, ns)
	if s != stable || c != canary {
		t.Fatalf("replicas: stable %d, canary %d; want %d and %d", s, c, stable, canary)
	}
}

func cnImage(t *testing.T, h *harness.H, ns, d string) string {
	t.Helper()
	return h.MustKubectl("-n", ns, "get", "deploy", d, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
}

// deploy → canary-step 25 → 50 → promote: the total stays 10 and the Service never has
// fewer ready endpoints than before.
func TestCanaryReleaseKeepsEndpoints(t *testing.T) {
	h := harness.For(t)
	ns := cnSetup(t, h, "1s")
	rec := h.RecordEndpoints(ns, cnSvc)
	before := len(rec.Current())
	if before != 10 {
		t.Fatalf("ready endpoints before: %d, want 10", before)
	}
	cnRun(t, h, 0, "deploy", cnSvc, "--image", "ghcr.io/feastflow/backend:1.6.0", "-n", ns)
	cnExpect(t, h, ns, 9, 1)
	r := cnRun(t, h, 0, "canary-step", cnSvc, "-n", ns)
	if !strings.Contains(r.Stdout, "moved from 10 % to 25 %: 3 canary, 7 stable") || !strings.Contains(r.Stdout, "the actual weight is 30 %") {
		t.Errorf("canary-step output:\n%s", r.Stdout)
	}
	cnExpect(t, h, ns, 7, 3)
	cnRun(t, h, 0, "canary-step", "-n", ns) // the only canary component of the namespace
	cnExpect(t, h, ns, 5, 5)
	cnRun(t, h, 0, "promote", cnSvc, "--yes", "-n", ns)
	cnExpect(t, h, ns, 10, 0)
	if img := cnImage(t, h, ns, cnStable); img != "ghcr.io/feastflow/backend:1.6.0" {
		t.Errorf("stable image after promote: %s", img)
	}
	if track := h.MustKubectl("-n", ns, "get", "deploy", cnStable, "-o", "jsonpath={.spec.template.metadata.labels.track}"); track != "stable" {
		t.Errorf("stable track label after promote: %q", track)
	}
	rec.WaitUntil("10 ready endpoints of the new stable", func(ready []harness.Endpoint) bool {
		return len(ready) == 10 && rec.LabelValues(ready, "track")["stable"] == 10
	})
	if n := rec.MinReady(); n < before {
		t.Errorf("ready endpoints fell to %d (before: %d):\n%s", n, before, strings.Join(rec.Colors("track"), "\n"))
	}
	// Re-running promote changes nothing.
	svcRV, stableRV := cnRV(h, ns, "svc", cnSvc), cnRV(h, ns, "deploy", cnStable)
	cnRun(t, h, 0, "promote", cnSvc, "--yes", "-n", ns)
	if cnRV(h, ns, "svc", cnSvc) != svcRV || cnRV(h, ns, "deploy", cnStable) != stableRV {
		t.Error("re-running promote wrote")
	}
}

func TestCanaryAbort(t *testing.T) {
	h := harness.For(t)
	ns := cnSetup(t, h, "1s")
	rec := h.RecordEndpoints(ns, cnSvc)
	before := len(rec.Current())
	cnRun(t, h, 0, "deploy", cnSvc, "--image", "ghcr.io/feastflow/backend:1.6.0", "-n", ns)
	cnRun(t, h, 0, "canary-step", cnSvc, "--weight", "50", "-n", ns)
	cnExpect(t, h, ns, 5, 5)
	r := cnRun(t, h, 1, "abort", cnSvc, "-n", ns) // no terminal, no --yes
	if !strings.Contains(r.Stderr, "--yes") {
		t.Errorf("abort without --yes: %s", r.Stderr)
	}
	cnExpect(t, h, ns, 5, 5)
	cnRun(t, h, 0, "abort", cnSvc, "--yes", "-n", ns)
	cnExpect(t, h, ns, 10, 0)
	if img := cnImage(t, h, ns, cnStable); img != "ghcr.io/feastflow/backend:1.4.0" {
		t.Errorf("stable image after abort: %s", img)
	}
	rec.WaitUntil("10 stable endpoints", func(ready []harness.Endpoint) bool {
		return rec.LabelValues(ready, "track")["stable"] == 10 && len(ready) == 10
	})
	if n := rec.MinReady(); n < before {
		t.Errorf("ready endpoints fell to %d (before: %d):\n%s", n, before, strings.Join(rec.Colors("track"), "\n"))
	}
	cnRun(t, h, 0, "abort", cnSvc, "--yes", "-n", ns) // nothing left to abort
}

// A canary whose pods crash-loop after they were Ready blocks the next step, with the reason.
func TestCanaryHealthGateBlocksCrashLoop(t *testing.T) {
	h := harness.For(t)
	ns := cnSetup(t, h, "0s")
	cnRun(t, h, 0, "deploy", cnSvc, "--image", "ghcr.io/feastflow/backend:1.6.0", "-n", ns)
	pod := strings.TrimSpace(h.MustKubectl("-n", ns, "get", "pods", "-l", "track=canary", "-o", "jsonpath={.items[0].metadata.name}"))
	h.MustKubectl("-n", ns, "label", "pod", pod, "sim.feastflow.dev/state=crashloop")
	h.WaitForPod(ns, pod, "crash-looping", func(p *corev1.Pod) bool { return !harness.PodReady(p) })
	r := cnRun(t, h, 1, "canary-step", cnSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "is not healthy, nothing changed") || !strings.Contains(r.Stderr, pod) || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("canary-step on a crash-looping canary:\n%s", r.Stderr)
	}
	cnExpect(t, h, ns, 9, 1)
	// A new canary image that crash-loops fails deploy fast, with the cause.
	start := time.Now()
	r = cnRun(t, h, 1, "deploy", cnSvc, "--image", "ghcr.io/feastflow/backend:crashloop", "-n", ns)
	if !strings.Contains(r.Stderr, "CrashLoopBackOff") {
		t.Errorf("deploy of a crash-looping canary:\n%s", r.Stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("deploy took %s to report the crash loop", d)
	}
}

// Interrupting canary-step between its two scale operations (SIGINT, then SIGKILL) leaves
// the target recorded; the next run completes the step with the right replica counts.
func TestCanaryStepInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			h := harness.For(t)
			ns := cnSetup(t, h, "0s")
			// A long readiness delay on the canary's new pods holds the step in its wait.
			h.MustKubectl("-n", ns, "patch", "deploy", cnCanary, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/ready-delay":"8s"}}}}}`)
			h.WaitForRollout(ns, cnCanary)
			code, stderr := cnInterrupt(t, h, sig, "waiting for canary", "canary-step", cnSvc, "-n", ns)
			if sig == syscall.SIGINT && code != 130 {
				t.Errorf("exit code after SIGINT: %d, want 130\n%s", code, stderr)
			}
			cnExpect(t, h, ns, 9, 3) // canary scaled up, stable not yet down
			state := h.MustKubectl("-n", ns, "get", "svc", cnSvc, "-o", `jsonpath={.metadata.annotations.feastflow\.dev/release}`)
			if !strings.Contains(state, `"operation":{"verb":"canary-step"`) || !strings.Contains(state, `"weight":25`) {
				t.Errorf("recorded state: %s", state)
			}
			r := cnRun(t, h, 0, "canary-step", cnSvc, "-n", ns)
			if !strings.Contains(r.Stdout, "completed the interrupted step of feastflow-backend to 25 %: 3 canary, 7 stable") {
				t.Errorf("re-run:\n%s\n%s", r.Stdout, r.Stderr)
			}
			cnExpect(t, h, ns, 7, 3)
		})
	}
}

// cnInterrupt runs the plugin through kubectl (which execs it: same process), sends sig once
// stderr shows a line containing trigger, and returns the exit code and stderr.
func cnInterrupt(t *testing.T, h *harness.H, sig syscall.Signal, trigger string, args ...string) (int, string) {
	t.Helper()
	return cnRunUntil(t, h, trigger, func(cmd *exec.Cmd) {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatalf("signal %s: %v", sig, err)
		}
	}, args...)
}

// cnRunUntil runs the plugin through kubectl, calls at(cmd) once its stderr shows a line
// containing trigger (a signal, or a second writer), and waits for it to end; it returns
// the exit code (128+signal when a signal ended it) and stderr.
func cnRunUntil(t *testing.T, h *harness.H, trigger string, at func(*exec.Cmd), args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Env.Kubectl, append([]string{"feastflow"}, args...)...)
	path := strings.Join([]string{pluginBinDir(t, h), filepath.Dir(h.Env.Kubectl), os.Getenv("PATH")}, string(os.PathListSeparator))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.Env.Kubeconfig, "PATH="+path, "NO_COLOR=1")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	done := false
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !done && strings.Contains(sc.Text(), trigger) {
			at(cmd)
			done = true
		}
	}
	err = cmd.Wait()
	if !done {
		t.Fatalf("the plugin ended before %q (err %v):\n%s", trigger, err, strings.Join(lines, "\n"))
	}
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return code, strings.Join(lines, "\n")
}

// Bad input exits 2 and changes nothing; an unknown component or one of another strategy
// exits 1 (a request was needed to know) with the candidates, and changes nothing.
func TestCanaryBadInput(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow-canary")
	h.WaitForRollout(ns, cnStable)
	rolling := h.ApplyExample("feastflow")
	before := []string{cnRV(h, ns, "svc", cnSvc), cnRV(h, ns, "deploy", cnStable), cnRV(h, ns, "deploy", cnCanary)}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"canary-step", cnSvc, "--weight", "-1", "-n", ns}, "invalid weight -1"},
		{[]string{"canary-step", cnSvc, "--weight", "101", "-n", ns}, "invalid weight 101"},
		{[]string{"canary-step", cnSvc, "--weight", "abc", "-n", ns}, `invalid argument "abc"`},
		{[]string{"canary-step", cnSvc, "--steps", "10,50,25", "-n", ns}, "steps must increase"},
	} {
		r := cnRun(t, h, 2, tc.args...)
		if !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line with %q", tc.args, r.Stderr, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"canary-step", "nope", "-n", ns}, `component "nope" not found`},
		{[]string{"canary-step", "feastflow-frontend", "-n", rolling}, "component feastflow-frontend is rolling, not canary"},
	} {
		r := cnRun(t, h, 1, tc.args...)
		if !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "components") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%v: stderr %q, want one line with %q and the candidates", tc.args, r.Stderr, tc.want)
		}
	}
	after := []string{cnRV(h, ns, "svc", cnSvc), cnRV(h, ns, "deploy", cnStable), cnRV(h, ns, "deploy", cnCanary)}
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Errorf("bad input changed objects: %v → %v", before, after)
	}
}
