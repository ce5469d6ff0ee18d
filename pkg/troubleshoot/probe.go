package troubleshoot

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// Categories of the traffic probe's findings.
const (
	CategoryTrafficRefused   Category = "TrafficRefused"
	CategoryTrafficHTTPError Category = "TrafficHTTPError"
	CategoryTrafficTimeout   Category = "TrafficTimeout"
	CategoryTrafficError     Category = "TrafficUnreachable"
)

// ProbeOptions ask diagnose to send real traffic to the one Service in scope: a GET through
// services/proxy and one through each ready endpoint's pods/proxy (the runbook's "Service not
// accessible" checklist). Path empty: the Service's traffic.SmokePathAnnotation, and no probe
// when that is absent too.
type ProbeOptions struct {
	Path    string
	Timeout time.Duration
}

// Probe is what the probe did, in the report: the GETs, and the proxy subresources RBAC
// denied (then the probe did not run, which is never reported as healthy).
type Probe struct {
	*traffic.ServiceProbe `json:",inline"`
	Forbidden             []string `json:"forbidden,omitempty"`
}

// ForbiddenError is the probe's error when a proxy subresource was denied.
func (p *Probe) ForbiddenError() error {
	if p == nil || len(p.Forbidden) == 0 {
		return nil
	}
	return fmt.Errorf("traffic probe of service %s not run: forbidden to get %s: grant get on them (deploy/rbac's troubleshoot role has it)", p.Service, strings.Join(p.Forbidden, " and "))
}

// ProbedService is the one Service a probe can go through: `diagnose svc/NAME`, `diagnose
// service NAME` or a component (a bare name); any other scope has none.
func (s Scope) ProbedService() (string, bool) {
	ts := s.targets()
	if len(ts) == 1 && ts[0].Name != "" && (ts[0].Kind == ScopeService || ts[0].Kind == ScopeComponent) {
		return ts[0].Name, true
	}
	return "", false
}

// probeRules probes the scope's Service when asked (the option or its smoke annotation),
// with the Service and its EndpointSlices from the snapshot: no read beyond the GETs. Each
// kind of failure is one finding on the Service naming its pods; every ready endpoint
// failing is an outage (the Service is down).
func (a *analysis) probeRules(scope Scope) *Probe {
	if a.opts.Probe == nil {
		return nil
	}
	name, ok := scope.ProbedService()
	if !ok {
		return nil
	}
	ns := scope.Namespace
	svc := a.service(ns, name)
	if svc == nil {
		return nil
	}
	path := a.opts.Probe.Path
	if path == "" {
		path = traffic.SmokePathFor(svc)
	}
	if path == "" {
		return nil
	}
	var slices []discoveryv1.EndpointSlice
	for _, s := range a.s.slices {
		if s.Namespace == ns && s.Labels[discoveryv1.LabelServiceName] == name {
			slices = append(slices, s)
		}
	}
	p, err := traffic.ProbeServiceSlices(a.ctx, a.client, svc, slices, path, a.opts.Probe.Timeout)
	if err != nil {
		a.add(Finding{
			Severity: SeverityWarning, Confidence: ConfidenceHigh, Category: CategoryTrafficError,
			Object: ObjectRef{Kind: "Service", Namespace: ns, Name: name},
			Cause:  fmt.Sprintf("GET %s: not probed: %v", path, err),
		})
		return nil
	}
	a.addProbeFindings(svc, p)
	return &Probe{ServiceProbe: p, Forbidden: p.Forbidden()}
}

// addProbeFindings folds the failed pods into one finding per kind of failure.
func (a *analysis) addProbeFindings(svc *corev1.Service, p *traffic.ServiceProbe) {
	groups := map[Category][]traffic.ProbeResult{}
	failed := p.Failed()
	for _, res := range failed {
		c := probeCategory(res.Outcome)
		groups[c] = append(groups[c], res)
	}
	impact := ImpactDegraded
	if len(failed) > 0 && len(failed) == len(p.Pods) {
		impact = ImpactOutage
		a.markDown(svc.Namespace, svc.Name)
	}
	cats := make([]Category, 0, len(groups))
	for c := range groups {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool { return cats[i] < cats[j] })
	for _, cat := range cats {
		group := groups[cat]
		f := Finding{
			Severity: SeverityError, Confidence: ConfidenceHigh, Category: cat, Impact: impact,
			Object: ObjectRef{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name},
			Cause:  fmt.Sprintf("GET %s: %s on %d of %d ready endpoints", p.Path, probeCause(cat), len(group), len(p.Pods)),
		}
		for _, res := range group {
			f.Pods = append(f.Pods, strings.TrimPrefix(res.Target, "pod/"))
			f.Details = append(f.Details, fmt.Sprintf("%s port %s: %s", res.Target, res.Port, res.Summary()))
		}
		f.Evidence.Status = append(f.Evidence.Status, "through services/proxy: "+p.Via.Summary())
		f.Fix = probeFix(cat, svc.Namespace, group)
		a.add(f)
	}
}

func probeCategory(o traffic.Outcome) Category {
	switch o {
	case traffic.OutcomeRefused:
		return CategoryTrafficRefused
	case traffic.OutcomeHTTPError:
		return CategoryTrafficHTTPError
	case traffic.OutcomeTimeout:
		return CategoryTrafficTimeout
	}
	return CategoryTrafficError
}

func probeCause(c Category) string {
	switch c {
	case CategoryTrafficRefused:
		return "connection refused"
	case CategoryTrafficHTTPError:
		return "answered with an error status"
	case CategoryTrafficTimeout:
		return "no answer in time"
	}
	return "not reachable through the API server"
}

func probeFix(c Category, ns string, failed []traffic.ProbeResult) []string {
	pod := strings.TrimPrefix(failed[0].Target, "pod/")
	switch c {
	case CategoryTrafficRefused:
		return []string{fmt.Sprintf("nothing listens on port %s in these pods: check the app's listen port and the Service's targetPort (kubectl logs %s -n %s)", failed[0].Port, pod, ns)}
	case CategoryTrafficHTTPError:
		return []string{fmt.Sprintf("the app answers but fails: read its logs (kubectl logs %s -n %s) and its dependencies", pod, ns)}
	case CategoryTrafficTimeout:
		return []string{fmt.Sprintf("the app is too slow or hung: check its load and logs (kubectl logs %s -n %s), or raise --probe-timeout", pod, ns)}
	}
	return []string{"check network policies and that the API server can reach the pod network"}
}
