package troubleshoot

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

func TestProbeFindingsFoldPodsByKindOfFailure(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"}}
	p := &traffic.ServiceProbe{Service: "api", Path: "/status",
		Via: traffic.ProbeResult{Target: "service/api", Outcome: traffic.OutcomeRefused, Body: "connection refused"},
		Pods: []traffic.ProbeResult{
			{Target: "pod/api-1", Port: "8080", Outcome: traffic.OutcomeRefused, Body: "error trying to reach service: connection refused"},
			{Target: "pod/api-2", Port: "8080", Outcome: traffic.OutcomeRefused, Body: "error trying to reach service: connection refused"},
			{Target: "pod/api-3", Port: "8080", Outcome: traffic.OutcomeHTTPError, Code: 502, Body: "bad gateway"},
			{Target: "pod/api-4", Port: "8080", Outcome: traffic.OutcomeOK, Code: 200},
		}}
	a := &analysis{svcHealth: map[string]*svcHealth{}}
	a.add(Finding{Severity: SeverityWarning, Category: CategoryStaleConfig, Object: ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "api"}})
	a.addProbeFindings(svc, p)
	findings := fold(a.findings)
	rank(findings)
	if len(findings) != 3 {
		t.Fatalf("findings %+v", findings)
	}
	if findings[2].Category != CategoryStaleConfig {
		t.Errorf("the probe's errors are not ranked before the warning: %v", findings)
	}
	var refused *Finding
	for i := range findings {
		if findings[i].Category == CategoryTrafficRefused {
			refused = &findings[i]
		}
	}
	if refused == nil || strings.Join(refused.Pods, ",") != "api-1,api-2" || !strings.Contains(refused.Cause, "connection refused on 2 of 4 ready endpoints") {
		t.Fatalf("refused finding %+v", refused)
	}
	if refused.Impact != ImpactDegraded || a.serviceDown("shop", "api") {
		t.Errorf("one endpoint of four answers: degraded, not down; got %s, down %v", refused.Impact, a.serviceDown("shop", "api"))
	}
	if err := (&Probe{ServiceProbe: p, Forbidden: p.Forbidden()}).ForbiddenError(); err != nil {
		t.Errorf("no proxy was forbidden, got %v", err)
	}
	p.Pods[3].Outcome = traffic.OutcomeForbidden
	if err := (&Probe{ServiceProbe: p, Forbidden: p.Forbidden()}).ForbiddenError(); err == nil || !strings.Contains(err.Error(), "forbidden to get pods/proxy") {
		t.Errorf("forbidden: %v", err)
	}
}

func TestProbeEveryEndpointFailingIsAnOutage(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"}}
	p := &traffic.ServiceProbe{Service: "api", Path: "/",
		Pods: []traffic.ProbeResult{
			{Target: "pod/api-1", Port: "80", Outcome: traffic.OutcomeTimeout, DurationMs: 5000},
			{Target: "pod/api-2", Port: "80", Outcome: traffic.OutcomeTimeout, DurationMs: 5000},
		}}
	a := &analysis{svcHealth: map[string]*svcHealth{}}
	a.addProbeFindings(svc, p)
	if len(a.findings) != 1 || a.findings[0].Impact != ImpactOutage || a.findings[0].Category != CategoryTrafficTimeout || !a.serviceDown("shop", "api") {
		t.Fatalf("findings %+v, down %v", a.findings, a.serviceDown("shop", "api"))
	}
}

func TestProbedServiceIsOneServiceOrComponent(t *testing.T) {
	for _, tc := range []struct {
		scope Scope
		want  string
	}{
		{Scope{Kind: ScopeService, Name: "api"}, "api"},
		{Scope{Targets: []Target{{Kind: ScopeComponent, Name: "web"}}}, "web"},
		{Scope{Targets: []Target{{Kind: ScopeService, Name: "a"}, {Kind: ScopeService, Name: "b"}}}, ""},
		{Scope{Kind: ScopePod, Name: "p"}, ""},
		{Scope{}, ""},
	} {
		if got, _ := tc.scope.ProbedService(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.scope, got, tc.want)
		}
	}
}
