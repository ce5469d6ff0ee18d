package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func simPod(name, ip string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Annotations: annotations},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

// startEgress serves an EgressServer on a Unix socket in a temporary directory.
func startTestEgress(t *testing.T, pods ...*corev1.Pod) string {
	t.Helper()
	cs := fake.NewClientset()
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	socket := filepath.Join(t.TempDir(), "e.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&EgressServer{Client: cs}).Run(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("egress server: %v", err)
		}
	})
	return socket
}

// connect speaks the apiserver's side of HTTPConnect: CONNECT addr, read the answer.
func connect(t *testing.T, socket, addr string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("CONNECT %s: %v", addr, err)
	}
	return conn, br, res
}

// get sends one GET through an established tunnel.
func get(t *testing.T, conn net.Conn, br *bufio.Reader, path string) (int, string) {
	t.Helper()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: pod\r\n\r\n", path)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestEgressPassesLoopbackThrough(t *testing.T) {
	// Stands in for kwok's kubelet server, which serves logs.
	kubelet, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer kubelet.Close()
	go func() {
		_ = http.Serve(kubelet, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "log line from "+r.URL.Path)
		}))
	}()
	socket := startTestEgress(t)
	conn, br, res := connect(t, socket, kubelet.Addr().String())
	if res.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT to the kubelet: %s", res.Status)
	}
	code, body := get(t, conn, br, "/containerLogs/shop/web-1/app")
	if code != 200 || body != "log line from /containerLogs/shop/web-1/app" {
		t.Fatalf("through the tunnel: %d %q", code, body)
	}
}

func TestEgressAnswersEachPodWithItsSimulatedApp(t *testing.T) {
	socket := startTestEgress(t,
		simPod("green-1", "10.7.0.1", nil),
		simPod("green-2", "10.7.0.2", map[string]string{SimHTTPStatusAnnotation: "/api/health=500"}),
		simPod("closed", "10.7.0.3", map[string]string{SimHTTPRefuseAnnotation: "5000"}),
	)
	conn, br, res := connect(t, socket, "10.7.0.1:5000")
	if res.StatusCode != 200 {
		t.Fatalf("CONNECT green-1: %s", res.Status)
	}
	if code, body := get(t, conn, br, "/api/health"); code != 200 || !strings.Contains(body, `"pod":"green-1"`) {
		t.Fatalf("green-1 /api/health: %d %q", code, body)
	}
	// Same tunnel, a second request (the apiserver keeps connections alive).
	if code, body := get(t, conn, br, "/metrics"); code != 200 || !strings.Contains(body, "http_requests_total") {
		t.Fatalf("green-1 /metrics: %d %q", code, body)
	}

	conn, br, _ = connect(t, socket, "10.7.0.2:5000")
	if code, body := get(t, conn, br, "/api/health"); code != 500 || !strings.Contains(body, `"pod":"green-2"`) {
		t.Fatalf("green-2 /api/health: %d %q", code, body)
	}
	if code, _ := get(t, conn, br, "/"); code != 200 {
		t.Fatalf("green-2 /: %d, want 200 (only /api/health fails)", code)
	}

	_, _, res = connect(t, socket, "10.7.0.3:5000")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("refused port: %s", res.Status)
	}
	if !strings.Contains(res.Status, "connection refused") {
		t.Fatalf("refused port status %q", res.Status)
	}
	// Another port of the same pod is open.
	if _, _, res := connect(t, socket, "10.7.0.3:8080"); res.StatusCode != 200 {
		t.Fatalf("open port of a pod refusing 5000: %s", res.Status)
	}
}

func TestEgressRefusesUnknownIP(t *testing.T) {
	socket := startTestEgress(t, simPod("web-1", "10.7.0.1", nil))
	_, _, res := connect(t, socket, "10.9.9.9:80")
	if res.StatusCode == http.StatusOK {
		t.Fatal("CONNECT to an IP no pod has was accepted")
	}
	if !strings.Contains(res.Status, "connection refused") || !strings.Contains(res.Status, "no pod has this IP") {
		t.Fatalf("status %q", res.Status)
	}
}

func TestSimAppMetricsAdvanceWithTime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(100 * time.Second)
	pod := simPod("canary-1", "10.7.0.1", map[string]string{SimHTTPErrorRatioAnnotation: "0.05", SimHTTPRPSAnnotation: "10", SimHTTPLatencyAnnotation: "200ms"})
	pod.Status.StartTime = &metav1.Time{Time: start}
	b, problems := parseSimBehaviour(pod)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	app := newSimApp(pod.Name, b, func() time.Time { return now })
	m := app.metrics()
	for _, want := range []string{
		`http_requests_total{code="200"} 950`, `http_requests_total{code="500"} 50`,
		// 500 at 100ms, 450 at 200ms, 50 at 400ms.
		`http_request_duration_seconds_bucket{le="0.1"} 500`, `http_request_duration_seconds_bucket{le="0.25"} 950`,
		`http_request_duration_seconds_bucket{le="0.5"} 1000`, `http_request_duration_seconds_count 1000`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	now = now.Add(10 * time.Second)
	if m := app.metrics(); !strings.Contains(m, `http_requests_total{code="200"} 1045`) {
		t.Errorf("counters did not advance:\n%s", m)
	}
}

func TestSimAppErrorRatioOnRealRequests(t *testing.T) {
	pod := simPod("canary-1", "10.7.0.1", map[string]string{SimHTTPErrorRatioAnnotation: "0.25", SimHTTPLatencyAnnotation: "0s"})
	b, _ := parseSimBehaviour(pod)
	app := newSimApp(pod.Name, b, time.Now)
	fails := 0
	for range 100 {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, "/api/orders", http.NoBody)
		app.ServeHTTP(rec, req)
		if rec.code == 500 {
			fails++
		}
	}
	if fails != 25 {
		t.Fatalf("%d of 100 failed, want 25", fails)
	}
}

func TestParseSimBehaviourReportsBadValues(t *testing.T) {
	pod := simPod("p", "10.7.0.1", map[string]string{SimHTTPStatusAnnotation: "/a=abc,/b=503", SimHTTPErrorRatioAnnotation: "2", SimHTTPRefuseAnnotation: "true"})
	b, problems := parseSimBehaviour(pod)
	if len(problems) != 2 || b.status["/b"] != 503 || b.errorRatio != 0 || !b.refuses(1234) {
		t.Fatalf("behaviour %+v, problems %v", b, problems)
	}
}

func TestEgressSocketPathFitsUnixLimit(t *testing.T) {
	long := "/tmp/" + strings.Repeat("x", 120)
	if p := EgressSocketPath(long); len(p) >= 100 || !strings.HasPrefix(p, "/tmp/feastflow-egress-") {
		t.Fatalf("socket path %q", p)
	}
	if p := EgressSocketPath("/tmp/s"); p != "/tmp/s/egress.sock" {
		t.Fatalf("socket path %q", p)
	}
}

type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }
