package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// fleetServer answers the LISTs of `maintenance status`: one cordoned node, no pods; or 403.
func fleetServer(t *testing.T, node string, forbidden bool, requests *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if forbidden {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"nodes is forbidden: User \"bob\" cannot list resource \"nodes\""}`)
			return
		}
		var body any
		switch r.URL.Path {
		case "/api/v1/nodes":
			body = corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}, Items: []corev1.Node{{
				ObjectMeta: metav1.ObjectMeta{Name: node}, Spec: corev1.NodeSpec{Unschedulable: true},
			}}}
		case "/api/v1/pods":
			body = corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeFleetKubeconfig writes a kubeconfig with one context per server URL.
func writeFleetKubeconfig(t *testing.T, servers map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n")
	for name, url := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n", name, url)
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: t\ncontexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: u\n", name, name)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runFleetCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewRootCmd(streams)
	cmd.SetArgs(args)
	err := Execute(t.Context(), cmd)
	if err != nil {
		errOut.WriteString("error: " + ErrorLine(err) + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func fleetFixture(t *testing.T) (string, *atomic.Int64) {
	var requests atomic.Int64
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // a context whose server is unreachable
	kc := writeFleetKubeconfig(t, map[string]string{
		"a": fleetServer(t, "node-a", false, &requests).URL,
		"b": fleetServer(t, "node-b", true, &requests).URL,
		"c": down.URL,
		"d": fleetServer(t, "node-d", false, &requests).URL,
	})
	return kc, &requests
}

func TestFleetTableWithContextColumn(t *testing.T) {
	kc, _ := fleetFixture(t)
	out, stderr, code := runFleetCmd(t, "maintenance", "status", "--kubeconfig", kc, "--contexts", "a,b,c,d", "--max-parallel", "2")
	if code != ExitError {
		t.Fatalf("exit %d, want %d (the worst of the contexts); stdout:\n%s\nstderr:\n%s", code, ExitError, out, stderr)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "CONTEXT") || !strings.Contains(lines[0], "NAME") {
		t.Fatalf("first line %q: want one table with a CONTEXT column", lines[0])
	}
	for _, want := range []string{"a         node-a", "d         node-d"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("stdout lacks row %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "CONTEXT") != 2 {
		t.Errorf("want the status table once and the result table once:\n%s", out)
	}
	for _, want := range []string{"forbidden", "unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("result table lacks %q:\n%s", want, out)
		}
	}
}

func TestFleetJSONList(t *testing.T) {
	kc, _ := fleetFixture(t)
	out, _, code := runFleetCmd(t, "maintenance", "status", "--kubeconfig", kc, "--all-contexts", "-o", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 1", code)
	}
	var res FleetResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if res.Kind != "FleetResult" || res.Verb != "maintenance status" || len(res.Items) != 4 {
		t.Fatalf("got kind %q verb %q items %d", res.Kind, res.Verb, len(res.Items))
	}
	codes := map[string]int{}
	for _, it := range res.Items {
		codes[it.Context] = it.ExitCode
		if it.ExitCode == 0 && !strings.Contains(string(it.Result), `"kind": "MaintenanceStatus"`) {
			t.Errorf("context %s: result %s", it.Context, it.Result)
		}
		if it.ExitCode != 0 && it.Error == "" {
			t.Errorf("context %s failed without an error", it.Context)
		}
	}
	if codes["a"] != 0 || codes["b"] != 1 || codes["c"] != 1 || codes["d"] != 0 {
		t.Errorf("exit codes %v", codes)
	}
}

func TestFleetUsageErrorsMakeNoRequest(t *testing.T) {
	kc, requests := fleetFixture(t)
	for _, args := range [][]string{
		{"--contexts", "a,zz"},
		{"--contexts", "a", "--all-contexts"},
		{"--contexts", "a", "--context", "a"},
		{"--contexts", "a", "--max-parallel", "0"},
		{"--contexts", "a", "-o", "wide"},
		{"--max-parallel", "2"},
	} {
		_, stderr, code := runFleetCmd(t, append([]string{"maintenance", "status", "--kubeconfig", kc}, args...)...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests made by usage errors", n)
	}
}

func TestFleetVerbsHaveTheFlags(t *testing.T) {
	root := NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	for path := range fleetVerbs() {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd.Flags().Lookup("contexts") == nil || cmd.Flags().Lookup("all-contexts") == nil || cmd.Flags().Lookup("max-parallel") == nil {
			t.Errorf("%s: no fleet flags (%v)", path, err)
		}
	}
}
