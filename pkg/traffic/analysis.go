package traffic

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// Annotations of canary analysis on a Service.
const (
	// AnalysisAnnotation enables analysis on every canary-step of the Service: "true", or
	// the window as a Go duration ("1m").
	AnalysisAnnotation = "feastflow.dev/canary-analysis"
	// MetricsPortAnnotation names the pod port serving /metrics (default: the Service's
	// targetPort).
	MetricsPortAnnotation = "feastflow.dev/metrics-port"
	// AnalysisResultAnnotation records the last analysis (JSON), written on the Service
	// before the step acts.
	AnalysisResultAnnotation = "feastflow.dev/canary-analysis-result"
)

// Analysis defaults.
const (
	DefaultAnalysisWindow     = 30 * time.Second
	DefaultMaxErrorIncrease   = 1.0  // percentage points
	DefaultMaxLatencyIncrease = 25.0 // percent of the stable p95
	DefaultMinRequests        = 50
)

// Verdicts of an analysis.
const (
	VerdictPassed       = "passed"
	VerdictFailed       = "failed"
	VerdictInconclusive = "inconclusive" // too little traffic, or pods that could not be read
)

// Analysis compares the canary track to the stable track from the pods' own /metrics, read
// through pods/proxy at the start and the end of a window: O(pods) small GETs per window,
// whatever the traffic.
type Analysis struct {
	Client kubernetes.Interface
	// Window is how long traffic is observed (DefaultAnalysisWindow when zero).
	Window time.Duration
	Series Series
	// Path is the metrics path (default /metrics).
	Path string
	// MaxErrorIncrease is how many percentage points the canary's 5xx ratio may exceed
	// stable's; MaxLatencyIncrease how many percent its p95 latency may exceed stable's.
	MaxErrorIncrease   float64
	MaxLatencyIncrease float64
	// MinRequests is the fewest requests each track must answer in the window; below it the
	// analysis is inconclusive (an idle canary does not pass).
	MinRequests float64
	// Timeout bounds each GET (DefaultProbeTimeout when zero).
	Timeout time.Duration
	// Progress receives one line per phase (nil: none).
	Progress func(format string, args ...any)
}

// Thresholds are the limits an analysis applied.
type Thresholds struct {
	MaxErrorIncrease   float64 `json:"maxErrorIncreasePoints"`
	MaxLatencyIncrease float64 `json:"maxLatencyIncreasePercent"`
	MinRequests        float64 `json:"minRequests"`
}

// TrackResult is one track over the window.
type TrackResult struct {
	Track string `json:"track"`
	Pods  int    `json:"pods"`
	// Requests and Errors (5xx) answered in the window, summed over the track's pods.
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`
	// ErrorPercent is Errors / Requests in percent.
	ErrorPercent float64 `json:"errorPercent"`
	// P95Ms is the 95th percentile latency in milliseconds (from the histogram); absent
	// without latency data.
	P95Ms *float64 `json:"p95Ms,omitempty"`
	// Unread lists pods whose /metrics could not be read, with why.
	Unread []string `json:"unread,omitempty"`
}

// AnalysisResult is the comparison of the canary with stable.
type AnalysisResult struct {
	Service       string      `json:"service"`
	WindowSeconds float64     `json:"windowSeconds"`
	Canary        TrackResult `json:"canary"`
	Stable        TrackResult `json:"stable"`
	Thresholds    Thresholds  `json:"thresholds"`
	Verdict       string      `json:"verdict"`
	// Reasons say why the verdict is not "passed", with both numbers.
	Reasons []string  `json:"reasons,omitempty"`
	At      time.Time `json:"at"`
}

// AnalysisError is an analysis that did not pass.
type AnalysisError struct{ Result *AnalysisResult }

func (e *AnalysisError) Error() string {
	return fmt.Sprintf("canary analysis of service %s %s: %s", e.Result.Service, e.Result.Verdict, strings.Join(e.Result.Reasons, "; "))
}

// Enabled reports whether svc asks for analysis on every step, and the window it names.
func Enabled(svc *corev1.Service) (bool, time.Duration) {
	v := strings.TrimSpace(svc.Annotations[AnalysisAnnotation])
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return true, d
	}
	on, _ := strconv.ParseBool(v)
	return on, 0
}

func (a *Analysis) defaults() {
	if a.Window <= 0 {
		a.Window = DefaultAnalysisWindow
	}
	if a.Series.Requests == "" {
		a.Series.Requests = DefaultSeries().Requests
	}
	if a.Series.CodeLabel == "" {
		a.Series.CodeLabel = DefaultSeries().CodeLabel
	}
	if a.Series.Latency == "" {
		a.Series.Latency = DefaultSeries().Latency
	}
	if a.Path == "" {
		a.Path = "/metrics"
	}
	if a.Progress == nil {
		a.Progress = func(string, ...any) {}
	}
}

// metricsTargets resolves the metrics port on each pod: the Service's annotation, else its
// first port's targetPort.
func metricsTargets(svc *corev1.Service, pods []corev1.Pod) ([]PodTarget, []string) {
	if v := strings.TrimSpace(svc.Annotations[MetricsPortAnnotation]); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			var out []PodTarget
			for i := range pods {
				out = append(out, PodTarget{Namespace: pods[i].Namespace, Pod: pods[i].Name, Port: int32(n)})
			}
			return out, nil
		}
		probe := svc.DeepCopy()
		probe.Spec.Ports = []corev1.ServicePort{{Port: 1, TargetPort: intOrName(v)}}
		return PodTargets(probe, pods)
	}
	return PodTargets(svc, pods)
}

// Run scrapes every canary and stable pod, waits the window, scrapes again and compares.
// It returns the result and, unless it passed, an *AnalysisError.
func (a Analysis) Run(ctx context.Context, svc *corev1.Service, canary, stable []corev1.Pod) (*AnalysisResult, error) {
	a.defaults()
	res := &AnalysisResult{Service: svc.Name, WindowSeconds: a.Window.Seconds(),
		Thresholds: Thresholds{MaxErrorIncrease: a.MaxErrorIncrease, MaxLatencyIncrease: a.MaxLatencyIncrease, MinRequests: a.MinRequests},
		Canary:     TrackResult{Track: "canary", Pods: len(canary)}, Stable: TrackResult{Track: "stable", Pods: len(stable)}}
	ct, cu := metricsTargets(svc, canary)
	st, su := metricsTargets(svc, stable)
	for _, p := range cu {
		res.Canary.Unread = append(res.Canary.Unread, p+": the metrics port does not resolve")
	}
	for _, p := range su {
		res.Stable.Unread = append(res.Stable.Unread, p+": the metrics port does not resolve")
	}
	all := append(append([]PodTarget{}, ct...), st...)
	a.Progress("analysis: reading %s of %d canary and %d stable pods, again in %s", a.Path, len(ct), len(st), a.Window)
	access := make(chan error, 1)
	go func() { access <- CheckAccess(ctx, a.Client, svc.Namespace, "canary analysis", PodProxy) }()
	first := a.scrape(ctx, all)
	if err := <-access; err != nil {
		return nil, err // not a verdict on the canary: nothing is recorded
	}
	timer := time.NewTimer(a.Window)
	select {
	case <-ctx.Done():
		timer.Stop()
		return nil, fmt.Errorf("canary analysis of service %s interrupted: %w", svc.Name, context.Cause(ctx))
	case <-timer.C:
	}
	second := a.scrape(ctx, all)
	res.At = time.Now().UTC()
	var canarySum, stableSum Sample
	for i, t := range all {
		track, sum := &res.Stable, &stableSum
		if i < len(ct) {
			track, sum = &res.Canary, &canarySum
		}
		if first[i].err != "" || second[i].err != "" {
			track.Unread = append(track.Unread, t.Pod+": "+firstNonEmpty(first[i].err, second[i].err))
			continue
		}
		sum.Add(Delta(first[i].sample, second[i].sample))
	}
	fill(&res.Canary, canarySum)
	fill(&res.Stable, stableSum)
	a.judge(res)
	if res.Verdict != VerdictPassed {
		return res, &AnalysisError{Result: res}
	}
	return res, nil
}

type scraped struct {
	sample Sample
	err    string
}

func (a Analysis) scrape(ctx context.Context, targets []PodTarget) []scraped {
	out := make([]scraped, len(targets))
	p := Prober{Client: a.Client, Timeout: a.Timeout}
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			body, r := p.raw(ctx, t, a.Path)
			if !r.OK() {
				out[i].err = r.Summary()
				return
			}
			s, err := ParseSample(body, a.Series)
			if err != nil {
				out[i].err = err.Error()
				return
			}
			out[i].sample = s
		})
	}
	wg.Wait()
	return out
}

func fill(t *TrackResult, s Sample) {
	t.Requests, t.Errors = s.Requests, s.Errors
	if s.Requests > 0 {
		t.ErrorPercent = round2(s.Errors * 100 / s.Requests)
	}
	if q, ok := s.Quantile(0.95); ok {
		ms := round2(q * 1000)
		t.P95Ms = &ms
	}
}

// judge decides: unread pods or too little traffic make it inconclusive; otherwise every
// threshold exceeded is a reason to fail, with both numbers.
func (a Analysis) judge(r *AnalysisResult) {
	c, s := r.Canary, r.Stable
	var inconclusive, failed []string
	for _, t := range []TrackResult{c, s} {
		if len(t.Unread) > 0 {
			inconclusive = append(inconclusive, fmt.Sprintf("%d %s pods could not be read (%s)", len(t.Unread), t.Track, strings.Join(t.Unread, "; ")))
		}
	}
	if c.Pods == 0 {
		inconclusive = append(inconclusive, "the canary has no pods")
	}
	if s.Pods == 0 {
		inconclusive = append(inconclusive, "the stable track has no pods to compare with")
	}
	for _, t := range []TrackResult{c, s} {
		if t.Pods > 0 && t.Requests < a.MinRequests {
			inconclusive = append(inconclusive, fmt.Sprintf("the %s answered %s requests in %s, fewer than the minimum %s (--min-requests): send traffic or lengthen --analysis-window",
				t.Track, num(t.Requests), a.Window, num(a.MinRequests)))
		}
	}
	if len(inconclusive) > 0 {
		r.Verdict, r.Reasons = VerdictInconclusive, inconclusive
		return
	}
	if inc := c.ErrorPercent - s.ErrorPercent; inc > a.MaxErrorIncrease {
		failed = append(failed, fmt.Sprintf("error ratio %s %% on the canary vs %s %% on stable (+%s points, at most +%s allowed by --max-error-increase)",
			num(c.ErrorPercent), num(s.ErrorPercent), num(round2(inc)), num(a.MaxErrorIncrease)))
	}
	if c.P95Ms != nil && s.P95Ms != nil {
		limit := *s.P95Ms * (1 + a.MaxLatencyIncrease/100)
		if *c.P95Ms > limit {
			inc := math.Inf(1)
			if *s.P95Ms > 0 {
				inc = (*c.P95Ms / *s.P95Ms - 1) * 100
			}
			failed = append(failed, fmt.Sprintf("p95 latency %sms on the canary vs %sms on stable (+%s %%, at most +%s %% allowed by --max-latency-increase)",
				num(*c.P95Ms), num(*s.P95Ms), num(math.Round(inc)), num(a.MaxLatencyIncrease)))
		}
	}
	if len(failed) > 0 {
		r.Verdict, r.Reasons = VerdictFailed, failed
		return
	}
	r.Verdict = VerdictPassed
}

// Describe is one line for people.
func (r *AnalysisResult) Describe() string {
	p95 := func(t TrackResult) string {
		if t.P95Ms == nil {
			return "p95 -"
		}
		return "p95 " + num(*t.P95Ms) + "ms"
	}
	return fmt.Sprintf("canary analysis %s over %ss: canary %s requests, %s %% errors, %s; stable %s requests, %s %% errors, %s",
		r.Verdict, num(r.WindowSeconds), num(r.Canary.Requests), num(r.Canary.ErrorPercent), p95(r.Canary),
		num(r.Stable.Requests), num(r.Stable.ErrorPercent), p95(r.Stable))
}

// Record writes the result on the Service (AnalysisResultAnnotation) with the audit
// annotation, preconditioned on the resourceVersion that was read; it returns the Service
// as written (the caller's next precondition), or svc unchanged in a client dry run.
func Record(ctx context.Context, client kubernetes.Interface, w *audit.Writer, svc *corev1.Service, r *AnalysisResult, verb string) (*corev1.Service, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	value := string(raw)
	op := w.Operation(verb+" analysis", "", r.Verdict)
	body := audit.AnnotationPatch(op, map[string]*string{AnalysisResultAnnotation: &value})
	body["metadata"].(map[string]any)["resourceVersion"] = svc.ResourceVersion
	if w.Client() {
		return svc, nil
	}
	patch, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	out, err := client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, w.PatchOptions())
	if err != nil {
		return nil, fmt.Errorf("record canary analysis on service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if !w.Live() {
		return svc, nil
	}
	return out, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Recorded reads the last analysis recorded on a Service (AnalysisResultAnnotation): nil
// when there is none, and an error when the annotation does not parse.
func Recorded(svc *corev1.Service) (*AnalysisResult, error) {
	raw := svc.Annotations[AnalysisResultAnnotation]
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var r AnalysisResult
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("annotation %s on service %s/%s does not parse: %w", AnalysisResultAnnotation, svc.Namespace, svc.Name, err)
	}
	return &r, nil
}
