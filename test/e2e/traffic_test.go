package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Traffic checks through the API server's proxy subresources, against the local cluster's
// egress proxy and its simulated apps (docs/local-cluster.md). The apps, label keys and
// ports here differ from the examples on purpose.

// deployYAML is a Deployment of a simulated app; extra are pod template annotations.
func deployYAML(name string, replicas int, labels map[string]string, annotations map[string]string) string {
	var l, a strings.Builder
	for k, v := range labels {
		fmt.Fprintf(&l, "        %s: %q\n", k, v)
	}
	for k, v := range annotations {
		fmt.Fprintf(&a, "        %s: %q\n", k, v)
	}
	if a.Len() == 0 {
		a.WriteString("        sim.feastflow.dev/none: \"\"\n")
	}
	sel := strings.ReplaceAll(l.String(), "        ", "      ")
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: %d
  selector:
    matchLabels:
%s  template:
    metadata:
      labels:
%s      annotations:
%s    spec:
      containers:
      - name: app
        image: registry.example/%s:2.0.1
        ports:
        - name: web
          containerPort: 8443
`, name, replicas, sel, l.String(), a.String(), name)
}

func serviceYAML(name string, selector map[string]string, annotations map[string]string) string {
	var s, a strings.Builder
	for k, v := range selector {
		fmt.Fprintf(&s, "    %s: %q\n", k, v)
	}
	for k, v := range annotations {
		fmt.Fprintf(&a, "    %s: %q\n", k, v)
	}
	if a.Len() == 0 {
		a.WriteString("    none: \"\"\n")
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  annotations:
%sspec:
  selector:
%s  ports:
  - name: api
    port: 80
    targetPort: web
`, name, a.String(), s.String())
}

// TestEgressProxyReachesSimulatedApps: the API server's pod and service proxies reach the
// simulated app of each pod through the egress socket, and kubectl logs still reaches
// kwok's kubelet server through the same egress.
func TestEgressProxyReachesSimulatedApps(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML("ledger", 2, map[string]string{"app": "ledger"}, map[string]string{"sim.feastflow.dev/http-status": "/broken=418"})+"---\n"+
		serviceYAML("ledger", map[string]string{"app": "ledger"}, nil))
	h.WaitForRollout(ns, "ledger")
	pods := h.WaitForPodsReady(ns, "app=ledger", 2)
	pod := pods[0].Name

	out := h.MustKubectl("get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:8443/proxy/orders", ns, pod))
	if !strings.Contains(out, `"pod":"`+pod+`"`) || !strings.Contains(out, `"code":200`) {
		t.Errorf("pod proxy answered %q", out)
	}
	r := h.Kubectl("get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:8443/proxy/broken", ns, pod))
	if r.ExitCode == 0 || !strings.Contains(r.Stderr+r.Stdout, "418") {
		t.Errorf("a path configured to answer 418 gave exit %d: %s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	out = h.MustKubectl("get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/services/ledger:api/proxy/metrics", ns))
	if !strings.Contains(out, "http_requests_total{code=\"200\"}") || !strings.Contains(out, "http_request_duration_seconds_bucket") {
		t.Errorf("service proxy /metrics answered %q", out)
	}
	if r := h.Kubectl("-n", ns, "logs", pod); r.ExitCode != 0 {
		t.Errorf("kubectl logs through the egress proxy: exit %d: %s", r.ExitCode, r.Stderr)
	}
}

// TestSwitchSmokeTest: a green whose health path fails on one pod is refused with nothing
// written; once healthy, the switch goes through with the smoke test passed on the pods
// before and through the Service after.
func TestSwitchSmokeTest(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	svc := "checkout"
	h.Apply(ns, deployYAML("checkout-amber", 2, map[string]string{"app": "checkout", "slot": "amber"}, nil)+"---\n"+
		deployYAML("checkout-teal", 3, map[string]string{"app": "checkout", "slot": "teal"}, nil)+"---\n"+
		serviceYAML(svc, map[string]string{"app": "checkout", "slot": "amber"}, map[string]string{"feastflow.dev/color-key": "slot", "feastflow.dev/smoke-path": "/healthz/deep"}))
	h.WaitForRollout(ns, "checkout-amber")
	h.WaitForRollout(ns, "checkout-teal")
	teal := h.WaitForPodsReady(ns, "slot=teal", 3)
	sick := teal[1].Name
	// A second writer: someone's debugging annotation breaks one pod's health path.
	h.MustKubectl("-n", ns, "annotate", "pod", sick, "sim.feastflow.dev/http-status=/healthz/deep=500")

	before := rv(h, ns, "svc", svc)
	r := h.Feastflow("switch", "teal", svc, "-n", ns)
	if r.ExitCode != 1 {
		t.Fatalf("switch to a green failing its smoke test: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"refused, nothing was changed", "pod/" + sick + " (500 ", `\"status\":\"error\"`, "failed on 1 of 3"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.Stderr)
		}
	}
	if after := rv(h, ns, "svc", svc); after != before {
		t.Errorf("refused switch wrote the service: resourceVersion %s → %s", before, after)
	}
	if c := h.MustKubectl("-n", ns, "get", "svc", svc, "-o", "jsonpath={.spec.selector.slot}"); c != "amber" {
		t.Fatalf("selector moved to %s", c)
	}

	h.MustKubectl("-n", ns, "annotate", "pod", sick, "sim.feastflow.dev/http-status-")
	r = ff(t, h, 0, "switch", "teal", svc, "-n", ns)
	for _, want := range []string{"smoke GET /healthz/deep passed on 3 pods through pods/proxy", "smoke GET /healthz/deep passed on service/checkout through services/proxy"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("switch output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if c := h.MustKubectl("-n", ns, "get", "svc", svc, "-o", "jsonpath={.spec.selector.slot}"); c != "teal" {
		t.Fatalf("selector is %s after the switch", c)
	}
}

// canarySetup creates a canary component "<name>" with 3 stable and 1 canary pods; the
// annotations shape each track's simulated traffic.
func canarySetup(t *testing.T, h *harness.H, name string, stable, canary map[string]string) string {
	t.Helper()
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML(name+"-stable", 3, map[string]string{"svc": name, "lane": "stable"}, stable)+"---\n"+
		deployYAML(name+"-canary", 1, map[string]string{"svc": name, "lane": "canary"}, canary)+"---\n"+
		serviceYAML(name, map[string]string{"svc": name}, nil))
	h.WaitForRollout(ns, name+"-stable")
	h.WaitForRollout(ns, name+"-canary")
	h.WaitForPodsReady(ns, "svc="+name, 4)
	return ns
}

func replicas(h *harness.H, ns, deploy string) string {
	return h.MustKubectl("-n", ns, "get", "deploy", deploy, "-o", "jsonpath={.spec.replicas}")
}

var analysisArgs = []string{"--analysis", "--analysis-window", "4s", "--min-requests", "40"}

// TestCanaryAnalysisBlocksErrors: a canary answering 5 % 5xx against a 0 % stable is blocked
// with both numbers, the result is recorded on the Service, and --auto-abort aborts.
func TestCanaryAnalysisBlocksErrors(t *testing.T) {
	h := harness.For(t)
	rps := map[string]string{"sim.feastflow.dev/http-rps": "40"}
	ns := canarySetup(t, h, "payments", rps, map[string]string{"sim.feastflow.dev/http-rps": "40", "sim.feastflow.dev/http-error-ratio": "0.05"})

	r := h.Feastflow(append([]string{"canary-step", "payments", "-n", ns}, analysisArgs...)...)
	if r.ExitCode != 1 {
		t.Fatalf("canary-step with a failing canary: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if !regexp.MustCompile(`error ratio [456](\.\d+)? % on the canary vs 0 % on stable`).MatchString(r.Stderr) {
		t.Errorf("blocked step does not give both numbers:\n%s", r.Stderr)
	}
	if replicas(h, ns, "payments-canary") != "1" || replicas(h, ns, "payments-stable") != "3" {
		t.Errorf("blocked step scaled: canary %s, stable %s", replicas(h, ns, "payments-canary"), replicas(h, ns, "payments-stable"))
	}
	rec := h.MustKubectl("-n", ns, "get", "svc", "payments", "-o", `jsonpath={.metadata.annotations.feastflow\.dev/canary-analysis-result}`)
	if !strings.Contains(rec, `"verdict":"failed"`) {
		t.Errorf("analysis not recorded on the service: %q", rec)
	}
	st := ff(t, h, 0, "status", "payments", "-n", ns)
	if !regexp.MustCompile(`Canary analysis \(last recorded\):\n  payments: canary analysis failed over 4s: .*error ratio`).MatchString(st.Stdout) {
		t.Errorf("status does not show the recorded analysis:\n%s", st.Stdout)
	}
	st = ff(t, h, 0, "status", "payments", "-n", ns, "-o", "json")
	if !regexp.MustCompile(`"analysis": \{[^}]*"service": "payments"`).MatchString(st.Stdout) || !strings.Contains(st.Stdout, `"verdict": "failed"`) {
		t.Errorf("status JSON lacks the analysis:\n%s", st.Stdout)
	}

	r = h.Feastflow(append([]string{"canary-step", "payments", "-n", ns, "--auto-abort"}, analysisArgs...)...)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "aborted (--auto-abort)") {
		t.Fatalf("--auto-abort: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if replicas(h, ns, "payments-canary") != "0" || replicas(h, ns, "payments-stable") < "3" {
		t.Errorf("after --auto-abort: canary %s, stable %s (want 0 and at least 3)", replicas(h, ns, "payments-canary"), replicas(h, ns, "payments-stable"))
	}
}

// TestCanaryAnalysisLatencyAndIdle: a slower canary is blocked on p95 latency; an idle one
// (below the minimum request count) is reported and does not pass; a healthy one steps.
func TestCanaryAnalysisLatencyAndIdle(t *testing.T) {
	h := harness.For(t)
	ns := canarySetup(t, h, "search", map[string]string{"sim.feastflow.dev/http-rps": "40"},
		map[string]string{"sim.feastflow.dev/http-rps": "40", "sim.feastflow.dev/http-latency": "400ms"})
	r := h.Feastflow(append([]string{"canary-step", "search", "-n", ns}, analysisArgs...)...)
	if r.ExitCode != 1 || !regexp.MustCompile(`p95 latency [\d.]+ms on the canary vs [\d.]+ms on stable`).MatchString(r.Stderr) {
		t.Fatalf("slow canary: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}

	// The canary's traffic stops (a second writer changes its pod template).
	h.MustKubectl("-n", ns, "patch", "deploy", "search-canary", "--type=merge", "-p",
		`{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/http-rps":"0","sim.feastflow.dev/http-latency":"20ms"}}}}}`)
	h.WaitForRollout(ns, "search-canary")
	h.WaitForPodsReady(ns, "lane=canary", 1)
	r = h.Feastflow(append([]string{"canary-step", "search", "-n", ns}, analysisArgs...)...)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "inconclusive") || !strings.Contains(r.Stderr, "the canary answered 0 requests") {
		t.Fatalf("idle canary: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if replicas(h, ns, "search-canary") != "1" {
		t.Errorf("idle canary was stepped")
	}

	h.MustKubectl("-n", ns, "patch", "deploy", "search-canary", "--type=merge", "-p",
		`{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/http-rps":"40"}}}}}`)
	h.WaitForRollout(ns, "search-canary")
	h.WaitForPodsReady(ns, "lane=canary", 1)
	r = ff(t, h, 0, append([]string{"canary-step", "search", "-n", ns}, analysisArgs...)...)
	if !strings.Contains(r.Stdout, "canary analysis passed") || replicas(h, ns, "search-canary") != "2" {
		t.Errorf("healthy canary step: canary %s\n%s", replicas(h, ns, "search-canary"), r.Stdout)
	}
}

// TestDiagnoseProbeNamesRefusingPods: a Service whose pods refuse its port; diagnose --probe
// names them, and a user without the proxy permission is told so (exit 1), not "healthy".
func TestDiagnoseProbeNamesRefusingPods(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML("inventory", 2, map[string]string{"app": "inventory"}, map[string]string{"sim.feastflow.dev/http-refuse": "8443"})+"---\n"+
		serviceYAML("inventory", map[string]string{"app": "inventory"}, nil))
	h.WaitForRollout(ns, "inventory")
	pods := h.WaitForPodsReady(ns, "app=inventory", 2)
	rec := h.RecordEndpoints(ns, "inventory")
	rec.WaitUntil("both pods are ready endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 2 })
	rec.Stop()

	r := h.Feastflow("diagnose", "svc/inventory", "-n", ns, "--probe", "/status")
	if r.ExitCode != 3 {
		t.Fatalf("diagnose --probe: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"TrafficRefused", "connection refused on 2 of 2 ready endpoints", pods[0].Name, pods[1].Name} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("diagnose output lacks %q:\n%s", want, r.Stdout)
		}
	}

	// The probe is a finding source like any analyzer: in the JSON report, ranked by impact
	// (every ready endpoint refusing is an outage: the Service is down), with its GETs.
	r = h.Feastflow("diagnose", "svc/inventory", "-n", ns, "--probe", "/status", "-o", "json")
	var rep struct {
		Summary struct {
			ServicesDown int `json:"servicesDown"`
			Outages      int `json:"outages"`
		} `json:"summary"`
		Findings []struct {
			Category string `json:"category"`
			Impact   string `json:"impact"`
		} `json:"findings"`
		Probe struct {
			Path string `json:"path"`
			Pods []struct {
				Target  string `json:"target"`
				Outcome string `json:"outcome"`
			} `json:"pods"`
		} `json:"probe"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.ExitCode != 3 {
		t.Fatalf("diagnose --probe -o json: exit %d, %v\n%s%s", r.ExitCode, err, r.Stdout, r.Stderr)
	}
	if len(rep.Findings) == 0 || rep.Findings[0].Category != "TrafficRefused" || rep.Findings[0].Impact != "outage" ||
		rep.Summary.ServicesDown != 1 || rep.Summary.Outages < 1 || rep.Probe.Path != "/status" || len(rep.Probe.Pods) != 2 || rep.Probe.Pods[0].Outcome != "refused" {
		t.Errorf("diagnose --probe -o json: %+v\n%s", rep, r.Stdout)
	}

	// The built-in view role reads everything here but grants no proxy.
	h.MustKubectl("-n", ns, "create", "rolebinding", "viewer", "--clusterrole=view", "--user=eve")
	r = h.Feastflow("diagnose", "svc/inventory", "-n", ns, "--probe", "/status", "--as", "eve")
	// Either the probe says so, or diagnose already refused an incomplete read: never exit 0/3.
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "forbidden") ||
		strings.Contains(r.Stderr, "traffic probe") && !strings.Contains(r.Stderr, "forbidden to get services/proxy and pods/proxy") {
		t.Fatalf("diagnose --probe without proxy RBAC: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout, "TrafficRefused") {
		t.Errorf("a denied proxy was reported as a failing app:\n%s", r.Stdout)
	}
}
