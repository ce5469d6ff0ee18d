package harness

import (
	"path/filepath"
)

// Shell runs one command line with sh, as a user pastes it: kubectl and the plugin under
// test on PATH, KUBECONFIG set. Used to prove that printed fixes run as printed.
func (h *H) Shell(line string) Result {
	h.T.Helper()
	plugin, err := h.Env.plugin()
	if err != nil {
		h.T.Fatalf("harness: kubectl-feastflow: %v", err)
	}
	return h.runCmd("", filepath.Dir(plugin), "/bin/sh", []string{"-c", line})
}
