package e2e

// kubectl feastflow in a real terminal (tmux), as people use it: shell completion through
// kubectl's own completion script and bash-completion (zsh too), the y/N prompts of the
// destructive verbs, the progress lines and colour that only a terminal gets.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// applyLedger creates a blue-green component "ledger" live on amber with an idle teal color,
// one replica each, and waits until both are available.
func applyLedger(h *harness.H, ns string) {
	h.T.Helper()
	h.Apply(ns, `apiVersion: v1
kind: Service
metadata:
  name: ledger
spec:
  selector: {app: ledger, version: amber}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-amber
spec:
  replicas: 1
  selector: {matchLabels: {app: ledger, version: amber}}
  template:
    metadata: {labels: {app: ledger, version: amber}}
    spec:
      containers: [{name: app, image: registry.example/ledger:1.0, ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger-teal
spec:
  replicas: 1
  selector: {matchLabels: {app: ledger, version: teal}}
  template:
    metadata: {labels: {app: ledger, version: teal}}
    spec:
      containers: [{name: app, image: registry.example/ledger:1.1, ports: [{containerPort: 8080}]}]
`)
	h.WaitForRollout(ns, "ledger-amber")
	h.WaitForRollout(ns, "ledger-teal")
}

// completionShell starts an interactive shell set up as a user sets it up for completion:
// bash with bash-completion and `source <(kubectl completion bash)`, or zsh with compinit and
// `source <(kubectl completion zsh)`; it returns the terminal and the keys that list the
// candidates (bash: Tab Tab; zsh: Tab).
func completionShell(t *testing.T, h *harness.H, shell string) (*tmux, []string) {
	t.Helper()
	bin := userBin(t, h)
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "KUBECONFIG=" + h.Env.Kubeconfig}
	rcDir := t.TempDir()
	switch shell {
	case "bash":
		requirePackage(t, "bash-completion", "/usr/share/bash-completion/bash_completion")
		rc := filepath.Join(rcDir, "bashrc")
		writeFile(t, rc, `source /usr/share/bash-completion/bash_completion
source <(kubectl completion bash)
PS1='$ '
bind 'set completion-query-items 10000'
bind 'set page-completions off'
`)
		return newTmux(t, env, "bash", "--noprofile", "--rcfile", rc, "-i"), []string{"Tab", "Tab"}
	case "zsh":
		requirePackage(t, "zsh", "/usr/bin/zsh")
		writeFile(t, filepath.Join(rcDir, ".zshrc"), `autoload -U compinit && compinit -u
source <(kubectl completion zsh)
PROMPT='$ '
unsetopt BEEP
`)
		return newTmux(t, append(env, "ZDOTDIR="+rcDir), "zsh", "-i"), []string{"Tab"}
	}
	t.Fatalf("unknown shell %s", shell)
	return nil, nil
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCompletionInARealShell(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	applyLedger(h, ns)
	p := newPool(h, 2, "4")

	for _, shell := range []string{"bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			h := harness.For(t)
			term, list := completionShell(t, h, shell)
			term.WaitFor("the prompt", func(s string) bool { return strings.HasSuffix(strings.TrimSpace(s), "$") })

			complete := func(line string, want ...string) string {
				t.Helper()
				term.Clear()
				term.Type(line)
				term.Keys(list...)
				return term.WaitForText(want...)
			}
			// The verbs, from the plugin's __complete through kubectl_complete-feastflow.
			complete("kubectl feastflow ", "switch", "diagnose", "maintenance", "promote", "canary-step")
			// Colors of the namespace's blue-green Deployments.
			complete("kubectl feastflow switch -n "+ns+" ", "amber", "teal")
			// Namespaces from the cluster, and a unique prefix completed on the line.
			complete("kubectl feastflow status -n kube-", "kube-system", "kube-public")
			term.Clear()
			term.Type("kubectl feastflow status -n " + ns[:len(ns)-3])
			term.Keys("Tab")
			term.WaitForText("kubectl feastflow status -n " + ns + " ")
			// Nodes for maintenance drain.
			complete("kubectl feastflow maintenance drain e2e-maint-"+p.id+"-", p.nodes...)
			term.Keys("C-u")
		})
	}
}

func TestPromptsInATerminal(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	applyLedger(h, ns)
	bin := userBin(t, h)
	term := newTmux(t, []string{"PATH=" + bin + ":/usr/bin:/bin", "KUBECONFIG=" + h.Env.Kubeconfig, "PS1=$ "}, "bash", "--norc", "--noprofile", "-i")
	term.WaitFor("the prompt", func(s string) bool { return strings.HasSuffix(strings.TrimSpace(s), "$") })

	replicas := func(name string) int32 {
		t.Helper()
		d, err := h.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	// answer runs line, waits for the y/N question and answers it; it returns the screen and
	// the exit code.
	answer := func(line, reply string) (string, string) {
		t.Helper()
		term.Clear()
		term.Type(line + `; echo "exit=$?"`)
		term.Keys("Enter")
		term.WaitForText("[y/N]: ")
		term.Type(reply)
		term.Keys("Enter")
		screen := term.WaitFor("the end of "+line, func(s string) bool { return exitMarker(s) != "" })
		return screen, exitMarker(screen)
	}

	// Without a terminal there is no question: --yes is required.
	if r := h.Feastflow("abort", "ledger", "-n", ns); r.ExitCode != 1 || !strings.Contains(r.Stderr, "refusing without --yes") || replicas("ledger-teal") != 1 {
		t.Errorf("abort without a terminal: exit %d\n%s", r.ExitCode, r.Stderr)
	}

	// abort before a switch: the idle color goes to 0, after a y.
	line := "kubectl feastflow abort ledger -n " + ns
	screen, code := answer(line, "n")
	if code != "1" || !strings.Contains(screen, "not confirmed, nothing changed") || replicas("ledger-teal") != 1 {
		t.Fatalf("%s, answered n: exit %s, teal has %d replicas (want 1):\n%s", line, code, replicas("ledger-teal"), screen)
	}
	screen, code = answer(line, "y")
	if code != "0" || replicas("ledger-teal") != 0 {
		t.Fatalf("%s, answered y: exit %s, teal has %d replicas (want 0):\n%s", line, code, replicas("ledger-teal"), screen)
	}
	h.MustKubectl("scale", "deployment/ledger-teal", "--replicas=1", "-n", ns)
	h.WaitForRollout(ns, "ledger-teal")

	// promote after a switch: the old color goes to 0, after a y.
	if r := h.Feastflow("switch", "teal", "ledger", "-n", ns); r.ExitCode != 0 {
		t.Fatalf("switch teal: exit %d\n%s", r.ExitCode, r.Stderr)
	}
	line = "kubectl feastflow promote ledger --scale-down-delay=0s -n " + ns
	screen, code = answer(line, "n")
	if code != "1" || !strings.Contains(screen, "not confirmed, nothing changed") || replicas("ledger-amber") != 1 {
		t.Fatalf("%s, answered n: exit %s, amber has %d replicas (want 1):\n%s", line, code, replicas("ledger-amber"), screen)
	}
	screen, code = answer(line, "y")
	if code != "0" || replicas("ledger-amber") != 0 {
		t.Fatalf("%s, answered y: exit %s, amber has %d replicas (want 0):\n%s", line, code, replicas("ledger-amber"), screen)
	}

	// drain of a node of a private pool.
	p := newPool(h, 1, "4")
	node := p.nodes[0]
	cordoned := func() bool {
		t.Helper()
		n, err := h.Client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Unschedulable
	}
	line = "kubectl feastflow maintenance drain " + node
	screen, code = answer(line, "n")
	if code != "1" || !strings.Contains(screen, "not confirmed, nothing changed") || cordoned() {
		t.Fatalf("%s, answered n: exit %s, cordoned %v (want false):\n%s", line, code, cordoned(), screen)
	}
	screen, code = answer(line, "y")
	if code != "0" || !cordoned() {
		t.Fatalf("%s, answered y: exit %s, cordoned %v (want true):\n%s", line, code, cordoned(), screen)
	}
}

func TestProgressAndColourOnlyOnATerminal(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: invoicer
spec:
  replicas: 1
  selector: {matchLabels: {app: invoicer}}
  template:
    metadata: {labels: {app: invoicer}}
    spec:
      containers: [{name: app, image: registry.example/invoicer:notfound}]
`)
	harness.WaitFor(context.Background(), h.Pods(ns, "app=invoicer"), "invoicer failing to pull its image", func(pods []*corev1.Pod) (bool, error) {
		for _, p := range pods {
			for _, c := range p.Status.ContainerStatuses {
				if c.State.Waiting != nil && (c.State.Waiting.Reason == "ErrImagePull" || c.State.Waiting.Reason == "ImagePullBackOff") {
					return true, nil
				}
			}
		}
		return false, nil
	})
	bin := userBin(t, h)
	term := newTmux(t, []string{"PATH=" + bin + ":/usr/bin:/bin", "KUBECONFIG=" + h.Env.Kubeconfig, "PS1=$ "}, "bash", "--norc", "--noprofile", "-i")
	term.WaitFor("the prompt", func(s string) bool { return strings.HasSuffix(strings.TrimSpace(s), "$") })

	// The exit code of a pipeline is the plugin's, not cat's.
	if _, code := term.Run("set -o pipefail"); code != "0" {
		t.Fatalf("set -o pipefail: exit %s", code)
	}
	diagnose := "kubectl feastflow diagnose -n " + ns
	progress := func(screen string) bool {
		for _, l := range strings.Split(screen, "\n") {
			if strings.HasPrefix(l, "reading ") {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		line             string
		progress, colour bool
	}{
		{diagnose, true, true},
		{"NO_COLOR=1 " + diagnose, true, false},
		{diagnose + " --color=never", true, false},
		{diagnose + " | cat", true, false},       // stdout a pipe: no colour; stderr still the terminal
		{diagnose + " 2>&1 | cat", false, false}, // neither a terminal
	} {
		screen, code := term.Run(tc.line)
		if code != "3" {
			t.Fatalf("%s: exit %s, want 3 (an error found):\n%s", tc.line, code, screen)
		}
		withEscapes := term.Screen(true)
		if got := strings.Contains(withEscapes, "\x1b["); got != tc.colour {
			t.Errorf("%s: colour %v, want %v:\n%q", tc.line, got, tc.colour, withEscapes)
		}
		if got := progress(screen); got != tc.progress {
			t.Errorf("%s: progress lines %v, want %v:\n%s", tc.line, got, tc.progress, screen)
		}
	}
}
