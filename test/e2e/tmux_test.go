package e2e

// A real terminal for the tests that need one: a tmux server on a private socket running an
// interactive shell, typed into with send-keys and read with capture-pane.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// screenTimeout bounds every wait for the screen to show something (a loaded machine runs
// kubectl, the plugin and the API server on 2 cores).
const screenTimeout = 90 * time.Second

type tmux struct {
	t    *testing.T
	sock string
	// Dir holds the socket and the shell's HOME and rc files.
	Dir string
}

var aptOnce sync.Once

// requirePackage makes sure file (installed by a Debian package) exists: CI runs on a fresh
// machine as root, so the test installs pkg with apt-get when it is missing, and skips,
// saying why, where it cannot.
func requirePackage(t *testing.T, pkg, file string) {
	t.Helper()
	if _, err := os.Stat(file); err == nil {
		return
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		t.Skipf("%s is not installed (%s missing) and cannot be installed here (apt-get as root needed): apt-get install -y %s", pkg, file, pkg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	aptOnce.Do(func() {
		out, err := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=300", "update").CombinedOutput()
		if err != nil {
			t.Logf("apt-get update: %v\n%s", err, out)
		}
	})
	cmd := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "--no-install-recommends", pkg)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("%s is not installed and apt-get install failed (%v): %s", pkg, err, tailLines(string(out), 5))
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("apt-get installed %s but %s is still missing", pkg, file)
	}
}

// userBin is a directory laid out as a user's PATH after an install: kubectl, the plugin and
// the kubectl_complete-feastflow helper shipped in the release archives.
func userBin(t *testing.T, h *harness.H) string {
	t.Helper()
	dir := t.TempDir()
	links := map[string]string{
		"kubectl":                    h.Env.Kubectl,
		"kubectl-feastflow":          filepath.Join(pluginBinDir(t, h), "kubectl-feastflow"),
		"kubectl_complete-feastflow": filepath.Join(h.Env.ModuleRoot, "kubectl_complete-feastflow"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newTmux starts shell (argv) in a 200x50 terminal with exactly env (plus TERM) and stops the
// tmux server when the test ends. The shell's HOME is t.Dir.
func newTmux(t *testing.T, env []string, shell ...string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		requirePackage(t, "tmux", "/usr/bin/tmux")
	}
	// A short directory: a unix socket path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "ff-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	s := &tmux{t: t, sock: filepath.Join(dir, "sock"), Dir: dir}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", s.sock, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	args := []string{"-S", s.sock, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "200", "-y", "50", "--",
		"env", "-i", "HOME=" + dir, "TERM=xterm-256color", "LANG=C.UTF-8"}
	args = append(append(args, env...), shell...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return s
}

// Type types text literally.
func (s *tmux) Type(text string) {
	s.t.Helper()
	s.tmux("send-keys", "-t", "e2e", "-l", text)
}

// Keys sends tmux key names (Tab, Enter, C-c).
func (s *tmux) Keys(keys ...string) {
	s.t.Helper()
	s.tmux(append([]string{"send-keys", "-t", "e2e"}, keys...)...)
}

// Screen returns the visible screen and its history, lines joined where tmux wrapped them;
// with escapes, the text attributes (colours) as escape sequences.
func (s *tmux) Screen(escapes bool) string {
	s.t.Helper()
	args := []string{"capture-pane", "-p", "-J", "-t", "e2e", "-S", "-1000"}
	if escapes {
		args = append(args, "-e")
	}
	return s.tmux(args...)
}

// WaitFor waits until the screen satisfies cond and returns it; it fails the test with the
// screen after screenTimeout.
func (s *tmux) WaitFor(what string, cond func(screen string) bool) string {
	s.t.Helper()
	var screen string
	ctx, cancel := context.WithTimeout(context.Background(), screenTimeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		screen = s.Screen(false)
		return cond(screen), nil
	})
	if err != nil {
		s.t.Fatalf("terminal: no %s after %s; the screen:\n%s", what, screenTimeout, screen)
	}
	return screen
}

// WaitForText waits until the screen contains every one of texts.
func (s *tmux) WaitForText(texts ...string) string {
	s.t.Helper()
	return s.WaitFor(strings.Join(texts, ", "), func(screen string) bool {
		for _, x := range texts {
			if !strings.Contains(screen, x) {
				return false
			}
		}
		return true
	})
}

// Clear abandons the line being typed and clears the screen and its history.
func (s *tmux) Clear() {
	s.t.Helper()
	// C-u kills the typed line in bash and zsh alike; C-c would interrupt the shell, which
	// drops the keys typed right after it.
	s.Keys("C-u")
	s.Type("clear")
	s.Keys("Enter")
	s.WaitFor("an empty screen", func(screen string) bool { return strings.TrimSpace(screen) == "$" })
	s.tmux("clear-history", "-t", "e2e")
}

// Run types a command line, presses Enter, and waits until the shell printed the exit code
// marker the line ends with; it returns the screen from the command line on.
func (s *tmux) Run(line string) (screen string, exit string) {
	s.t.Helper()
	s.Clear()
	s.Type(line + `; echo "exit=$?"`)
	s.Keys("Enter")
	screen = s.WaitFor("the end of "+line, func(screen string) bool { return exitMarker(screen) != "" })
	return screen, exitMarker(screen)
}

func exitMarker(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "exit="); ok {
			return v
		}
	}
	return ""
}

func (s *tmux) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
