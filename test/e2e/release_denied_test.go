package e2e

import (
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// An identity that may write the Service (the release record) but only read Deployments:
// every Deployment verb that records its operation before acting is refused at its first
// workload write, exits 1 naming the denied patch, and takes its record back — the
// Service's selector, release record and last operation are as before, and no Deployment
// changed (the Plan's applier, for blue-green and canary alike).
func TestReleaseVerbsDeniedWorkloadPatch(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	ff(t, h, 0, "deploy", lgSvc, "--image", "registry.example/books:2.0", "-n", ns) // teal pending
	cns := cnSetup(t, h, "0s")
	const rules = `  - {apiGroups: [""], resources: [services, pods, events], verbs: [get, list, watch, patch, create]}
  - {apiGroups: [apps], resources: [deployments, replicasets], verbs: [get, list, watch]}
  - {apiGroups: [autoscaling], resources: [horizontalpodautoscalers], verbs: [get, list, watch]}
`
	for _, tc := range []struct {
		ns, svc string
		args    []string
		record  bool // the verb records its operation before the refused write
	}{
		{ns, lgSvc, []string{"deploy", lgSvc, "--image", "registry.example/books:3.0"}, true},
		{ns, lgSvc, []string{"abort", lgSvc, "--yes"}, true},
		{ns, lgSvc, []string{"scale", lgSvc, "--replicas", "3"}, false},
		{cns, cnSvc, []string{"canary-step", cnSvc, "--weight", "50", "--force"}, true},
		{cns, cnSvc, []string{"abort", cnSvc, "--yes"}, true},
	} {
		as := roleAs(h, tc.ns, "deploy-reader", rules)
		state := func() string {
			return h.MustKubectl("-n", tc.ns, "get", "svc", tc.svc, "-o", "jsonpath={.spec.selector} {.metadata.annotations}") + "\n" +
				h.MustKubectl("-n", tc.ns, "get", "deploy", "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.generation}/{.spec.replicas}{" "}{end}`)
		}
		before := state()
		args := append(append([]string{}, tc.args...), "-n", tc.ns, as)
		if tc.args[0] != "scale" {
			args = append(args, "--override-window=e2e") // this identity may not read the namespace
		}
		r := h.Feastflow(args...)
		if r.ExitCode != 1 || !strings.Contains(strings.ToLower(r.Stderr), "forbidden") || !strings.Contains(r.Stderr, "patch deployments") {
			t.Errorf("%v with deployments read-only: exit %d, want 1 naming the denied patch\nstdout: %s\nstderr: %s", tc.args, r.ExitCode, r.Stdout, r.Stderr)
		}
		if tc.record && !strings.Contains(r.Stderr, "nothing changed (the release record was restored)") {
			t.Errorf("%v: the refused verb does not say its record was taken back:\n%s", tc.args, r.Stderr)
		}
		if after := state(); after != before {
			t.Errorf("%v changed the Service or a Deployment:\nbefore %s\nafter  %s", tc.args, before, after)
		}
	}
}
