package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// applyRBAC applies deploy/rbac/<file> with its namespace set to ns.
func applyRBAC(t *testing.T, h *harness.H, ns, file string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Env.ModuleRoot, "deploy", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	h.Apply("", strings.ReplaceAll(string(b), "namespace: feastflow", "namespace: "+ns))
}

// The least-privilege roles shipped in deploy/rbac are enough for the verbs they are for:
// a user holding only them releases, diagnoses and plans maintenance through the real
// authorizer (RBAC, impersonated with --as/--as-group).
func TestShippedRolesAreSufficient(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, "feastflow-backend-blue")
	applyRBAC(t, h, ns, "release.yaml")
	applyRBAC(t, h, ns, "namespace-reader.yaml")
	applyRBAC(t, h, ns, "troubleshoot.yaml")
	applyRBAC(t, h, ns, "maintenance.yaml")

	releaser := []string{"-n", ns, "--as=rel-user", "--as-group=feastflow-releasers"}
	cnRun(t, h, 0, append([]string{"status"}, releaser...)...)
	cnRun(t, h, 0, append([]string{"deploy", "feastflow-backend", "--image", "ghcr.io/feastflow/backend:1.5.0"}, releaser...)...)
	cnRun(t, h, 0, append([]string{"switch", "green", "feastflow-backend"}, releaser...)...)
	cnRun(t, h, 0, append([]string{"rollback", "feastflow-backend"}, releaser...)...)
	if sel := h.MustKubectl("-n", ns, "get", "svc", "feastflow-backend", "-o", "jsonpath={.spec.selector.version}"); sel != "blue" {
		t.Errorf("selector after rollback: %q", sel)
	}
	if by := h.MustKubectl("-n", ns, "get", "svc", "feastflow-backend", "-o", `jsonpath={.metadata.annotations.feastflow\.dev/last-operation}`); !strings.Contains(by, `"user":"rel-user"`) {
		t.Errorf("last operation does not name the impersonated user: %s", by)
	}

	oncall := []string{"-n", ns, "--as=oncall-user", "--as-group=feastflow-oncall"}
	r := cnRun(t, h, 0, append([]string{"diagnose"}, oncall...)...)
	if strings.Contains(r.Stderr, "no permission") {
		t.Errorf("diagnose lacked a permission with the shipped role:\n%s", r.Stderr)
	}
	// Without the release role, the on-call user cannot switch; nothing is written.
	rv := cnRV(h, ns, "svc", "feastflow-backend")
	cnRun(t, h, 1, append([]string{"switch", "green", "feastflow-backend"}, oncall...)...)
	if cnRV(h, ns, "svc", "feastflow-backend") != rv {
		t.Error("a refused switch wrote to the service")
	}

	node := h.MustKubectl("-n", ns, "get", "pods", "-l", "version=blue", "-o", "jsonpath={.items[0].spec.nodeName}")
	cnRun(t, h, 0, "maintenance", "plan", node, "--as=ops-user", "--as-group=feastflow-node-operators")
}
