package traffic

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// SmokePathAnnotation on a Service names the path its smoke test GETs (e.g. /api/health) on
// the Service's first port; --smoke overrides it.
const SmokePathAnnotation = "feastflow.dev/smoke-path"

// Smoke is a smoke test: GET Path on every target pod through pods/proxy before traffic
// moves, and through services/proxy after; any answer but 2xx within Timeout fails it.
type Smoke struct {
	Client kubernetes.Interface
	// Path is the path to GET; empty: the Service's SmokePathAnnotation, and no test when
	// that is absent too.
	Path string
	// Timeout bounds each GET (DefaultProbeTimeout when zero).
	Timeout time.Duration
	// ThroughService says a services/proxy stage follows the pods stage (switch): the
	// permission for it is checked with the pods' before anything is written.
	ThroughService bool
}

// permissions are the proxy subresources this smoke test GETs.
func (s *Smoke) permissions() []authorizationv1.ResourceAttributes {
	if s.ThroughService {
		return []authorizationv1.ResourceAttributes{PodProxy, ServiceProxy}
	}
	return []authorizationv1.ResourceAttributes{PodProxy}
}

// Stages of a smoke test.
const (
	StagePods    = "pods"    // each target pod through pods/proxy, before the change
	StageService = "service" // through services/proxy, after the change
)

// SmokeReport is one stage of a smoke test of one Service.
type SmokeReport struct {
	Service string        `json:"service"`
	Stage   string        `json:"stage"`
	Path    string        `json:"path"`
	Passed  bool          `json:"passed"`
	Results []ProbeResult `json:"results"`
	// Changed names the pods that changed while the test ran (PodsSettled): a test of
	// pods that no longer serve does not pass.
	Changed []string `json:"changed,omitempty"`
}

// SmokePathFor is the smoke path a Service's annotation asks for ("" for none).
func SmokePathFor(svc *corev1.Service) string {
	return strings.TrimSpace(svc.Annotations[SmokePathAnnotation])
}

// PathFor returns the path to test on svc: the Smoke's own, else the Service's annotation,
// else "" (no smoke test).
func (s *Smoke) PathFor(svc *corev1.Service) string {
	if s == nil {
		return ""
	}
	if s.Path != "" {
		return s.Path
	}
	return SmokePathFor(svc)
}

// SmokeError is a failed smoke test: it names every pod that failed, with its answer.
type SmokeError struct {
	Report SmokeReport
}

func (e *SmokeError) Error() string {
	var failed, forbidden []string
	for _, r := range e.Report.Results {
		switch {
		case r.Outcome == OutcomeForbidden:
			forbidden = append(forbidden, r.Target)
		case !r.OK():
			failed = append(failed, r.Target+" ("+r.Summary()+")")
		}
	}
	via := "pods/proxy"
	if e.Report.Stage == StageService {
		via = "services/proxy"
	}
	var parts []string
	if len(e.Report.Changed) > 0 {
		parts = append(parts, fmt.Sprintf("smoke test GET %s on service %s is not conclusive: the pods changed while it ran (%s): re-run once they settle",
			e.Report.Path, e.Report.Service, strings.Join(e.Report.Changed, ", ")))
	}
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("smoke test GET %s on service %s failed on %d of %d through %s: %s",
			e.Report.Path, e.Report.Service, len(failed), len(e.Report.Results), via, strings.Join(failed, ", ")))
	}
	if len(forbidden) > 0 {
		parts = append(parts, fmt.Sprintf("smoke test GET %s on service %s could not run: forbidden to get %s (%s): grant get on %s (deploy/rbac's release role has it)",
			e.Report.Path, e.Report.Service, via, strings.Join(forbidden, ", "), via))
	}
	return strings.Join(parts, "; ")
}

// Pods tests every pod in parallel through pods/proxy on the Service's first port
// (targetPort resolved per pod). It returns nil, nil when no path is configured, and a
// *SmokeError when any pod did not answer 2xx in time.
func (s *Smoke) Pods(ctx context.Context, svc *corev1.Service, pods []corev1.Pod) (*SmokeReport, error) {
	path := s.PathFor(svc)
	if path == "" {
		return nil, nil
	}
	rep := &SmokeReport{Service: svc.Name, Stage: StagePods, Path: path, Results: []ProbeResult{}}
	targets, unresolved := PodTargets(svc, pods)
	for _, name := range unresolved {
		rep.Results = append(rep.Results, ProbeResult{Target: "pod/" + name, Path: path, Outcome: OutcomeError, Body: "the service's targetPort does not resolve on this pod"})
	}
	// The permission check runs beside the GETs: no extra round trip. A denied one is
	// reported as such, whatever the GETs answered.
	access := make(chan error, 1)
	go func() { access <- CheckAccess(ctx, s.Client, svc.Namespace, "smoke test", s.permissions()...) }()
	rep.Results = append(rep.Results, Prober{Client: s.Client, Timeout: s.Timeout}.Pods(ctx, targets, path)...)
	if err := <-access; err != nil {
		rep.Passed = false
		return rep, err
	}
	return finish(rep)
}

// Service tests the Service through services/proxy on its first port.
func (s *Smoke) Service(ctx context.Context, svc *corev1.Service) (*SmokeReport, error) {
	path := s.PathFor(svc)
	if path == "" {
		return nil, nil
	}
	port := ""
	if len(svc.Spec.Ports) > 0 {
		port = ServicePortRef(svc.Spec.Ports[0])
	}
	rep := &SmokeReport{Service: svc.Name, Stage: StageService, Path: path}
	rep.Results = []ProbeResult{Prober{Client: s.Client, Timeout: s.Timeout}.Service(ctx, svc.Namespace, svc.Name, port, path)}
	return finish(rep)
}

func finish(rep *SmokeReport) (*SmokeReport, error) {
	rep.Passed = len(rep.Results) > 0
	for _, r := range rep.Results {
		rep.Passed = rep.Passed && r.OK()
	}
	if !rep.Passed {
		return rep, &SmokeError{Report: *rep}
	}
	return rep, nil
}

// Describe is one line for people: "GET /api/health: 200 on 3 pods (slowest 12ms)".
func (r *SmokeReport) Describe() string {
	var slowest int64
	for _, p := range r.Results {
		slowest = max(slowest, p.DurationMs)
	}
	what := fmt.Sprintf("%d pods through pods/proxy", len(r.Results))
	if r.Stage == StageService {
		what = "service/" + r.Service + " through services/proxy"
	}
	verdict := "passed"
	switch {
	case len(r.Changed) > 0:
		verdict = "NOT CONCLUSIVE (pods changed: " + strings.Join(r.Changed, ", ") + ")"
	case !r.Passed:
		verdict = "FAILED"
	}
	return fmt.Sprintf("smoke GET %s %s on %s (slowest %dms)", r.Path, verdict, what, slowest)
}
