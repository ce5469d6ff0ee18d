package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// planResult is the part of every release verb's -o json that a dry run answers with.
type planResult struct {
	Kind    string `json:"kind"`
	DryRun  string `json:"dryRun"`
	Changed *bool  `json:"changed"`
	Changes []struct {
		Object, Field, From, To string
	} `json:"changes"`
	Planned []struct {
		Action, Object, Field, From, To, Precondition, Detail string
	} `json:"planned"`
	Message string `json:"message"`
}

// Every release verb plans, then applies: its dry run, through the real kubectl on a real
// cluster, answers with the plan computed from one snapshot — the writes in order, each
// with its precondition, the waits and re-reads between them — lists the plan's writes as
// "changes" with "changed" false, and changes nothing (client and server mode: the server
// validates each write with dryRun=All). Names, keys and colors are not the examples'.
func TestReleaseVerbsDryRunPlansThroughKubectl(t *testing.T) {
	h := harness.For(t)
	ns := lgSetup(t, h)
	// A pending release: teal deployed, not switched to.
	ff(t, h, 0, "deploy", lgSvc, "--image", "registry.example/books:2.0", "-n", ns)
	cns := cnSetup(t, h, "1s")

	state := func(ns string) string {
		return h.MustKubectl("-n", ns, "get", "svc,deploy,hpa", "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}`)
	}
	check := func(ns string, args []string, wantKind string, wantSteps ...string) {
		t.Helper()
		for _, mode := range []string{"client", "server"} {
			before := state(ns)
			r := ff(t, h, 0, append(append([]string{}, args...), "-n", ns, "--dry-run="+mode, "-o", "json")...)
			var res planResult
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
				t.Fatalf("%v --dry-run=%s: not JSON: %v\n%s", args, mode, err, r.Stdout)
			}
			var got []string
			writes := 0
			for _, s := range res.Planned {
				got = append(got, s.Action+" "+s.Object)
				if s.Action == "write" {
					writes++
				}
				if (s.Action == "record" || s.Action == "write") && s.Precondition == "" && !strings.Contains(s.Detail, "same") {
					t.Errorf("%v: %s %s %s has no precondition", args, s.Action, s.Object, s.Field)
				}
			}
			if res.Kind != wantKind || res.DryRun != mode || res.Changed == nil || *res.Changed || len(res.Changes) == 0 || writes == 0 {
				t.Errorf("%v --dry-run=%s: kind %s, dryRun %q, changed %v, %d changes, %d planned writes\n%s", args, mode, res.Kind, res.DryRun, res.Changed, len(res.Changes), writes, r.Stdout)
			}
			if strings.Join(got, "; ") != strings.Join(wantSteps, "; ") {
				t.Errorf("%v --dry-run=%s: plan\n  %s\nwant\n  %s", args, mode, strings.Join(got, "; "), strings.Join(wantSteps, "; "))
			}
			if after := state(ns); after != before {
				t.Errorf("%v --dry-run=%s changed objects:\n%s\n→\n%s", args, mode, before, after)
			}
		}
	}

	// Blue-green, with teal pending.
	check(ns, []string{"promote", lgSvc, "--yes", "--scale-down-delay", "30s"}, "PromoteResult",
		"write service/ledger", "wait endpointslices of service/ledger", "wait deployment/ledger-amber", "check deployment/ledger-amber", "write deployment/ledger-amber", "finish service/ledger")
	check(ns, []string{"abort", lgSvc, "--yes"}, "AbortResult",
		"record service/ledger", "check deployment/ledger-teal", "write deployment/ledger-teal", "finish service/ledger")
	check(ns, []string{"switch", "teal", lgSvc}, "SwitchResult",
		"write service/ledger", "wait endpointslices of service/ledger")
	check(ns, []string{"scale", lgSvc, "--replicas", "3"}, "ScaleResult",
		"write deployment/ledger-amber", "write deployment/ledger-teal")
	check(ns, []string{"deploy", lgSvc, "--image", "registry.example/books:3.0"}, "DeployResult",
		"record service/ledger", "write deployment/ledger-teal", "wait deployment/ledger-teal", "finish service/ledger")
	check(ns, []string{"pause", lgSvc}, "PauseResult", "write deployment/ledger-amber", "write deployment/ledger-teal")
	check(ns, []string{"restart", lgSvc}, "RestartResult", "write deployment/ledger-amber", "write deployment/ledger-teal")
	check(ns, []string{"autoscale", lgSvc, "--max", "4", "--cpu-percent", "60"}, "AutoscaleResult", "write horizontalpodautoscaler/ledger")
	// For people: the plan as numbered steps with their preconditions.
	r := ff(t, h, 0, "abort", lgSvc, "--yes", "--dry-run=client", "-n", ns)
	if !strings.Contains(r.Stdout, "plan:\n  1. record service/ledger") || !strings.Contains(r.Stdout, "(if resourceVersion ") || !strings.Contains(r.Stdout, "WOULD CHANGE") {
		t.Errorf("human dry run does not show the plan:\n%s", r.Stdout)
	}
	t.Logf("kubectl feastflow promote ledger --yes --dry-run=server:\n%s", ff(t, h, 0, "promote", lgSvc, "--yes", "--dry-run=server", "-n", ns).Stdout)
	// After a real switch, rollback plans the switch back to amber.
	ff(t, h, 0, "switch", "teal", lgSvc, "-n", ns)
	check(ns, []string{"rollback", lgSvc}, "RollbackResult", "write service/ledger", "wait endpointslices of service/ledger")

	// Canary (the example's canary at its first step).
	check(cns, []string{"canary-step", cnSvc, "--weight", "50", "--force"}, "CanaryStepResult",
		"record service/"+cnSvc, "write deployment/"+cnCanary, "wait deployment/"+cnCanary, "check deployment/"+cnStable, "write deployment/"+cnStable, "finish service/"+cnSvc)
	check(cns, []string{"abort", cnSvc, "--yes"}, "AbortResult",
		"record service/"+cnSvc, "write deployment/"+cnStable, "wait deployment/"+cnStable, "check deployment/"+cnCanary, "write deployment/"+cnCanary, "finish service/"+cnSvc)

}
