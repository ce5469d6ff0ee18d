package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitError},
		{usageErrorf("bad"), ExitUsage},
		{fmt.Errorf("wrapped: %w", usageErrorf("bad")), ExitUsage},
		{problemsFound("2 errors"), ExitProblems},
		{asUsage(errors.New("flag")), ExitUsage},
		{asUsage(problemsFound("kept")), ExitProblems},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// listServices makes one real client-go request with the given flags, as a verb would.
func listServices(t *testing.T, cf *genericclioptions.ConfigFlags) error {
	t.Helper()
	c, err := newClients(cf)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Kube.CoreV1().Services(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services in %s: %w", c.Namespace, err)
	}
	return nil
}

func writeKubeconfig(t *testing.T, content string) *genericclioptions.ConfigFlags {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := genericclioptions.NewConfigFlags(false)
	cf.KubeConfig = &path
	return cf
}

// The errors client-go gives for a broken setup reach the user as one line that names the
// problem and the fix.
func TestErrorLineOfClientErrors(t *testing.T) {
	hanging := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hanging.Close()
	// client-go runs exec credential plugins only for TLS servers.
	tlsServer := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsServer.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name  string
		flags func(t *testing.T) *genericclioptions.ConfigFlags
		want  []string
		not   []string
	}{
		{
			name: "missing exec credential plugin",
			flags: func(t *testing.T) *genericclioptions.ConfigFlags {
				return writeKubeconfig(t, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+tlsServer.URL+`", insecure-skip-tls-verify: true}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl-no-such-credential-plugin
      interactiveMode: Never
      installHint: "install it with: go install example.com/credential-plugin@latest"
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`)
			},
			want: []string{"executable kubectl-no-such-credential-plugin not found", "install it with: go install"},
			not:  []string{"It looks like", "kubernetes.io/docs", "unreachable"},
		},
		{
			name:  "unreachable server",
			flags: func(t *testing.T) *genericclioptions.ConfigFlags { return testFlags(t, closedURL) },
			want:  []string{"connection refused", "the API server is unreachable", "kubectl cluster-info"},
		},
		{
			name: "server does not answer within --request-timeout",
			flags: func(t *testing.T) *genericclioptions.ConfigFlags {
				cf := testFlags(t, hanging.URL)
				timeout := "300ms"
				cf.Timeout = &timeout
				return cf
			},
			want: []string{"did not answer within --request-timeout"},
		},
		{
			name: "missing context",
			flags: func(t *testing.T) *genericclioptions.ConfigFlags {
				cf := testFlags(t, hanging.URL)
				name := "no-such-context"
				cf.Context = &name
				return cf
			},
			want: []string{`"no-such-context"`, "--context"},
		},
		{
			name: "broken kubeconfig",
			flags: func(t *testing.T) *genericclioptions.ConfigFlags {
				return writeKubeconfig(t, "apiVersion: v1\nkind: Config\nclusters: {{{ not yaml\n")
			},
			want: []string{"load kubeconfig", "--kubeconfig"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := listServices(t, tt.flags(t))
			if err == nil {
				t.Fatal("no error")
			}
			line := ErrorLine(err)
			if strings.ContainsAny(line, "\n\r") {
				t.Errorf("not one line: %q", line)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q does not say %q", line, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(line, n) {
					t.Errorf("%q says %q", line, n)
				}
			}
			t.Logf("error: %s", line)
		})
	}
}

func TestErrorLineEscapes(t *testing.T) {
	got := ErrorLine(errors.New("pod \x1b[31mevil\x1b[0m failed\n\nsecond line"))
	if want := `pod \x1b[31mevil\x1b[0m failed; second line`; got != want {
		t.Errorf("ErrorLine = %q, want %q", got, want)
	}
}
