package plugin

import (
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

func TestProbeFindingsFoldPodsByKindOfFailure(t *testing.T) {
	r := &troubleshoot.Report{Scope: troubleshoot.ScopeRef{Namespace: "shop"}, Findings: []troubleshoot.Finding{{Severity: troubleshoot.SeverityWarning, Category: "StaleConfig"}}}
	p := &traffic.ServiceProbe{Service: "api", Path: "/status",
		Via: traffic.ProbeResult{Target: "service/api", Outcome: traffic.OutcomeRefused, Body: "connection refused"},
		Pods: []traffic.ProbeResult{
			{Target: "pod/api-1", Port: "8080", Outcome: traffic.OutcomeRefused, Body: "error trying to reach service: connection refused"},
			{Target: "pod/api-2", Port: "8080", Outcome: traffic.OutcomeRefused, Body: "error trying to reach service: connection refused"},
			{Target: "pod/api-3", Port: "8080", Outcome: traffic.OutcomeHTTPError, Code: 502, Body: "bad gateway"},
			{Target: "pod/api-4", Port: "8080", Outcome: traffic.OutcomeOK, Code: 200},
		}}
	addProbeFindings(r, p)
	if len(r.Findings) != 3 || r.Summary.Errors != 2 {
		t.Fatalf("findings %+v", r.Findings)
	}
	if r.Findings[2].Category != "StaleConfig" {
		t.Errorf("errors not ranked before the warning: %v", r.Findings)
	}
	var refused *troubleshoot.Finding
	for i := range r.Findings {
		if r.Findings[i].Category == categoryTrafficRefused {
			refused = &r.Findings[i]
		}
	}
	if refused == nil || strings.Join(refused.Pods, ",") != "api-1,api-2" || !strings.Contains(refused.Cause, "connection refused on 2 of 4 ready endpoints") {
		t.Fatalf("refused finding %+v", refused)
	}
	if pr := (&probeResult{probe: p, forbidden: p.Forbidden()}); pr.err() != nil {
		t.Errorf("no proxy was forbidden, got %v", pr.err())
	}
	p.Pods[3].Outcome = traffic.OutcomeForbidden
	if pr := (&probeResult{probe: p, forbidden: p.Forbidden()}); pr.err() == nil || !strings.Contains(pr.err().Error(), "forbidden to get pods/proxy") {
		t.Errorf("forbidden: %v", pr.err())
	}
}
