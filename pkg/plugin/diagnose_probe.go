package plugin

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// Categories of the traffic probe's findings.
const (
	categoryTrafficRefused   troubleshoot.Category = "TrafficRefused"
	categoryTrafficHTTPError troubleshoot.Category = "TrafficHTTPError"
	categoryTrafficTimeout   troubleshoot.Category = "TrafficTimeout"
	categoryTrafficError     troubleshoot.Category = "TrafficUnreachable"
)

// probeFlags are diagnose's traffic probe flags.
type probeFlags struct {
	path    string
	timeout time.Duration
}

func (f *probeFlags) add(flags *pflag.FlagSet) {
	flags.StringVar(&f.path, "probe", "", "With svc/NAME or a component: GET this path through the Service proxy and each ready endpoint's pod proxy, reporting refused connections, errors and timeouts per pod (default: the Service's "+traffic.SmokePathAnnotation+" annotation)")
	flags.DurationVar(&f.timeout, "probe-timeout", traffic.DefaultProbeTimeout, "How long each probe GET may take")
}

// validate checks the flags against the scope (no I/O).
func (f *probeFlags) validate(scope troubleshoot.Scope) error {
	if f.path == "" {
		return nil
	}
	if !strings.HasPrefix(f.path, "/") {
		return usageErrorf("invalid --probe %q: a path starting with /", f.path)
	}
	if _, ok := probedService(scope); !ok {
		return usageErrorf("--probe needs a Service: diagnose svc/NAME --probe %s", f.path)
	}
	if f.timeout <= 0 {
		return usageErrorf("invalid --probe-timeout %s: must be positive", f.timeout)
	}
	return nil
}

// probeResult is what the probe hook adds to a diagnosis.
type probeResult struct {
	probe *traffic.ServiceProbe
	// forbidden names the proxy subresources RBAC denied: the probe could not run.
	forbidden []string
}

// runProbe probes the scope's Service when --probe or its smoke annotation asks, adding a
// finding per kind of failure (the pods named) to r. It returns nil when nothing was probed.
func (f *probeFlags) run(ctx context.Context, c *troubleshootClients, scope troubleshoot.Scope, r *troubleshoot.Report) (*probeResult, error) {
	name, ok := probedService(scope)
	if !ok {
		return nil, nil
	}
	svc, err := c.Kube.CoreV1().Services(scope.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && f.path == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("probe: get service %s/%s: %w", scope.Namespace, name, err)
	}
	path := f.path
	if path == "" {
		path = strings.TrimSpace(svc.Annotations[traffic.SmokePathAnnotation])
	}
	if path == "" {
		return nil, nil
	}
	p, err := traffic.ProbeService(ctx, c.Kube, svc, path, f.timeout)
	if err != nil {
		return nil, err
	}
	out := &probeResult{probe: p, forbidden: p.Forbidden()}
	addProbeFindings(r, p)
	return out, nil
}

// addProbeFindings folds the failed pods into one finding per kind of failure, on the
// Service, and keeps the report ranked and counted.
func addProbeFindings(r *troubleshoot.Report, p *traffic.ServiceProbe) {
	groups := map[troubleshoot.Category][]traffic.ProbeResult{}
	for _, res := range p.Failed() {
		groups[probeCategory(res.Outcome)] = append(groups[probeCategory(res.Outcome)], res)
	}
	cats := make([]troubleshoot.Category, 0, len(groups))
	for c := range groups {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool { return cats[i] < cats[j] })
	ns := r.Scope.Namespace
	for _, cat := range cats {
		failed := groups[cat]
		f := troubleshoot.Finding{
			Severity: troubleshoot.SeverityError, Confidence: troubleshoot.ConfidenceHigh, Category: cat,
			Object: troubleshoot.ObjectRef{Kind: "Service", Namespace: ns, Name: p.Service},
			Cause:  fmt.Sprintf("GET %s: %s on %d of %d ready endpoints", p.Path, probeCause(cat), len(failed), len(p.Pods)),
		}
		for _, res := range failed {
			pod := strings.TrimPrefix(res.Target, "pod/")
			f.Pods = append(f.Pods, pod)
			f.Details = append(f.Details, fmt.Sprintf("%s port %s: %s", res.Target, res.Port, res.Summary()))
		}
		f.Evidence.Status = append(f.Evidence.Status, fmt.Sprintf("through services/proxy: %s", p.Via.Summary()))
		f.Fix = probeFix(cat, ns, failed)
		r.Findings = append(r.Findings, f)
		r.Summary.Errors++
	}
	sort.SliceStable(r.Findings, func(i, j int) bool { return r.Findings[i].Severity.Rank() > r.Findings[j].Severity.Rank() })
}

func probeCategory(o traffic.Outcome) troubleshoot.Category {
	switch o {
	case traffic.OutcomeRefused:
		return categoryTrafficRefused
	case traffic.OutcomeHTTPError:
		return categoryTrafficHTTPError
	case traffic.OutcomeTimeout:
		return categoryTrafficTimeout
	}
	return categoryTrafficError
}

func probeCause(c troubleshoot.Category) string {
	switch c {
	case categoryTrafficRefused:
		return "connection refused"
	case categoryTrafficHTTPError:
		return "answered with an error status"
	case categoryTrafficTimeout:
		return "no answer in time"
	}
	return "not reachable through the API server"
}

func probeFix(c troubleshoot.Category, ns string, failed []traffic.ProbeResult) []string {
	pod := strings.TrimPrefix(failed[0].Target, "pod/")
	switch c {
	case categoryTrafficRefused:
		return []string{fmt.Sprintf("nothing listens on port %s in these pods: check the app's listen port and the Service's targetPort (kubectl logs %s -n %s)", failed[0].Port, pod, ns)}
	case categoryTrafficHTTPError:
		return []string{fmt.Sprintf("the app answers but fails: read its logs (kubectl logs %s -n %s) and its dependencies", pod, ns)}
	case categoryTrafficTimeout:
		return []string{fmt.Sprintf("the app is too slow or hung: check its load and logs (kubectl logs %s -n %s), or raise --probe-timeout", pod, ns)}
	}
	return []string{"check network policies and that the API server can reach the pod network"}
}

// print writes the probe's summary line for people.
func (p *probeResult) print(w io.Writer) error {
	pr := p.probe
	ok := len(pr.Pods) - len(pr.Failed())
	_, err := fmt.Fprintf(w, "\ntraffic probe GET %s: service/%s %s; %d of %d ready endpoints answered 2xx\n",
		term.Escape(pr.Path), term.Escape(pr.Service), term.Escape(pr.Via.Summary()), ok, len(pr.Pods))
	return err
}

// err is the probe's error: a denied proxy means the probe did not run, which is never
// reported as healthy.
func (p *probeResult) err() error {
	if len(p.forbidden) == 0 {
		return nil
	}
	return fmt.Errorf("traffic probe of service %s not run: forbidden to get %s: grant get on them (deploy/rbac's troubleshoot role has it)", p.probe.Service, strings.Join(p.forbidden, " and "))
}

// probedService is the one Service a probe can go through: `diagnose svc/NAME`,
// `diagnose service NAME` or a component (a bare name); any other scope has none.
func probedService(scope troubleshoot.Scope) (string, bool) {
	if len(scope.Targets) > 0 {
		if len(scope.Targets) == 1 && scope.Targets[0].Name != "" && (scope.Targets[0].Kind == troubleshoot.ScopeService || scope.Targets[0].Kind == troubleshoot.ScopeComponent) {
			return scope.Targets[0].Name, true
		}
		return "", false
	}
	if scope.Name != "" && (scope.Kind == troubleshoot.ScopeService || scope.Kind == troubleshoot.ScopeComponent) {
		return scope.Name, true
	}
	return "", false
}
