package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// smokeFlags are the smoke-test flags of switch, promote and deploy.
type smokeFlags struct {
	path    string
	timeout time.Duration
	off     bool
}

func (f *smokeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.path, "smoke", "", "Smoke test: GET this path (e.g. /api/health) on every target pod through pods/proxy before traffic moves and through services/proxy after; any answer but 2xx refuses (default: the Service's "+traffic.SmokePathAnnotation+" annotation)")
	cmd.Flags().DurationVar(&f.timeout, "smoke-timeout", traffic.DefaultProbeTimeout, "How long each smoke-test GET may take")
	cmd.Flags().BoolVar(&f.off, "no-smoke", false, "Skip the smoke test even when the Service's "+traffic.SmokePathAnnotation+" annotation asks for one")
}

// validate checks the flags (no I/O).
func (f *smokeFlags) validate() error {
	if f.path != "" && !strings.HasPrefix(f.path, "/") {
		return usageErrorf("invalid --smoke %q: a path starting with /", f.path)
	}
	if f.timeout <= 0 {
		return usageErrorf("invalid --smoke-timeout %s: must be positive", f.timeout)
	}
	if f.off && f.path != "" {
		return usageErrorf("give --smoke or --no-smoke, not both")
	}
	return nil
}

// smoke is the library's smoke test, nil with --no-smoke. throughService: a
// services/proxy stage follows the pods' (switch, blue-green promote).
func (f *smokeFlags) smoke(client kubernetes.Interface, throughService bool) *traffic.Smoke {
	if f.off {
		return nil
	}
	return &traffic.Smoke{Client: client, Path: f.path, Timeout: f.timeout, ThroughService: throughService}
}

// analysisFlags are canary-step's analysis flags.
type analysisFlags struct {
	on                 bool
	off                bool
	window             time.Duration
	maxErrorIncrease   float64
	maxLatencyIncrease float64
	minRequests        float64
	requestsMetric     string
	latencyMetric      string
	autoAbort          bool
}

func (f *analysisFlags) add(cmd *cobra.Command) {
	def := traffic.DefaultSeries()
	cmd.Flags().BoolVar(&f.on, "analysis", false, "Before stepping, compare the canary's error ratio and p95 latency with stable's, from the pods' own /metrics read through pods/proxy (default: on when the Service has the "+traffic.AnalysisAnnotation+" annotation)")
	cmd.Flags().BoolVar(&f.off, "no-analysis", false, "Skip the analysis even when the Service's annotation asks for it")
	cmd.Flags().DurationVar(&f.window, "analysis-window", 0, "How long to observe traffic (default: the annotation's duration, else 30s)")
	cmd.Flags().Float64Var(&f.maxErrorIncrease, "max-error-increase", traffic.DefaultMaxErrorIncrease, "Block when the canary's 5xx ratio exceeds stable's by more than this many percentage points")
	cmd.Flags().Float64Var(&f.maxLatencyIncrease, "max-latency-increase", traffic.DefaultMaxLatencyIncrease, "Block when the canary's p95 latency exceeds stable's by more than this many percent")
	cmd.Flags().Float64Var(&f.minRequests, "min-requests", traffic.DefaultMinRequests, "Fewest requests each track must answer in the window; below it the analysis does not pass")
	cmd.Flags().StringVar(&f.requestsMetric, "requests-metric", def.Requests, "Counter of answered requests, with the status code in the label 'code'")
	cmd.Flags().StringVar(&f.latencyMetric, "latency-metric", def.Latency, "Histogram of request durations in seconds")
	cmd.Flags().BoolVar(&f.autoAbort, "auto-abort", false, "When the analysis fails, abort the canary (canary to 0, stable back to full)")
}

// validate checks the flags (no I/O).
func (f *analysisFlags) validate() error {
	switch {
	case f.on && f.off:
		return usageErrorf("give --analysis or --no-analysis, not both")
	case f.window < 0:
		return usageErrorf("invalid --analysis-window %s: must not be negative", f.window)
	case f.maxErrorIncrease < 0 || f.maxErrorIncrease > 100:
		return usageErrorf("invalid --max-error-increase %v: percentage points between 0 and 100", f.maxErrorIncrease)
	case f.maxLatencyIncrease < 0:
		return usageErrorf("invalid --max-latency-increase %v: must not be negative", f.maxLatencyIncrease)
	case f.minRequests < 0:
		return usageErrorf("invalid --min-requests %v: must not be negative", f.minRequests)
	case strings.TrimSpace(f.requestsMetric) == "" || strings.TrimSpace(f.latencyMetric) == "":
		return usageErrorf("--requests-metric and --latency-metric must not be empty")
	}
	return nil
}

// humanSmoke prints one line per smoke test a switch ran.
func humanSmoke(w io.Writer, comps []strategy.SwitchComponent) error {
	for _, c := range comps {
		if err := humanSmokeReports(w, c.Component, c.Smoke); err != nil {
			return err
		}
	}
	return nil
}

// humanSmokeReports prints one line per smoke test run on a component.
func humanSmokeReports(w io.Writer, component string, reps []traffic.SmokeReport) error {
	for _, r := range reps {
		if _, err := fmt.Fprintf(w, "%s: %s\n", component, term.Escape(r.Describe())); err != nil {
			return err
		}
	}
	return nil
}
