package localcluster

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Annotations on a pod (template) that shape the simulated app the egress proxy answers for
// it. See docs/local-cluster.md.
const (
	// SimHTTPStatusAnnotation lists status codes per path: "/api/health=500,/ready=503".
	// Unlisted paths answer 200 (or 500 as the error ratio decides).
	SimHTTPStatusAnnotation = "sim.feastflow.dev/http-status"
	// SimHTTPLatencyAnnotation is the app's response time (a Go duration; default 20ms). Real
	// requests wait that long; the simulated traffic in /metrics is spread around it.
	SimHTTPLatencyAnnotation = "sim.feastflow.dev/http-latency"
	// SimHTTPErrorRatioAnnotation is the share (0..1) of requests answered 500.
	SimHTTPErrorRatioAnnotation = "sim.feastflow.dev/http-error-ratio"
	// SimHTTPRPSAnnotation is the rate of simulated traffic counted in /metrics (default 20
	// requests per second; "0" is an idle app).
	SimHTTPRPSAnnotation = "sim.feastflow.dev/http-rps"
	// SimHTTPRefuseAnnotation refuses connections: "true" (every port) or a list of ports.
	SimHTTPRefuseAnnotation = "sim.feastflow.dev/http-refuse"
)

// Simulated app defaults.
const (
	defaultSimLatency = 20 * time.Millisecond
	defaultSimRPS     = 20.0
)

// simBuckets are the histogram bounds of http_request_duration_seconds (Prometheus'
// client default buckets).
var simBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// simLatencyMix spreads the simulated traffic around the app's latency: half the requests
// take half of it, 45 % all of it and 5 % twice it, so p95 lies between 1× and 2×.
var simLatencyMix = []struct{ share, factor float64 }{{0.5, 0.5}, {0.45, 1}, {0.05, 2}}

// simBehaviour is what a pod's annotations ask of its simulated app.
type simBehaviour struct {
	status     map[string]int
	latency    time.Duration
	errorRatio float64
	rps        float64
	refuseAll  bool
	refuse     map[int]bool
	// start is when the simulated traffic began: the pod's start time.
	start time.Time
}

// parseSimBehaviour reads a pod's annotations; malformed values fall back to the defaults
// and are reported, so one typo does not take the proxy down.
func parseSimBehaviour(pod *corev1.Pod) (simBehaviour, []string) {
	a := pod.Annotations
	b := simBehaviour{status: map[string]int{}, latency: defaultSimLatency, rps: defaultSimRPS, refuse: map[int]bool{}}
	b.start = pod.CreationTimestamp.Time
	if pod.Status.StartTime != nil {
		b.start = pod.Status.StartTime.Time
	}
	var problems []string
	bad := func(key, v string) {
		problems = append(problems, fmt.Sprintf("pod %s/%s: ignoring %s=%q", pod.Namespace, pod.Name, key, v))
	}
	if v := a[SimHTTPStatusAnnotation]; v != "" {
		for _, kv := range strings.Split(v, ",") {
			path, code, ok := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.Atoi(strings.TrimSpace(code))
			if !ok || err != nil || n < 100 || n > 599 {
				bad(SimHTTPStatusAnnotation, kv)
				continue
			}
			b.status[strings.TrimSpace(path)] = n
		}
	}
	if v := a[SimHTTPLatencyAnnotation]; v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			b.latency = d
		} else {
			bad(SimHTTPLatencyAnnotation, v)
		}
	}
	if v := a[SimHTTPErrorRatioAnnotation]; v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
			b.errorRatio = f
		} else {
			bad(SimHTTPErrorRatioAnnotation, v)
		}
	}
	if v := a[SimHTTPRPSAnnotation]; v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			b.rps = f
		} else {
			bad(SimHTTPRPSAnnotation, v)
		}
	}
	if v := strings.TrimSpace(a[SimHTTPRefuseAnnotation]); v != "" {
		if v == "true" || v == "*" {
			b.refuseAll = true
		} else {
			for _, p := range strings.Split(v, ",") {
				if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
					b.refuse[n] = true
				} else {
					bad(SimHTTPRefuseAnnotation, p)
				}
			}
		}
	}
	return b, problems
}

// refuses reports whether the app refuses connections on port.
func (b simBehaviour) refuses(port int) bool { return b.refuseAll || b.refuse[port] }

// simApp is the simulated app of one pod: it answers HTTP as the annotations say and
// counts what it answered, on top of the simulated traffic.
type simApp struct {
	pod   string
	b     simBehaviour
	now   func() time.Time
	sleep func(*http.Request, time.Duration)

	mu sync.Mutex
	// served counts real requests (not /metrics) by code; servedN numbers them for the
	// error ratio.
	served  map[int]float64
	servedN int
}

func newSimApp(pod string, b simBehaviour, now func() time.Time) *simApp {
	return &simApp{pod: pod, b: b, now: now, served: map[int]float64{}, sleep: sleepCtx}
}

func sleepCtx(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// ServeHTTP answers one request: /metrics is the Prometheus text exposition; every other
// path answers its configured code (or 200, or 500 as the error ratio decides) after the
// app's latency.
func (a *simApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" {
		if _, ok := a.b.status["/metrics"]; !ok {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = w.Write([]byte(a.metrics()))
			return
		}
	}
	a.sleep(r, a.b.latency)
	code, ok := a.b.status[r.URL.Path]
	a.mu.Lock()
	a.servedN++
	if !ok {
		code = http.StatusOK
		// Request n fails when it crosses the next multiple of 1/ratio: exact shares, no dice.
		if n := float64(a.servedN); math.Floor(n*a.b.errorRatio) > math.Floor((n-1)*a.b.errorRatio) {
			code = http.StatusInternalServerError
		}
	}
	a.served[code]++
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	status := "ok"
	if code >= 400 {
		status = "error"
	}
	fmt.Fprintf(w, "{\"status\":%q,\"code\":%d,\"pod\":%q,\"path\":%q}\n", status, code, a.pod, r.URL.Path)
}

// metrics renders http_requests_total by code and the http_request_duration_seconds
// histogram: the simulated traffic since the pod started (rps × elapsed, the error ratio
// of it 500s, latencies spread by simLatencyMix) plus the real requests served.
func (a *simApp) metrics() string {
	elapsed := a.now().Sub(a.b.start).Seconds()
	if elapsed < 0 {
		elapsed = 0
	}
	total := math.Floor(a.b.rps * elapsed)
	errs := math.Floor(total * a.b.errorRatio)
	codes := map[int]float64{}
	if total > 0 {
		codes[http.StatusOK] = total - errs
		if errs > 0 {
			codes[http.StatusInternalServerError] = errs
		}
	}
	a.mu.Lock()
	var realN float64
	for code, n := range a.served {
		codes[code] += n
		realN += n
	}
	a.mu.Unlock()

	lat := a.b.latency.Seconds()
	buckets := make([]float64, len(simBuckets))
	var sum, assigned float64
	for i, m := range simLatencyMix {
		n := math.Floor(total * m.share)
		if i == len(simLatencyMix)-1 {
			n = total - assigned
		}
		assigned += n
		addObservations(buckets, lat*m.factor, n)
		sum += n * lat * m.factor
	}
	addObservations(buckets, lat, realN)
	sum += realN * lat
	count := total + realN

	var sb strings.Builder
	sb.WriteString("# HELP http_requests_total Requests answered, by status code.\n# TYPE http_requests_total counter\n")
	keys := make([]int, 0, len(codes))
	for c := range codes {
		keys = append(keys, c)
	}
	sort.Ints(keys)
	for _, c := range keys {
		fmt.Fprintf(&sb, "http_requests_total{code=\"%d\"} %s\n", c, num(codes[c]))
	}
	sb.WriteString("# HELP http_request_duration_seconds Time to answer a request.\n# TYPE http_request_duration_seconds histogram\n")
	for i, le := range simBuckets {
		fmt.Fprintf(&sb, "http_request_duration_seconds_bucket{le=\"%s\"} %s\n", num(le), num(buckets[i]))
	}
	fmt.Fprintf(&sb, "http_request_duration_seconds_bucket{le=\"+Inf\"} %s\n", num(count))
	fmt.Fprintf(&sb, "http_request_duration_seconds_sum %s\nhttp_request_duration_seconds_count %s\n", num(sum), num(count))
	return sb.String()
}

// addObservations adds n observations of value v to cumulative buckets.
func addObservations(buckets []float64, v, n float64) {
	for i, le := range simBuckets {
		if v <= le {
			buckets[i] += n
		}
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
