package e2e

// The plugin's foundation through the real kubectl: plugin discovery, kubectl's global
// flags meaning exactly what they mean to kubectl, and broken setups failing fast with one
// clear line.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// apiVerb is a foundation-independent verb that reads the namespace through the API; the
// tests below need one and skip, naming it, when it does not exist.
var apiVerb = []string{"status"}

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// pluginBinDir returns a directory holding the kubectl-feastflow under test:
// FEASTFLOW_PLUGIN's, or one built from this module.
func pluginBinDir(t *testing.T, h *harness.H) string {
	t.Helper()
	pluginOnce.Do(func() {
		if p := os.Getenv(harness.EnvPlugin); p != "" {
			abs, err := filepath.Abs(p)
			pluginDir, pluginErr = filepath.Dir(abs), err
			return
		}
		pluginDir, pluginErr = os.MkdirTemp("", "feastflow-foundation-")
		if pluginErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "kubectl-feastflow"), "./cmd/kubectl-feastflow")
		cmd.Dir = h.Env.ModuleRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = errors.New("go build ./cmd/kubectl-feastflow: " + err.Error() + "\n" + string(out))
		}
	})
	if pluginErr != nil {
		t.Fatalf("kubectl-feastflow: %v", pluginErr)
	}
	return pluginDir
}

// viaKubectl runs the real kubectl with the plugin under test first on PATH and the given
// environment (KUBECONFIG is unset unless env sets it), bounded by a deadline.
func viaKubectl(t *testing.T, h *harness.H, env []string, args ...string) (harness.Result, time.Duration) {
	t.Helper()
	path := strings.Join([]string{pluginBinDir(t, h), filepath.Dir(h.Env.Kubectl), os.Getenv("PATH")}, string(os.PathListSeparator))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.Env.Kubectl, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+path, "NO_COLOR=1", "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	r := harness.Result{Stdout: out.String(), Stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("kubectl %s: no answer within a minute\n%s", strings.Join(args, " "), r.Stderr)
	case errors.As(err, &exit):
		r.ExitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return r, elapsed
}

// requireVerb skips the test when the verb it drives does not exist yet.
func requireVerb(t *testing.T, h *harness.H, verb []string) {
	t.Helper()
	r, _ := viaKubectl(t, h, nil, append(append([]string{"feastflow"}, verb...), "--help")...)
	if r.ExitCode != 0 {
		t.Skipf("needs `kubectl feastflow %s`, which this build does not have (exit %d: %s)", strings.Join(verb, " "), r.ExitCode, r.Stderr)
	}
}

func TestPluginListFindsTheBinary(t *testing.T) {
	h := harness.For(t)
	dir := pluginBinDir(t, h)
	r, _ := viaKubectl(t, h, nil, "plugin", "list")
	if r.ExitCode != 0 {
		t.Fatalf("kubectl plugin list: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	want := filepath.Join(dir, "kubectl-feastflow")
	if !strings.Contains(r.Stdout, want) {
		t.Errorf("kubectl plugin list does not list %s:\n%s", want, r.Stdout)
	}
	if strings.Contains(r.Stderr, "kubectl-feastflow") {
		t.Errorf("kubectl plugin list warns about the plugin:\n%s", r.Stderr)
	}
	v, _ := viaKubectl(t, h, nil, "feastflow", "version", "-o", "json")
	if v.ExitCode != 0 || !strings.Contains(v.Stdout, `"kind": "VersionInfo"`) {
		t.Errorf("kubectl feastflow version -o json: exit %d\n%s%s", v.ExitCode, v.Stdout, v.Stderr)
	}
	helpOut, _ := viaKubectl(t, h, nil, "feastflow", "--help")
	if helpOut.ExitCode != 0 || !strings.Contains(helpOut.Stdout, "kubectl feastflow [command]") || strings.Contains(helpOut.Stdout, "kubectl-feastflow") {
		t.Errorf("kubectl feastflow --help through kubectl: exit %d\n%s", helpOut.ExitCode, helpOut.Stdout)
	}
}

// adminConfig is the cluster's admin kubeconfig, to derive broken and multi-context ones.
func adminConfig(t *testing.T, h *harness.H) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(h.Env.Kubeconfig)
	if err != nil {
		t.Fatalf("load %s: %v", h.Env.Kubeconfig, err)
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeConfig(t *testing.T, cfg *clientcmdapi.Config, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// withServer is the admin kubeconfig with its cluster's server replaced.
func withServer(t *testing.T, h *harness.H, server string) string {
	t.Helper()
	cfg := adminConfig(t, h)
	for _, c := range cfg.Clusters {
		c.Server = server
	}
	return writeConfig(t, cfg, "kubeconfig")
}

// A broken setup fails with exit 1 and one line on stderr that names the problem, fast.
func TestBrokenSetupsFailWithOneLine(t *testing.T) {
	h := harness.For(t)
	requireVerb(t, h, apiVerb)

	// A server that accepts connections and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = hang.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	// A port nothing listens on.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()

	broken := filepath.Join(t.TempDir(), "broken")
	if err := os.WriteFile(broken, []byte("apiVersion: v1\nkind: Config\nclusters: {{{ not yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	execCfg := adminConfig(t, h)
	for _, u := range execCfg.AuthInfos {
		*u = clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: "kubectl-no-such-credential-plugin",
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}}
	}
	execPath := writeConfig(t, execCfg, "exec")

	tests := []struct {
		name   string
		args   []string
		within time.Duration
		want   []string
	}{
		{"server does not answer", []string{"--kubeconfig", withServer(t, h, "http://"+hang.Addr().String()), "--request-timeout=2s"},
			2*time.Second + 3*time.Second, []string{"did not answer within --request-timeout"}},
		{"connection refused", []string{"--kubeconfig", withServer(t, h, "http://"+closedAddr)},
			5 * time.Second, []string{"connection refused", "unreachable"}},
		{"broken kubeconfig", []string{"--kubeconfig", broken},
			5 * time.Second, []string{"load kubeconfig", broken}},
		{"missing context", []string{"--kubeconfig", h.Env.Kubeconfig, "--context", "no-such-context"},
			5 * time.Second, []string{`context "no-such-context" does not exist`}},
		{"missing exec credential plugin", []string{"--kubeconfig", execPath},
			5 * time.Second, []string{"executable kubectl-no-such-credential-plugin not found", "credential plugin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"feastflow"}, apiVerb...), append([]string{"-n", "default"}, tt.args...)...)
			r, elapsed := viaKubectl(t, h, nil, args...)
			t.Logf("kubectl %s: exit %d after %s: %s", strings.Join(args, " "), r.ExitCode, elapsed.Round(time.Millisecond), r.Stderr)
			if r.ExitCode != 1 {
				t.Errorf("exit %d, want 1", r.ExitCode)
			}
			if elapsed > tt.within {
				t.Errorf("took %s, want at most %s", elapsed, tt.within)
			}
			if !strings.HasPrefix(r.Stderr, "error: ") || strings.Count(r.Stderr, "\n") != 1 {
				t.Errorf("stderr is not one error line: %q", r.Stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr does not say %q: %q", w, r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, "goroutine ") || strings.Contains(r.Stderr, "panic") {
				t.Errorf("stack trace on stderr: %q", r.Stderr)
			}
		})
	}
}

// The request URLs that client-go logs at -v=6 (`"Response" verb="GET" url="..."`), and the
// namespace in one.
var (
	requestURL     = regexp.MustCompile(`url="(https?://[^"]+)"`)
	namespaceInURL = regexp.MustCompile(`/namespaces/([a-z0-9-]+)(?:/|\?|$)`)
)

// requestNamespaces lists the namespaces and servers of the requests that -v=6 logged.
func requestNamespaces(t *testing.T, stderr string) (namespaces, servers []string) {
	t.Helper()
	seenNS, seenServer := map[string]bool{}, map[string]bool{}
	for _, m := range requestURL.FindAllStringSubmatch(stderr, -1) {
		if ns := namespaceInURL.FindStringSubmatch(m[1]); len(ns) == 2 && !seenNS[ns[1]] {
			seenNS[ns[1]] = true
			namespaces = append(namespaces, ns[1])
		}
		host := m[1][:strings.Index(m[1][len("https://"):], "/")+len("https://")]
		if !seenServer[host] {
			seenServer[host] = true
			servers = append(servers, host)
		}
	}
	sort.Strings(namespaces)
	sort.Strings(servers)
	return namespaces, servers
}

// --context, -n, --kubeconfig and $KUBECONFIG select the same cluster and namespace for the
// plugin as for kubectl itself: kubectl's own requests (-v=6) are the oracle.
func TestGlobalFlagsBehaveAsKubectl(t *testing.T) {
	h := harness.For(t)
	requireVerb(t, h, apiVerb)
	nsA, nsB, nsC := h.NewNamespace(), h.NewNamespace(), h.NewNamespace()

	// Two contexts on the local cluster with different default namespaces.
	two := adminConfig(t, h)
	var cluster, user string
	for name := range two.Clusters {
		cluster = name
	}
	for name := range two.AuthInfos {
		user = name
	}
	two.Contexts = map[string]*clientcmdapi.Context{
		"ctx-a": {Cluster: cluster, AuthInfo: user, Namespace: nsA},
		"ctx-b": {Cluster: cluster, AuthInfo: user, Namespace: nsB},
	}
	two.CurrentContext = "ctx-a"
	twoPath := writeConfig(t, two, "two-contexts")
	// A second file whose current context is ctx-b: with KUBECONFIG=a:b the first file's
	// current-context wins, as in kubectl.
	other := adminConfig(t, h)
	other.Contexts = map[string]*clientcmdapi.Context{"ctx-c": {Cluster: cluster, AuthInfo: user, Namespace: nsC}}
	other.CurrentContext = "ctx-c"
	otherPath := writeConfig(t, other, "other")

	tests := []struct {
		name string
		env  []string
		args []string
	}{
		{"current context", []string{"KUBECONFIG=" + twoPath}, nil},
		{"--context", []string{"KUBECONFIG=" + twoPath}, []string{"--context", "ctx-b"}},
		{"-n beats the context", []string{"KUBECONFIG=" + twoPath}, []string{"--context", "ctx-b", "-n", nsC}},
		{"--namespace=", []string{"KUBECONFIG=" + twoPath}, []string{"--namespace=" + nsB}},
		{"--kubeconfig beats $KUBECONFIG", []string{"KUBECONFIG=" + twoPath}, []string{"--kubeconfig", otherPath}},
		{"merged $KUBECONFIG", []string{"KUBECONFIG=" + otherPath + string(os.PathListSeparator) + twoPath}, nil},
		{"merged $KUBECONFIG with --context from the second file", []string{"KUBECONFIG=" + otherPath + string(os.PathListSeparator) + twoPath}, []string{"--context=ctx-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, _ := viaKubectl(t, h, tt.env, append([]string{"get", "services", "-v=6"}, tt.args...)...)
			if ref.ExitCode != 0 {
				t.Fatalf("kubectl get services %v: exit %d\n%s", tt.args, ref.ExitCode, ref.Stderr)
			}
			wantNS, wantServers := requestNamespaces(t, ref.Stderr)
			if len(wantNS) != 1 {
				t.Fatalf("kubectl's own requests name namespaces %v", wantNS)
			}
			args := append(append(append([]string{"feastflow"}, apiVerb...), "-v=6"), tt.args...)
			r, _ := viaKubectl(t, h, tt.env, args...)
			gotNS, gotServers := requestNamespaces(t, r.Stderr)
			if len(gotNS) == 0 {
				t.Fatalf("kubectl %s made no namespaced request (exit %d):\n%s", strings.Join(args, " "), r.ExitCode, r.Stderr)
			}
			if !slices.Equal(gotNS, wantNS) || !slices.Equal(gotServers, wantServers) {
				t.Errorf("kubectl %s talks to %v in namespaces %v; kubectl get services to %v in %v", strings.Join(args, " "), gotServers, gotNS, wantServers, wantNS)
			}
		})
	}
}
