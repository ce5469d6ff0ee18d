// Package traffic checks real traffic from the client alone, through the API server's proxy
// subresources (pods/proxy, services/proxy): smoke tests before and after a switch, canary
// analysis from the pods' own Prometheus /metrics, and connectivity probes for diagnose.
// It needs no metrics stack and nothing installed in the cluster.
package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Outcome classifies one proxied GET.
type Outcome string

// Outcomes of a probe. Forbidden is the caller's RBAC, never the app's health.
const (
	OutcomeOK        Outcome = "ok"         // a 2xx answer
	OutcomeHTTPError Outcome = "http-error" // the app answered, not 2xx
	OutcomeRefused   Outcome = "refused"    // the connection to the pod was refused
	OutcomeTimeout   Outcome = "timeout"    // no answer within the timeout
	OutcomeForbidden Outcome = "forbidden"  // RBAC denied the proxy subresource
	OutcomeError     Outcome = "error"      // the API server could not reach the pod, or another failure
)

// DefaultProbeTimeout bounds one proxied GET.
const DefaultProbeTimeout = 5 * time.Second

// bodyPrefix is how many bytes of an answer a probe keeps.
const bodyPrefix = 120

// ProbeResult is one GET through a proxy subresource.
type ProbeResult struct {
	// Target is "pod/NAME" or "service/NAME".
	Target string `json:"target"`
	// Port is the port the GET went to (a pod's container port, a Service's port name or number).
	Port    string  `json:"port"`
	Path    string  `json:"path"`
	Outcome Outcome `json:"outcome"`
	// Code is the HTTP status code of the app's answer (0 when there was none).
	Code int `json:"code,omitempty"`
	// Body is the first bytes of the answer, or the proxy's error text.
	Body       string `json:"body,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// OK reports a 2xx answer.
func (r ProbeResult) OK() bool { return r.Outcome == OutcomeOK }

// Summary is "CODE \"first bytes\"" or the outcome with its reason, for messages; server
// text is quoted so control characters never reach a terminal.
func (r ProbeResult) Summary() string {
	switch r.Outcome {
	case OutcomeOK, OutcomeHTTPError:
		return fmt.Sprintf("%d %s", r.Code, strconv.QuoteToASCII(r.Body))
	case OutcomeTimeout:
		return fmt.Sprintf("timeout after %dms", r.DurationMs)
	}
	return fmt.Sprintf("%s: %s", r.Outcome, strconv.QuoteToASCII(r.Body))
}

// Prober GETs paths through the API server's proxy subresources.
type Prober struct {
	Client kubernetes.Interface
	// Timeout bounds each GET (DefaultProbeTimeout when zero).
	Timeout time.Duration
}

func (p Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultProbeTimeout
}

// Pod GETs path on a pod's port through pods/proxy.
func (p Prober) Pod(ctx context.Context, ns, pod string, port int32, path string) ProbeResult {
	portText := strconv.Itoa(int(port))
	r := ProbeResult{Target: "pod/" + pod, Port: portText, Path: path}
	p.get(ctx, &r, "pods", ns, pod+":"+portText, path)
	return r
}

// raw is Pod keeping the whole answer, for /metrics.
func (p Prober) raw(ctx context.Context, t PodTarget, path string) ([]byte, ProbeResult) {
	portText := strconv.Itoa(int(t.Port))
	r := ProbeResult{Target: "pod/" + t.Pod, Port: portText, Path: path}
	body := p.get(ctx, &r, "pods", t.Namespace, t.Pod+":"+portText, path)
	return body, r
}

func intOrName(v string) intstr.IntOrString { return intstr.Parse(v) }

// Service GETs path on a Service's port (name or number) through services/proxy: the API
// server picks one ready endpoint.
func (p Prober) Service(ctx context.Context, ns, svc, port, path string) ProbeResult {
	r := ProbeResult{Target: "service/" + svc, Port: port, Path: path}
	name := svc
	if port != "" {
		name += ":" + port
	}
	p.get(ctx, &r, "services", ns, name, path)
	return r
}

// PodTarget is one pod and the port to GET on it.
type PodTarget struct {
	Namespace string
	Pod       string
	Port      int32
}

// Pods GETs path on every target in parallel; results are in the targets' order.
func (p Prober) Pods(ctx context.Context, targets []PodTarget, path string) []ProbeResult {
	out := make([]ProbeResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { out[i] = p.Pod(ctx, t.Namespace, t.Pod, t.Port, path) })
	}
	wg.Wait()
	return out
}

// maxBody bounds how much of an answer is read (a /metrics page is a few kilobytes).
const maxBody = 4 << 20

// get sends the GET with the REST client's own HTTP client (credentials, TLS), but reads
// the raw answer: client-go's Result turns an app's 500 into an error without its code.
func (p Prober) get(ctx context.Context, r *ProbeResult, resource, ns, name, path string) []byte {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	start := time.Now()
	defer func() { r.DurationMs = time.Since(start).Milliseconds() }()
	rc := p.Client.CoreV1().RESTClient()
	u := rc.Get().Namespace(ns).Resource(resource).Name(name).SubResource("proxy").Suffix(strings.TrimPrefix(path, "/")).URL()
	httpClient := http.DefaultClient
	if c, ok := rc.(*rest.RESTClient); ok && c.Client != nil {
		httpClient = c.Client
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		r.Outcome, r.Body = OutcomeError, err.Error()
		return nil
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		classify(r, 0, nil, err, ctx.Err())
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	classify(r, resp.StatusCode, body, err, ctx.Err())
	return body
}

// classify sorts an answer: the API server's own refusals (RBAC, a pod it could not reach)
// are metav1.Status objects; anything else is the app's answer, passed through.
func classify(r *ProbeResult, code int, body []byte, err, ctxErr error) {
	r.Code = code
	r.Body = prefix(body)
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		r.Outcome, r.Code = OutcomeTimeout, 0
	case err != nil:
		r.Outcome, r.Code, r.Body = OutcomeError, 0, prefix([]byte(err.Error()))
	case code == http.StatusForbidden && apiReason(body) == metav1.StatusReasonForbidden:
		r.Outcome, r.Code, r.Body = OutcomeForbidden, 0, prefix([]byte(apiMessage(body)))
	case code == http.StatusUnauthorized && apiReason(body) == metav1.StatusReasonUnauthorized:
		r.Outcome, r.Code, r.Body = OutcomeForbidden, 0, prefix([]byte(apiMessage(body)))
	case isAPIStatus(body) && (code == http.StatusServiceUnavailable || code == http.StatusBadGateway || code == http.StatusNotFound && apiReason(body) == metav1.StatusReasonNotFound):
		// "error trying to reach service: ... connection refused", or no such pod/port.
		msg := apiMessage(body)
		if i := strings.Index(msg, "dial tcp "); i >= 0 {
			msg = msg[i:] // the dialer's words, without the egress proxy's address before them
		}
		r.Outcome, r.Code, r.Body = OutcomeError, 0, prefix([]byte(msg))
		if strings.Contains(msg, "connection refused") {
			r.Outcome = OutcomeRefused
		}
	case code >= 200 && code < 300:
		r.Outcome = OutcomeOK
	default:
		r.Outcome = OutcomeHTTPError
	}
}

// isAPIStatus reports whether body is a metav1.Status written by the API server.
func isAPIStatus(body []byte) bool {
	var s metav1.Status
	return json.Unmarshal(body, &s) == nil && s.Kind == "Status" && s.APIVersion == "v1"
}

func apiMessage(body []byte) string {
	var s metav1.Status
	if json.Unmarshal(body, &s) == nil && s.Message != "" {
		return s.Message
	}
	return string(body)
}

func apiReason(body []byte) metav1.StatusReason {
	var s metav1.Status
	if json.Unmarshal(body, &s) != nil || s.Kind != "Status" {
		return ""
	}
	return s.Reason
}

func prefix(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > bodyPrefix {
		s = s[:bodyPrefix] + "…"
	}
	return s
}

// TargetPort resolves a Service port's targetPort on a pod: a number as is, a name through
// the pod's container ports. ok is false when the pod declares no port of that name.
func TargetPort(port corev1.ServicePort, pod *corev1.Pod) (int32, bool) {
	tp := port.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, true
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	return port.Port, true
}

// ServicePortRef is how services/proxy names a Service port: its name, else its number.
func ServicePortRef(port corev1.ServicePort) string {
	if port.Name != "" {
		return port.Name
	}
	return strconv.Itoa(int(port.Port))
}

// PodTargets resolves the Service's first port on each pod; pods on which it does not
// resolve are returned by name.
func PodTargets(svc *corev1.Service, pods []corev1.Pod) (targets []PodTarget, unresolved []string) {
	if len(svc.Spec.Ports) == 0 {
		for i := range pods {
			unresolved = append(unresolved, pods[i].Name)
		}
		return nil, unresolved
	}
	for i := range pods {
		port, ok := TargetPort(svc.Spec.Ports[0], &pods[i])
		if !ok {
			unresolved = append(unresolved, pods[i].Name)
			continue
		}
		targets = append(targets, PodTarget{Namespace: pods[i].Namespace, Pod: pods[i].Name, Port: port})
	}
	return targets, unresolved
}
