package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// CommandTimeout bounds every kubectl or plugin command the harness runs.
const CommandTimeout = 2 * time.Minute

// H is a test's handle on the shared cluster. Failures in its helpers fail the test.
type H struct {
	T      testing.TB
	Env    *Env
	Client kubernetes.Interface
}

// For returns the handle for t, starting the run's cluster on first use. It fails t when
// the cluster cannot be started.
func For(t testing.TB) *H {
	t.Helper()
	e, err := Shared()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return &H{T: t, Env: e, Client: e.Client}
}

// Result is the outcome of a command.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Kubectl runs the real kubectl with args against the cluster and returns its output; a
// non-zero exit does not fail the test (assert on ExitCode).
func (h *H) Kubectl(args ...string) Result {
	h.T.Helper()
	return h.run("", "", args)
}

// KubectlStdin is Kubectl with stdin.
func (h *H) KubectlStdin(stdin string, args ...string) Result {
	h.T.Helper()
	return h.run(stdin, "", args)
}

// MustKubectl runs kubectl and fails the test unless it exits 0; it returns stdout.
func (h *H) MustKubectl(args ...string) string {
	h.T.Helper()
	r := h.Kubectl(args...)
	if r.ExitCode != 0 {
		h.T.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), r.ExitCode, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Feastflow runs `kubectl feastflow args...` (through kubectl's plugin mechanism, with the
// plugin under test first on PATH). The plugin is built once per run unless FEASTFLOW_PLUGIN
// names it; a build failure fails the test.
func (h *H) Feastflow(args ...string) Result {
	h.T.Helper()
	plugin, err := h.Env.plugin()
	if err != nil {
		h.T.Fatalf("harness: kubectl-feastflow: %v", err)
	}
	return h.run("", filepath.Dir(plugin), append([]string{"feastflow"}, args...))
}

// run runs kubectl with args; pluginDir, when set, goes first on PATH so that kubectl finds
// the plugin under test there.
func (h *H) run(stdin, pluginDir string, args []string) Result {
	h.T.Helper()
	return h.runCmd(stdin, pluginDir, h.Env.Kubectl, args)
}

// runCmd runs bin with kubectl's directory (and pluginDir) on PATH.
func (h *H) runCmd(stdin, pluginDir, bin string, args []string) Result {
	h.T.Helper()
	return h.execIn(h.Env.Kubeconfig, stdin, pluginDir, bin, args)
}

// runWith is run with the given kubeconfig.
func (h *H) runWith(kubeconfig, stdin, pluginDir string, args []string) Result {
	h.T.Helper()
	return h.execIn(kubeconfig, stdin, pluginDir, h.Env.Kubectl, args)
}

// execIn runs bin with the kubeconfig, kubectl's directory (and pluginDir) on PATH.
func (h *H) execIn(kubeconfig, stdin, pluginDir, bin string, args []string) Result {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	path := []string{filepath.Dir(h.Env.Kubectl), os.Getenv("PATH")}
	if pluginDir != "" {
		path = append([]string{pluginDir}, path...)
	}
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+strings.Join(path, string(os.PathListSeparator)), "NO_COLOR=1")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
	case err != nil:
		h.T.Fatalf("run %s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		h.T.Fatalf("%s %s: timed out after %s\n%s", filepath.Base(bin), strings.Join(args, " "), CommandTimeout, r.Stderr)
	}
	return r
}

var nsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// NewNamespace creates a namespace unique to the test, waits for its default ServiceAccount
// (pods cannot be created before it exists) and deletes it when the test ends. When the test
// failed, the namespace's pods, events and EndpointSlices are logged first.
func (h *H) NewNamespace() string {
	h.T.Helper()
	base := strings.Trim(nsUnsafe.ReplaceAllString(strings.ToLower(h.T.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "e2e-" + base + "-" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := h.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"e2e.feastflow.dev/test": "true"}}}, metav1.CreateOptions{})
	if err != nil {
		h.T.Fatalf("create namespace %s: %v", name, err)
	}
	h.T.Cleanup(func() {
		if h.T.Failed() {
			h.T.Logf("namespace %s after failure:\n%s", name, h.Kubectl("get", "pods,deploy,rs,svc,endpointslices,pvc,events", "-n", name, "-o", "wide").Stdout)
		}
		_ = h.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	WaitFor(context.Background(), h.ServiceAccounts(name), "default service account in "+name, func(sas []*corev1.ServiceAccount) (bool, error) {
		for _, sa := range sas {
			if sa.Name == "default" {
				return true, nil
			}
		}
		return false, nil
	})
	return name
}
