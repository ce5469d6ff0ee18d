package traffic

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fakeAPI mimics the API server's proxy subresources: answers maps
// "pods/NAME:PORT/PATH" or "services/NAME:PORT/PATH" to a handler.
type fakeAPI struct {
	mu      sync.Mutex
	answers map[string]http.HandlerFunc
	hits    map[string]int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/", 5)
	if len(parts) < 4 || parts[3] != "proxy" {
		http.NotFound(w, r)
		return
	}
	key := parts[1] + "/" + parts[2] + "/"
	if len(parts) == 5 {
		key += parts[4]
	}
	f.mu.Lock()
	h := f.answers[key]
	f.hits[key]++
	f.mu.Unlock()
	if h == nil {
		status(w, http.StatusServiceUnavailable, "ServiceUnavailable", "error trying to reach service: dial tcp 10.0.0.1:5000: connect: connection refused")
		return
	}
	h(w, r)
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

func answer(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func newFakeAPI(t *testing.T, answers map[string]http.HandlerFunc) (kubernetes.Interface, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{answers: answers, hits: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs, f
}

func svc(annotations map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", Annotations: annotations, ResourceVersion: "7"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}}},
	}
}

func pod(name string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 5000}}}}},
	}
}

func TestSmokeNamesEveryFailingPodWithCodeAndEscapedBody(t *testing.T) {
	cs, _ := newFakeAPI(t, map[string]http.HandlerFunc{
		"pods/green-1:5000/api/health": answer(200, `{"status":"ok"}`),
		"pods/green-2:5000/api/health": answer(500, "db down\x1b[31m"),
		"pods/green-3:5000/api/health": func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never answers
		},
		"pods/green-4:5000/api/health": func(w http.ResponseWriter, _ *http.Request) {
			status(w, 403, "Forbidden", `pods "green-4" is forbidden: User "dev" cannot get resource "pods/proxy" in API group "" in the namespace "shop"`)
		},
	})
	s := &Smoke{Client: cs, Timeout: 300 * time.Millisecond}
	rep, err := s.Pods(context.Background(), svc(map[string]string{SmokePathAnnotation: "/api/health"}),
		[]corev1.Pod{pod("green-1"), pod("green-2"), pod("green-3"), pod("green-4"), pod("green-5")})
	if err == nil || rep.Passed {
		t.Fatalf("smoke passed: %+v", rep)
	}
	got := map[string]Outcome{}
	for _, r := range rep.Results {
		got[r.Target] = r.Outcome
	}
	want := map[string]Outcome{"pod/green-1": OutcomeOK, "pod/green-2": OutcomeHTTPError, "pod/green-3": OutcomeTimeout, "pod/green-4": OutcomeForbidden, "pod/green-5": OutcomeRefused}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	msg := err.Error()
	for _, w := range []string{`pod/green-2 (500 "db down\x1b[31m")`, "pod/green-3 (timeout", "pod/green-5 (refused:", "forbidden to get pods/proxy (pod/green-4)", "failed on 3 of 5"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "\x1b") {
		t.Errorf("raw escape in message: %q", msg)
	}
}

func TestSmokeWithoutPathDoesNothing(t *testing.T) {
	cs, f := newFakeAPI(t, nil)
	rep, err := (&Smoke{Client: cs}).Pods(context.Background(), svc(nil), []corev1.Pod{pod("a")})
	if rep != nil || err != nil || len(f.hits) != 0 {
		t.Fatalf("rep %v err %v hits %v", rep, err, f.hits)
	}
}

func TestSmokeServiceGoesThroughServiceProxy(t *testing.T) {
	cs, f := newFakeAPI(t, map[string]http.HandlerFunc{"services/api:http/healthz": answer(204, "")})
	rep, err := (&Smoke{Client: cs, Path: "/healthz"}).Service(context.Background(), svc(nil))
	if err != nil || !rep.Passed || f.hits["services/api:http/healthz"] != 1 {
		t.Fatalf("rep %+v err %v hits %v", rep, err, f.hits)
	}
}

const metricsText = `# TYPE http_requests_total counter
http_requests_total{code="200",method="GET"} %v
http_requests_total{code="500",method="GET"} %v
http_requests_total{code="404",method="GET"} 3
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.025"} %v
http_request_duration_seconds_bucket{le="0.5"} %v
http_request_duration_seconds_bucket{le="+Inf"} %v
http_request_duration_seconds_sum 1
http_request_duration_seconds_count %v
`

func TestParseSampleSumsSeriesAndCountsFiveHundreds(t *testing.T) {
	s, err := ParseSample(fmt.Appendf(nil, metricsText, 95, 5, 90, 103, 103, 103), DefaultSeries())
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 103 || s.Errors != 5 || s.Buckets[0.025] != 90 || s.Buckets[math.Inf(1)] != 103 {
		t.Fatalf("%+v", s)
	}
	if _, err := ParseSample([]byte("up 1\n"), DefaultSeries()); err == nil || !strings.Contains(err.Error(), "no http_requests_total") {
		t.Fatalf("missing series: %v", err)
	}
}

func TestQuantileInterpolatesLikeHistogramQuantile(t *testing.T) {
	s := Sample{Buckets: map[float64]float64{0.1: 50, 0.2: 100, math.Inf(1): 100}}
	if q, _ := s.Quantile(0.95); math.Abs(q-0.19) > 1e-9 {
		t.Fatalf("p95 %v, want 0.19", q)
	}
	s = Sample{Buckets: map[float64]float64{0.1: 10, math.Inf(1): 100}}
	if q, _ := s.Quantile(0.95); q != 0.1 {
		t.Fatalf("p95 in +Inf: %v, want the highest finite bound", q)
	}
	if _, ok := (Sample{}).Quantile(0.95); ok {
		t.Fatal("quantile of nothing")
	}
}

func TestDeltaAfterRestartCountsFromZero(t *testing.T) {
	d := Delta(Sample{Requests: 100, Errors: 10}, Sample{Requests: 20, Errors: 1})
	if d.Requests != 20 || d.Errors != 1 {
		t.Fatalf("%+v", d)
	}
}

// counting serves metrics whose counters grow by step on every scrape.
func counting(total, errs, step float64, slow bool) http.HandlerFunc {
	var mu sync.Mutex
	n := 0.0
	return func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		req, e := total*n, errs*n
		n += step
		mu.Unlock()
		fast := req
		if slow {
			fast = 0
		}
		fmt.Fprintf(w, metricsText, req-e, e, fast, req+3, req+3, req+3)
	}
}

func TestAnalysisComparesCanaryWithStable(t *testing.T) {
	cases := []struct {
		name        string
		canary      http.HandlerFunc
		wantVerdict string
		wantReason  string
	}{
		{"healthy", counting(100, 0, 1, false), VerdictPassed, ""},
		{"five percent errors", counting(100, 5, 1, false), VerdictFailed, "error ratio 5 % on the canary vs 0 % on stable (+5 points"},
		{"slow", counting(100, 0, 1, true), VerdictFailed, "p95 latency"},
		{"idle", counting(0, 0, 1, false), VerdictInconclusive, "the canary answered 0 requests"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs, _ := newFakeAPI(t, map[string]http.HandlerFunc{
				"pods/c-1:5000/metrics": tc.canary,
				"pods/s-1:5000/metrics": counting(100, 0, 1, false),
				"pods/s-2:5000/metrics": counting(100, 0, 1, false),
			})
			a := Analysis{Client: cs, Window: 10 * time.Millisecond, MaxErrorIncrease: 1, MaxLatencyIncrease: 25, MinRequests: 50}
			res, err := a.Run(context.Background(), svc(nil), []corev1.Pod{pod("c-1")}, []corev1.Pod{pod("s-1"), pod("s-2")})
			if res == nil || res.Verdict != tc.wantVerdict {
				t.Fatalf("result %+v err %v", res, err)
			}
			if (err == nil) != (tc.wantVerdict == VerdictPassed) {
				t.Fatalf("err %v for verdict %s", err, res.Verdict)
			}
			if tc.wantReason != "" && !strings.Contains(err.Error(), tc.wantReason) {
				t.Fatalf("error %q lacks %q", err, tc.wantReason)
			}
			if res.Stable.Requests != 200 {
				t.Fatalf("stable requests %v, want 2×100", res.Stable.Requests)
			}
		})
	}
}

func TestAnalysisUnreadPodIsInconclusiveNotPassed(t *testing.T) {
	cs, _ := newFakeAPI(t, map[string]http.HandlerFunc{
		"pods/s-1:5000/metrics": counting(100, 0, 1, false),
		"pods/c-1:5000/metrics": func(w http.ResponseWriter, _ *http.Request) {
			status(w, 403, "Forbidden", `pods "c-1" is forbidden: User "dev" cannot get resource "pods/proxy"`)
		},
	})
	a := Analysis{Client: cs, Window: time.Millisecond, MinRequests: 1}
	res, err := a.Run(context.Background(), svc(nil), []corev1.Pod{pod("c-1")}, []corev1.Pod{pod("s-1")})
	if err == nil || res.Verdict != VerdictInconclusive || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestEnabledReadsTheAnnotation(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1m": true, "": false, "false": false, "bogus": false} {
		if got, _ := Enabled(svc(map[string]string{AnalysisAnnotation: v})); got != want {
			t.Errorf("%q: %v", v, got)
		}
	}
	if _, d := Enabled(svc(map[string]string{AnalysisAnnotation: "1m"})); d != time.Minute {
		t.Errorf("window %s", d)
	}
}
