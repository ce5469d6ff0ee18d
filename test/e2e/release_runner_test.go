package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// The same failure gives the same exit code from every release verb, through the real
// kubectl: an unknown component or one of another strategy is 1 with the candidates
// listed, and nothing is written; a bad flag is 2.
func TestReleaseVerbsExitCodesThroughKubectl(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	// A Service that reaches no Deployment.
	h.Apply(ns, "apiVersion: v1\nkind: Service\nmetadata: {name: stray}\nspec: {selector: {app: no-such-app}, ports: [{port: 80}]}\n")
	const all = "feastflow-backend (blue-green), feastflow-frontend (rolling), postgres (recreate)"
	tests := []struct {
		verb                  string
		unknown, wrong, usage []string
		wrongWant             string
	}{
		{verb: "status", unknown: []string{"status", "ghost"}, usage: []string{"status", "-o", "xml"}},
		{verb: "deploy", unknown: []string{"deploy", "ghost", "--image", "x:2"}, wrong: []string{"deploy", "stray", "--image", "x:2"}, wrongWant: all, usage: []string{"deploy", "feastflow-frontend", "--image", "x:2", "--replicas", "0"}},
		{verb: "switch", unknown: []string{"switch", "green", "ghost"}, wrong: []string{"switch", "green", "feastflow-frontend"}, wrongWant: "blue-green components in " + ns + ": feastflow-backend (blue-green)", usage: []string{"switch", "green", "feastflow-backend", "--verify-timeout", "0s"}},
		{verb: "promote", unknown: []string{"promote", "ghost", "--yes"}, wrong: []string{"promote", "feastflow-frontend", "--yes"}, wrongWant: "feastflow-backend (blue-green)", usage: []string{"promote", "feastflow-backend", "--scale-down-delay", "-1s"}},
		{verb: "abort", unknown: []string{"abort", "ghost", "--yes"}, wrong: []string{"abort", "postgres", "--yes"}, wrongWant: "feastflow-backend (blue-green)", usage: []string{"abort", "feastflow-backend", "--dry-run=maybe"}},
		{verb: "rollback", unknown: []string{"rollback", "ghost"}, wrong: []string{"rollback", "stray"}, wrongWant: all, usage: []string{"rollback", "feastflow-frontend", "--to-revision", "-1"}},
		{verb: "canary-step", unknown: []string{"canary-step", "ghost"}, wrong: []string{"canary-step", "feastflow-frontend"}, wrongWant: "canary or statefulset or daemonset components in " + ns + ": none", usage: []string{"canary-step", "feastflow-frontend", "--weight", "101"}},
		{verb: "pause", unknown: []string{"pause", "ghost"}, wrong: []string{"pause", "stray"}, wrongWant: all, usage: []string{"pause", "feastflow-frontend", "--timeout", "-1s"}},
		{verb: "resume", unknown: []string{"resume", "ghost"}, wrong: []string{"resume", "stray"}, wrongWant: all, usage: []string{"resume", "feastflow-frontend", "-o", "wide"}},
		{verb: "history", unknown: []string{"history", "ghost"}, usage: []string{"history", "feastflow-frontend", "-o", "wide"}},
		{verb: "scale", unknown: []string{"scale", "ghost", "--replicas", "2"}, wrong: []string{"scale", "stray", "--replicas", "2"}, wrongWant: all, usage: []string{"scale", "feastflow-frontend", "--replicas", "-1"}},
		{verb: "autoscale", unknown: []string{"autoscale", "ghost", "--max", "3", "--cpu-percent", "50"}, wrong: []string{"autoscale", "stray", "--max", "3", "--cpu-percent", "50"}, wrongWant: all, usage: []string{"autoscale", "feastflow-frontend", "--min", "5", "--max", "3", "--cpu-percent", "50"}},
		{verb: "restart", unknown: []string{"restart", "ghost"}, wrong: []string{"restart", "stray"}, wrongWant: all, usage: []string{"restart", "feastflow-frontend", "--all"}},
	}
	state := func() string {
		return h.MustKubectl("-n", ns, "get", "svc,deploy,hpa", "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.generation}/{.metadata.annotations.feastflow\.dev/last-operation}{"\n"}{end}`)
	}
	before := state()
	for _, tt := range tests {
		r := h.Feastflow(append(tt.unknown, "-n", ns)...)
		if r.ExitCode != 1 || !strings.Contains(r.Stderr, `component "ghost" not found`) || !strings.Contains(r.Stderr, all) || r.Stdout != "" {
			t.Errorf("%s, unknown component: exit %d, want 1 with the candidates\nstdout: %s\nstderr: %s", tt.verb, r.ExitCode, r.Stdout, r.Stderr)
		}
		if tt.wrong != nil {
			r := h.Feastflow(append(tt.wrong, "-n", ns)...)
			if r.ExitCode != 1 || !strings.Contains(r.Stderr, tt.wrongWant) || r.Stdout != "" {
				t.Errorf("%s, wrong strategy: exit %d, want 1 listing %q\nstdout: %s\nstderr: %s", tt.verb, r.ExitCode, tt.wrongWant, r.Stdout, r.Stderr)
			}
		}
		r = h.Feastflow(append(tt.usage, "-n", ns)...)
		if r.ExitCode != 2 || !strings.HasPrefix(r.Stderr, "error: ") {
			t.Errorf("%s, bad flag: exit %d, want 2\n%s", tt.verb, r.ExitCode, r.Stderr)
		}
	}
	if after := state(); after != before {
		t.Errorf("the failures wrote:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// promote -o json interrupted after the switch (during the scale-down delay) prints the
// result with the switch in it, then exits 130: traffic moved, and the output says so.
func TestPromoteInterruptedPrintsTheSwitch(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, "feastflow-backend-blue")
	cnRun(t, h, 0, "deploy", "feastflow-backend", "--image", "ghcr.io/feastflow/backend:1.5.0", "-n", ns)

	plugin := pluginBinary(t, h)
	cmd := exec.Command(h.Env.Kubectl, "feastflow", "promote", "feastflow-backend", "--scale-down-delay", "10m", "--yes", "-o", "json", "-n", ns)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.Env.Kubeconfig, "NO_COLOR=1",
		"PATH="+filepath.Dir(plugin)+string(os.PathListSeparator)+filepath.Dir(h.Env.Kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waiting := make(chan struct{})
	var lines []string
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			lines = append(lines, s.Text())
			if strings.Contains(s.Text(), "waiting") && strings.Contains(s.Text(), "before scaling") {
				close(waiting)
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(2 * time.Minute):
		t.Fatalf("promote never reached the scale-down delay")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d after SIGINT, want 130\n%s", code, strings.Join(lines, "\n"))
	}
	var res struct {
		Kind    string `json:"kind"`
		Changed bool   `json:"changed"`
		Changes []struct {
			Object, Field, From, To string
		} `json:"changes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not the result: %v\n%s", err, stdout.String())
	}
	switched := false
	for _, c := range res.Changes {
		switched = switched || c.Object == "service/feastflow-backend" && c.To == "green"
	}
	if res.Kind != "PromoteResult" || !res.Changed || !switched {
		t.Errorf("result after the interrupt lacks the switch:\n%s", stdout.String())
	}
	if sel := h.MustKubectl("-n", ns, "get", "svc", "feastflow-backend", "-o", "jsonpath={.spec.selector.version}"); sel != "green" {
		t.Errorf("service selects %s", sel)
	}
}

// Every revision the plugin makes carries its change cause with the --reason, in kubectl
// rollout history and in the plugin's history; --auto-rollback returns to the last
// revision that was available, not to an earlier failed deploy.
func TestChangeCauseAndAutoRollbackToLastAvailable(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, rlName)
	cnRun(t, h, 0, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:1.5.0", "-n", ns, "--reason", "ticket OPS-7781")
	cnRun(t, h, 0, "restart", rlName, "-n", ns, "--reason", "rotate caches")
	hist := h.MustKubectl("-n", ns, "rollout", "history", "deploy/"+rlName)
	for _, want := range []string{"ticket OPS-7781", "restart", "rotate caches"} {
		if !strings.Contains(hist, want) {
			t.Errorf("kubectl rollout history lacks %q:\n%s", want, hist)
		}
	}
	ours := cnRun(t, h, 0, "history", rlName, "-n", ns).Stdout
	if !strings.Contains(ours, "ticket OPS-7781") || !strings.Contains(ours, "rotate caches") {
		t.Errorf("kubectl feastflow history lacks the reasons:\n%s", ours)
	}
	good := rlImage(t, h, ns)

	// A failed deploy without --auto-rollback stays; the next one, with it, must not
	// return to that failure.
	cnRun(t, h, 1, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:notfound", "-n", ns)
	r := cnRun(t, h, 1, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:crashloop", "--auto-rollback", "-n", ns, "--reason", "try 2")
	if !strings.Contains(r.Stderr, "the last one that was available") {
		t.Errorf("auto-rollback message:\n%s", r.Stderr)
	}
	if img := rlImage(t, h, ns); img != good {
		t.Errorf("image after --auto-rollback = %s, want %s (the last available), not the earlier failure", img, good)
	}
	h.WaitForRollout(ns, rlName)
	hist = h.MustKubectl("-n", ns, "rollout", "history", "deploy/"+rlName)
	if !strings.Contains(hist, "kubectl feastflow rollback") || !strings.Contains(hist, "try 2") {
		t.Errorf("kubectl rollout history lacks the rollback's cause:\n%s", hist)
	}
}
