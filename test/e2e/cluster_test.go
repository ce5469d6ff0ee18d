package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/internal/localcluster"
	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// startOwn starts a cluster of its own for a test of the cluster machinery itself, stopped
// at cleanup.
func lcStart(t *testing.T, state string, ports localcluster.Ports) *localcluster.Cluster {
	t.Helper()
	_, bin, err := harness.Paths()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := localcluster.Start(context.Background(), localcluster.Config{BinDir: bin, StateDir: state, Ports: ports, StopWithParent: true, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("start cluster in %s: %v", state, err)
	}
	t.Cleanup(func() { _ = localcluster.Stop(state, nil) })
	return cl
}

// requireHealthy asserts that Status reports the cluster in state healthy.
func lcRequireHealthy(t *testing.T, state string) *localcluster.StatusReport {
	t.Helper()
	r, err := localcluster.Status(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Healthy {
		t.Fatalf("cluster in %s not healthy: %+v", state, r)
	}
	return r
}

// requireGone asserts that none of ps runs any more.
func lcRequireGone(t *testing.T, ps []localcluster.Process) {
	t.Helper()
	for _, p := range ps {
		if localcluster.Alive(p) {
			t.Errorf("%s (pid %d) still running", p.Name, p.PID)
		}
	}
}

func TestClusterPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, bin, err := harness.Paths()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	_, err = localcluster.Start(context.Background(), localcluster.Config{BinDir: bin, StateDir: state, Ports: localcluster.Ports{APIServer: port}})
	var inUse *localcluster.PortInUseError
	if !errors.As(err, &inUse) || inUse.Port != port {
		t.Fatalf("Start on a busy port: err = %v, want a PortInUseError for %d", err, port)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, strconv.Itoa(port)) {
		t.Errorf("error is not one line naming the port: %q", msg)
	}
	if _, err := os.Stat(filepath.Join(state, "pids.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pids file left behind (stat err %v): something may be running", err)
	}
	if left := lcProcessesIn(t, state); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}

func TestClusterCrashRecovery(t *testing.T) {
	state := t.TempDir()
	cl := lcStart(t, state, localcluster.Ports{})
	var kcm localcluster.Process
	for _, p := range cl.Processes {
		if p.Name == localcluster.KubeControllerManager {
			kcm = p
		}
	}
	if err := syscall.Kill(kcm.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := lcWaitStatus(t, state, func(r *localcluster.StatusReport) bool { return !r.Healthy })
	t.Logf("after kill -9 of %s: healthy=%t", kcm.Name, r.Healthy)

	again := lcStart(t, state, localcluster.Ports{})
	if again.Reused {
		t.Fatal("Start reused a cluster with a dead component")
	}
	if again.Ports != cl.Ports {
		t.Errorf("ports changed across recovery: %+v -> %+v (kubeconfigs would go stale)", cl.Ports, again.Ports)
	}
	lcRequireGone(t, cl.Processes)
	lcRequireHealthy(t, state)
	// The controller-manager works again: a Deployment gets its pods.
	lcKubectl(t, again.Kubeconfig, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
	lcKubectl(t, again.Kubeconfig, "rollout", "status", "deployment/web", "--timeout=60s")

	same := lcStart(t, state, localcluster.Ports{})
	if !same.Reused {
		t.Error("Start on a healthy cluster restarted it")
	}
	if err := localcluster.Stop(state, nil); err != nil {
		t.Fatal(err)
	}
	lcRequireGone(t, again.Processes)
}

func TestClusterStaleState(t *testing.T) {
	_, bin, err := harness.Paths()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	// An unrelated process whose PID a stale pids file names as etcd.
	bystander := exec.Command("sleep", "300")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })
	stale := `{"fingerprint":"old","processes":[` +
		`{"name":"etcd","pid":` + strconv.Itoa(bystander.Process.Pid) + `,"exe":"` + filepath.Join(bin, "etcd") + `","startTicks":1},` +
		`{"name":"kube-apiserver","pid":999999,"exe":"` + filepath.Join(bin, "kube-apiserver") + `","startTicks":1}]}`
	if err := os.WriteFile(filepath.Join(state, "pids.json"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	cl := lcStart(t, state, localcluster.Ports{})
	lcRequireHealthy(t, state)
	if err := localcluster.Stop(state, nil); err != nil {
		t.Fatal(err)
	}
	lcRequireGone(t, cl.Processes)
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("unrelated process named by the stale pids file was signalled: %v", err)
	}
}

func TestClusterSideBySide(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ca := lcStart(t, a, localcluster.Ports{})
	cb := lcStart(t, b, localcluster.Ports{})
	if ca.Ports.APIServer == cb.Ports.APIServer || ca.Ports.Etcd == cb.Ports.Etcd || ca.Ports.Kwok == cb.Ports.Kwok {
		t.Fatalf("clusters share ports: %+v %+v", ca.Ports, cb.Ports)
	}
	lcRequireHealthy(t, a)
	lcRequireHealthy(t, b)
	lcKubectl(t, ca.Kubeconfig, "create", "namespace", "only-in-a")
	if out, err := lcKubectlErr(cb.Kubeconfig, "get", "namespace", "only-in-a"); err == nil {
		t.Errorf("namespace created in cluster a is visible in b: %s", out)
	}
	// down is idempotent and leaves no process; the other cluster is untouched.
	for range 2 {
		if err := localcluster.Stop(a, nil); err != nil {
			t.Fatal(err)
		}
	}
	lcRequireGone(t, ca.Processes)
	if left := lcProcessesIn(t, a); len(left) > 0 {
		t.Errorf("processes left after down: %v", left)
	}
	lcRequireHealthy(t, b)
}

func TestClusterPluginRunsThroughKubectl(t *testing.T) {
	h := harness.For(t)
	r := h.Feastflow("version")
	if r.ExitCode != 0 || strings.TrimSpace(r.Stdout) == "" {
		t.Fatalf("kubectl feastflow version: exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// waitStatus polls Status until cond holds: process death has no watchable API.
func lcWaitStatus(t *testing.T, state string, cond func(*localcluster.StatusReport) bool) *localcluster.StatusReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := localcluster.Status(ctx, state)
		if err == nil && cond(r) {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status of %s never reached the expected state: %+v %v", state, r, err)
		case <-tick.C:
		}
	}
}

func lcKubectl(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, err := lcKubectlErr(kubeconfig, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func lcKubectlErr(kubeconfig string, args ...string) (string, error) {
	_, bin, err := harness.Paths()
	if err != nil {
		return "", err
	}
	kc := filepath.Join(bin, "kubectl")
	if _, err := os.Stat(kc); err != nil {
		kc = "kubectl"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, kc, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

func TestClusterComponentExitsDuringStart(t *testing.T) {
	_, bin, err := harness.Paths()
	if err != nil {
		t.Fatal(err)
	}
	// The real binaries, except a scheduler that fails at once.
	fake := t.TempDir()
	for _, name := range localcluster.Components {
		if name == localcluster.KubeScheduler {
			continue
		}
		if err := os.Symlink(filepath.Join(bin, name), filepath.Join(fake, name)); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\necho 'E1126 scheduler: invalid configuration: boom' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(fake, localcluster.KubeScheduler), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	t.Cleanup(func() { _ = localcluster.Stop(state, nil) })
	began := time.Now()
	const deadline = 2 * time.Minute
	_, err = localcluster.Start(context.Background(), localcluster.Config{BinDir: fake, StateDir: state, StopWithParent: true, Timeout: deadline})
	var ce *localcluster.ComponentError
	if !errors.As(err, &ce) || ce.Component != localcluster.KubeScheduler {
		t.Fatalf("Start with a failing scheduler: err = %v, want a ComponentError for kube-scheduler", err)
	}
	if !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("error does not say the scheduler exited or show its log:\n%v", err)
	}
	if took := time.Since(began); took > deadline/2 {
		t.Errorf("failure reported after %s; an exiting component must be reported at once, not at the %s deadline", took, deadline)
	}
	if _, err := os.Stat(filepath.Join(state, "pids.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pids file left after a failed start (stat err %v)", err)
	}
	status, err := localcluster.Status(context.Background(), state)
	if err != nil || status.Running {
		t.Errorf("cluster still recorded as running after a failed start: %+v %v", status, err)
	}
	if left := lcProcessesIn(t, state); len(left) > 0 {
		t.Errorf("processes left running after a failed start: %v", left)
	}
}

// processesIn lists the live processes whose working directory is dir: every component runs
// in its cluster's state directory.
func lcProcessesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && cwd == dir {
			exe, _ := os.Readlink("/proc/" + e.Name() + "/exe")
			out = append(out, strconv.Itoa(pid)+" "+exe)
		}
	}
	return out
}
