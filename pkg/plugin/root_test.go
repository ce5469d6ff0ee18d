package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// apiServer is a fake API server that counts the requests it receives: usage errors must
// be reported before the first one.
type apiServer struct {
	*httptest.Server
	requests atomic.Int64
}

func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	s := &apiServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"%s not found"}`, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

// testFlags returns kubectl's flags reading a kubeconfig written for server, whose context
// has the default namespace "team-a".
func testFlags(t *testing.T, server string) *genericclioptions.ConfigFlags {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
users:
- name: alice
  user:
    token: secret-token
contexts:
- name: test
  context: {cluster: test, user: alice, namespace: team-a}
current-context: test
`, server)
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := genericclioptions.NewConfigFlags(false)
	cf.KubeConfig = &path
	return cf
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes the command tree as main does: the error as one line on stderr, the exit
// code from ExitCode.
func run(t *testing.T, getter genericclioptions.RESTClientGetter, args ...string) result {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cmd := newRootCmd(getter, streams)
	cmd.SetArgs(args)
	err := Execute(context.Background(), cmd)
	if err != nil {
		fmt.Fprintln(errOut, "error: "+ErrorLine(err))
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: ExitCode(err)}
}

// commandPaths walks the whole command tree (verbs added later included) and returns the
// argument path of every command, the root's as the empty path.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := newRootCmd(testFlags(t, "https://127.0.0.1:1"), genericiooptions.NewTestIOStreamsDiscard())
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(root, nil)
	return paths
}

// findCmd returns the command at path in a fresh tree.
func findCmd(t *testing.T, path []string) *cobra.Command {
	t.Helper()
	root := newRootCmd(testFlags(t, "https://127.0.0.1:1"), genericiooptions.NewTestIOStreamsDiscard())
	c, _, err := root.Find(path)
	if err != nil {
		t.Fatalf("find %v: %v", path, err)
	}
	return c
}

func TestHelpSaysKubectlFeastflow(t *testing.T) {
	for _, path := range commandPaths(t) {
		name := strings.Join(append([]string{"kubectl", "feastflow"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			srv := newAPIServer(t)
			r := run(t, testFlags(t, srv.URL), append(append([]string(nil), path...), "--help")...)
			if r.code != ExitOK {
				t.Fatalf("%s --help: exit %d, stderr %q", name, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Usage:\n  "+name) {
				t.Errorf("%s --help: usage does not start with %q:\n%s", name, name, r.stdout)
			}
			if strings.Contains(r.stdout, "kubectl-feastflow") {
				t.Errorf("%s --help says kubectl-feastflow, users type kubectl feastflow:\n%s", name, r.stdout)
			}
			if n := srv.requests.Load(); n != 0 {
				t.Errorf("%s --help sent %d API requests", name, n)
			}
		})
	}
}

func TestHelpCommandAndBareRoot(t *testing.T) {
	for _, args := range [][]string{{"help"}, {}} {
		r := run(t, testFlags(t, "https://127.0.0.1:1"), args...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "kubectl feastflow [command]") || strings.Contains(r.stdout, "kubectl-feastflow") {
			t.Errorf("kubectl feastflow %v: exit %d, stdout:\n%s", args, r.code, r.stdout)
		}
	}
}

// Only the root may have persistent pre-run hooks: cobra runs the nearest one only, and the
// root's is what tells usage errors (exit 2) from errors after validation (exit 1).
func TestOnlyRootHasPersistentPreRun(t *testing.T) {
	for _, path := range commandPaths(t)[1:] {
		c := findCmd(t, path)
		if c.PersistentPreRun != nil || c.PersistentPreRunE != nil {
			t.Errorf("%s has its own PersistentPreRun: it hides the root's, which marks where usage errors end", c.CommandPath())
		}
	}
}

func TestVersionMachineOutput(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			r := run(t, testFlags(t, "https://127.0.0.1:1"), "version", "-o", format)
			if r.code != ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got map[string]any
			var err error
			if format == "json" {
				err = json.Unmarshal([]byte(r.stdout), &got)
			} else {
				err = yaml.Unmarshal([]byte(r.stdout), &got)
			}
			if err != nil {
				t.Fatalf("version -o %s does not parse: %v\n%s", format, err, r.stdout)
			}
			if got["apiVersion"] != report.APIVersion || got["kind"] != "VersionInfo" {
				t.Errorf("apiVersion/kind = %v/%v, want %s/VersionInfo", got["apiVersion"], got["kind"], report.APIVersion)
			}
			for _, k := range []string{"version", "commit", "date", "goVersion", "platform"} {
				if s, _ := got[k].(string); s == "" {
					t.Errorf("%s missing in %s", k, r.stdout)
				}
			}
		})
	}
}

func TestVersionHuman(t *testing.T) {
	r := run(t, testFlags(t, "https://127.0.0.1:1"), "version")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "kubectl-feastflow "+version+" ") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestUsageErrorsExit2WithoutRequests(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"unknown flag", []string{"version", "--bogus"}, "unknown flag: --bogus"},
		{"unknown flag on the root", []string{"--bogus"}, "unknown flag: --bogus"},
		{"unknown shorthand", []string{"version", "-Z"}, "unknown shorthand flag: 'Z'"},
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"bad -o", []string{"version", "-o", "xml"}, `unknown output format "xml"`},
		{"bad --color", []string{"version", "--color=purple"}, `invalid --color "purple"`},
		{"extra argument", []string{"version", "extra"}, "unknown command"},
		{"bad -v", []string{"version", "--v=notanumber"}, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t)
			r := run(t, testFlags(t, srv.URL), tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, tt.want)
			}
			if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("stderr is not one error line: %q", r.stderr)
			}
			if n := srv.requests.Load(); n != 0 {
				t.Errorf("%d API requests sent for a usage error", n)
			}
		})
	}
}

// flagValue is a valid value for a required flag of the given type, so that argument
// checks pass and the flag under test is what fails.
func flagValue(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int32", "int64", "uint", "uint32", "float64":
		return "1"
	case "duration":
		return "1s"
	case "bool":
		return "true"
	}
	return "x"
}

// Every write verb (anything with --dry-run) rejects a bad --dry-run with exit 2 and no
// request, whatever positional arguments it wants.
func TestBadDryRunExit2WithoutRequests(t *testing.T) {
	checked := 0
	for _, path := range commandPaths(t)[1:] {
		c := findCmd(t, path)
		if c.Flags().Lookup("dry-run") == nil {
			continue
		}
		checked++
		var required []string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if _, ok := f.Annotations[cobra.BashCompOneRequiredFlag]; ok {
				required = append(required, "--"+f.Name+"="+flagValue(f))
			}
		})
		t.Run(c.CommandPath(), func(t *testing.T) {
			said := false
			var lines []string
			for nargs := 0; nargs <= 3; nargs++ {
				srv := newAPIServer(t)
				args := append(append([]string(nil), path...), required...)
				for i := 0; i < nargs; i++ {
					args = append(args, fmt.Sprintf("arg%d", i))
				}
				args = append(args, "--dry-run=bogus")
				r := run(t, testFlags(t, srv.URL), args...)
				if r.code != ExitUsage {
					t.Errorf("%v: exit %d, want %d (stderr %q)", args, r.code, ExitUsage, r.stderr)
				}
				if n := srv.requests.Load(); n != 0 {
					t.Errorf("%v: %d API requests sent before --dry-run was validated", args, n)
				}
				said = said || strings.Contains(r.stderr, "dry-run")
				lines = append(lines, r.stderr)
			}
			if !said {
				// Exit 2 with no request is the contract; which usage error a verb reports
				// first (a missing argument or flag) is its own choice.
				t.Logf("no argument count reached the --dry-run check: %q", lines)
			}
		})
	}
	t.Logf("%d write verbs checked", checked)
	f := &writeFlags{dryRun: "bogus"}
	if _, err := f.writer(); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "--dry-run") {
		t.Errorf("writeFlags.writer with --dry-run=bogus: %v (exit %d)", err, ExitCode(err))
	}
}

// Output to a pipe never carries ANSI escapes: help of every command, and version.
func TestPipedOutputHasNoANSI(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	runs := [][]string{{"version"}, {"version", "-o", "yaml"}}
	for _, path := range commandPaths(t) {
		runs = append(runs, append(append([]string(nil), path...), "--help"))
	}
	for _, args := range runs {
		r := run(t, testFlags(t, "https://127.0.0.1:1"), args...)
		if strings.Contains(r.stdout+r.stderr, "\x1b") {
			t.Errorf("kubectl feastflow %v writes ANSI escapes to a pipe: %q", args, r.stdout+r.stderr)
		}
	}
}

func TestPalette(t *testing.T) {
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer tty.Close()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		w     any
		color bool
	}{
		{"terminal", nil, nil, tty, true},
		{"pipe", nil, nil, &bytes.Buffer{}, false},
		{"NO_COLOR", nil, map[string]string{"NO_COLOR": "1"}, tty, false},
		{"TERM=dumb", nil, map[string]string{"TERM": "dumb"}, tty, false},
		{"--color=never", []string{"--color=never"}, nil, tty, false},
		{"--color=always on a pipe", []string{"--color=always"}, nil, &bytes.Buffer{}, true},
		{"--color=always beats NO_COLOR", []string{"--color=always"}, map[string]string{"NO_COLOR": "1"}, &bytes.Buffer{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := getenv
			t.Cleanup(func() { getenv = old })
			getenv = func(k string) string {
				if k == "TERM" && tt.env[k] == "" {
					return "xterm"
				}
				return tt.env[k]
			}
			root := newRootCmd(testFlags(t, "https://127.0.0.1:1"), genericiooptions.NewTestIOStreamsDiscard())
			if err := root.PersistentFlags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			w, _ := tt.w.(interface{ Write([]byte) (int, error) })
			if got := palette(root, w).Enabled; got != tt.color {
				t.Errorf("colour = %v, want %v", got, tt.color)
			}
		})
	}
}

// The global flags are kubectl's own, so that --context, -n and --kubeconfig mean what they
// mean to kubectl.
func TestKubectlGlobalFlags(t *testing.T) {
	root := newRootCmd(testFlags(t, "https://127.0.0.1:1"), genericiooptions.NewTestIOStreamsDiscard())
	var missing []string
	for _, name := range []string{"kubeconfig", "context", "cluster", "user", "namespace", "as", "as-group", "as-uid",
		"request-timeout", "insecure-skip-tls-verify", "server", "token", "certificate-authority", "client-certificate",
		"client-key", "tls-server-name", "v"} {
		if root.PersistentFlags().Lookup(name) == nil {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("global flags missing: %v", missing)
	}
	if f := root.PersistentFlags().ShorthandLookup("n"); f == nil || f.Name != "namespace" {
		t.Errorf("-n is not --namespace")
	}
	if root.PersistentFlags().Lookup("log_dir") != nil || root.PersistentFlags().Lookup("alsologtostderr") != nil {
		t.Errorf("klog's flags other than -v are exposed")
	}
}
