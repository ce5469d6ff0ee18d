package e2e

import (
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestCanaryPromoteWithTracksToldApartByAnotherKey: a canary recognised by its Deployments'
// names (ledger-stable, ledger-canary) whose tracks are told apart by lane=stable/lane=canary,
// not by the track key. promote rolls the canary's image into the stable and keeps the
// stable's lane=stable in its template (the API rejects a template its selector does not
// match), with ready endpoints never below the start.
func TestCanaryPromoteWithTracksToldApartByAnotherKey(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML("ledger-stable", 3, map[string]string{"app": "ledger", "lane": "stable"}, nil)+"---\n"+
		deployYAML("ledger-canary", 1, map[string]string{"app": "ledger", "lane": "canary"}, nil)+"---\n"+
		serviceYAML("ledger", map[string]string{"app": "ledger"}, nil))
	h.MustKubectl("-n", ns, "set", "image", "deploy/ledger-canary", "app=registry.example/ledger:2.1.0")
	h.WaitForRollout(ns, "ledger-stable")
	h.WaitForRollout(ns, "ledger-canary")
	rec := h.RecordEndpoints(ns, "ledger")
	defer rec.Stop()
	rec.WaitUntil("4 ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 4 })

	r := h.Feastflow("promote", "ledger", "-n", ns, "--yes", "--scale-down-delay", "0s")
	if r.ExitCode != 0 {
		t.Fatalf("promote: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	labels := h.MustKubectl("-n", ns, "get", "deploy/ledger-stable", "-o", "jsonpath={.spec.template.metadata.labels.lane} {.spec.template.spec.containers[0].image} {.spec.replicas}")
	if strings.TrimSpace(labels) != "stable registry.example/ledger:2.1.0 4" {
		t.Errorf("stable after promote: lane, image, replicas = %q", labels)
	}
	if got := strings.TrimSpace(h.MustKubectl("-n", ns, "get", "deploy/ledger-canary", "-o", "jsonpath={.spec.replicas}")); got != "0" {
		t.Errorf("canary replicas after promote = %s", got)
	}
	if low := rec.MinReady(); low < 4 {
		t.Errorf("ready endpoints fell to %d during promote (started at 4)", low)
	}
}
