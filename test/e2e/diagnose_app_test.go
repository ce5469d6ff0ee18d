package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// appService is one Deployment (2 replicas, maxUnavailable 0) and its Service.
func appService(name, extraLabels, env string) string {
	return fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, labels: {tier: backend}}
spec:
  replicas: 2
  strategy: {rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s%[2]s}}
    spec:
      containers:
      - name: app
        image: registry.local/%[1]s:1.0
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 10m, memory: 16Mi}}%[3]s
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: http}]
`, name, extraLabels, env)
}

// diagnoseReport runs diagnose -o json and decodes it; exit codes 0 and 3 are fine.
func diagnoseReport(t *testing.T, h *harness.H, args ...string) (*troubleshoot.Report, int) {
	t.Helper()
	r := h.Feastflow(append([]string{"diagnose", "-o", "json"}, args...)...)
	if r.ExitCode != 0 && r.ExitCode != 3 {
		t.Fatalf("diagnose %v: exit %d\n%s", args, r.ExitCode, r.Stderr)
	}
	var rep troubleshoot.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("diagnose %v: %v\n%s", args, err, r.Stdout)
	}
	return &rep, r.ExitCode
}

func findingLines(rep *troubleshoot.Report) string {
	var b strings.Builder
	for i, f := range rep.Findings {
		fmt.Fprintf(&b, "%d. %s %s %s %s: %s\n   affects %v\n   fix %v\n", i+1, f.Impact, f.Severity, f.Category, f.Object, f.Cause, f.Affects, f.Fix)
	}
	return b.String()
}

// A realistic shop of eleven Deployments and Services broken six ways at once: two Services
// down by configuration (a selector typo, a targetPort no pod declares), one down because
// its pods cannot start (a missing ConfigMap), three releases stuck with the old version
// still serving (a crash, a missing image, a near-miss ConfigMap key), and an Ingress in
// front of a down Service. Asserts the order (outages first), the folding (no separate
// endpoint or Ingress findings), the fixes, then runs the fixes as printed and expects the
// same app to pass --fail-on warning.
func TestDiagnoseRealisticApp(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var m strings.Builder
	for _, n := range []string{"web", "api", "auth", "notify", "search", "cart", "inventory", "users", "payment", "catalog"} {
		env := ""
		if n == "users" {
			env = "\n        env: [{name: DB_URL, valueFrom: {configMapKeyRef: {name: users-config, key: db_url}}}]"
		}
		m.WriteString(appService(n, "", env))
	}
	m.WriteString(`---
apiVersion: v1
kind: ConfigMap
metadata: {name: users-config}
data: {db_url: "postgres://db:5432/users"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, labels: {tier: backend}}
spec:
  replicas: 2
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders, sim.feastflow.dev/state: createcontainerconfigerror}}
    spec:
      containers:
      - name: app
        image: registry.local/orders:1.0
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: DB_HOST, valueFrom: {configMapKeyRef: {name: orders-config, key: DB_HOST}}}
        - {name: DB_PORT, valueFrom: {configMapKeyRef: {name: orders-config, key: DB_PORT}}}
---
apiVersion: v1
kind: Service
metadata: {name: orders}
spec:
  selector: {app: orders}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  rules:
  - host: shop.local
    http:
      paths:
      - {path: /pay, pathType: Prefix, backend: {service: {name: payment, port: {name: http}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`)
	h.Apply(ns, m.String())
	for _, d := range []string{"web", "api", "auth", "notify", "search", "cart", "inventory", "users", "payment", "catalog"} {
		h.WaitForRollout(ns, d)
	}
	// Break it as people do: a selector typo, a numeric targetPort, three bad releases.
	h.MustKubectl("patch", "service", "payment", "-n", ns, "--type=merge", "-p", `{"spec":{"selector":{"app":"paymnet"}}}`)
	h.MustKubectl("patch", "service", "search", "-n", ns, "--type=json", "-p", `[{"op":"replace","path":"/spec/ports/0/targetPort","value":9090}]`)
	h.MustKubectl("patch", "deployment", "cart", "-n", ns, "--type=json", "-p",
		`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.local/cart:1.1"},{"op":"add","path":"/spec/template/metadata/labels/sim.feastflow.dev~1state","value":"crashloop"}]`)
	h.MustKubectl("set", "image", "deployment/inventory", "app=registry.local/inventory:doesnotexist", "-n", ns)
	h.MustKubectl("patch", "deployment", "users", "-n", ns, "--type=json", "-p",
		`[{"op":"replace","path":"/spec/template/spec/containers/0/env/0/valueFrom/configMapKeyRef/key","value":"db-url"},{"op":"add","path":"/spec/template/metadata/labels/sim.feastflow.dev~1state","value":"createcontainerconfigerror"}]`)
	waitPods := func(sel, reason string, n int) {
		harness.WaitFor(ctx, h.Pods(ns, sel), sel+" "+reason, func(ps []*corev1.Pod) (bool, error) {
			c := 0
			for _, p := range ps {
				for _, st := range p.Status.ContainerStatuses {
					if st.State.Waiting != nil && st.State.Waiting.Reason == reason {
						c++
					}
				}
			}
			return c >= n, nil
		})
	}
	waitPods("app=cart", "CrashLoopBackOff", 1)
	waitPods("app=inventory", "ImagePullBackOff", 1)
	waitPods("app=users", "CreateContainerConfigError", 1)
	waitPods("app=orders", "CreateContainerConfigError", 2)
	for svc, notReady := range map[string]int{"cart": 1} {
		harness.WaitFor(ctx, h.EndpointSlices(ns, svc), svc+" not-ready endpoints", func(ss []*discoveryv1.EndpointSlice) (bool, error) {
			n := 0
			for _, s := range ss {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && !*e.Conditions.Ready {
						n++
					}
				}
			}
			return n >= notReady, nil
		})
	}

	rep, code := diagnoseReport(t, h, "-n", ns)
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	got := findingLines(rep)
	t.Logf("findings:\n%s", got)
	type want struct {
		impact   troubleshoot.Impact
		category troubleshoot.Category
		object   string
	}
	wants := []want{
		{troubleshoot.ImpactOutage, troubleshoot.CategoryConfigError, "deployment/orders"},
		{troubleshoot.ImpactOutage, troubleshoot.CategoryServiceNoPods, "service/payment"},
		{troubleshoot.ImpactOutage, troubleshoot.CategoryTargetPort, "service/search"},
		{troubleshoot.ImpactDegraded, troubleshoot.CategoryCrashLoop, "deployment/cart"},
		{troubleshoot.ImpactDegraded, troubleshoot.CategoryImagePull, "deployment/inventory"},
		{troubleshoot.ImpactDegraded, troubleshoot.CategoryConfigError, "deployment/users"},
	}
	if len(rep.Findings) != len(wants) {
		t.Fatalf("%d findings, want %d (one per root cause):\n%s", len(rep.Findings), len(wants), got)
	}
	for i, w := range wants {
		f := rep.Findings[i]
		if f.Impact != w.impact || f.Category != w.category || f.Object.String() != w.object {
			t.Errorf("finding %d = %s %s %s, want %s %s %s", i+1, f.Impact, f.Category, f.Object, w.impact, w.category, w.object)
		}
		if f.Impact == troubleshoot.ImpactOutage && f.Severity != troubleshoot.SeverityError {
			t.Errorf("outage %s is %s, want error", f.Object, f.Severity)
		}
	}
	if rep.Summary.ServicesDown != 3 {
		t.Errorf("services down = %d, want 3 (orders, payment, search)", rep.Summary.ServicesDown)
	}
	byObj := map[string]*troubleshoot.Finding{}
	for i := range rep.Findings {
		byObj[rep.Findings[i].Object.String()] = &rep.Findings[i]
	}
	has := func(obj, field, text string, lines []string) {
		t.Helper()
		if !strings.Contains(strings.Join(lines, "\n"), text) {
			t.Errorf("%s %s lacks %q: %v", obj, field, text, lines)
		}
	}
	// Folding: endpoints and the Ingress are symptoms of their cause.
	has("deployment/cart", "affects", "affects service cart: 1 of 3 endpoints not ready", byObj["deployment/cart"].Affects)
	has("deployment/orders", "affects", "affects service orders: none of its 2 endpoints is ready", byObj["deployment/orders"].Affects)
	has("service/payment", "affects", "affects ingress shop: shop.local/pay routed to service payment fails", byObj["service/payment"].Affects)
	// Fixes: the revert first; the near miss; every key; the exact selector patch.
	for _, d := range []string{"cart", "inventory", "users"} {
		f := byObj["deployment/"+d]
		if len(f.Fix) == 0 || !strings.HasPrefix(f.Fix[0], "kubectl rollout undo deployment/"+d+" -n "+ns) {
			t.Errorf("deployment/%s: first fix %v, want the revert", d, f.Fix)
		}
	}
	has("service/payment", "fix", fmt.Sprintf(`kubectl patch service payment -n %s --type=merge -p '{"spec":{"selector":{"app":"payment"}}}'`, ns), byObj["service/payment"].Fix)
	has("deployment/orders", "fix", fmt.Sprintf("kubectl create configmap orders-config -n %s --from-literal=DB_HOST='<value>' --from-literal=DB_PORT='<value>'", ns), byObj["deployment/orders"].Fix)
	has("deployment/users", "details", `key "db-url" not found in ConfigMap "users-config" (env DB_URL of container app); ConfigMap "users-config" has "db_url" (near miss)`, byObj["deployment/users"].Details)
	has("deployment/users", "fix", `"path":"/spec/template/spec/containers/0/env/0/valueFrom/configMapKeyRef/key","value":"db_url"`, byObj["deployment/users"].Fix)
	has("service/search", "cause", "targetPort 9090 is not a declared containerPort of 2 of 2 selected pods", []string{byObj["service/search"].Cause})

	// The human table says how many Services are down, outage first.
	human := h.Feastflow("diagnose", "-n", ns)
	if !strings.Contains(human.Stdout, "namespace "+ns+": 3 services down;") {
		t.Errorf("summary line:\n%s", human.Stdout)
	}

	// kubectl's grammar on the same namespace.
	grammar := []struct {
		args    []string
		code    int
		objects []string // findings expected (all of them)
		stderr  string
	}{
		// search's targetPort finding names its pods: in scope with them.
		{args: []string{"pod"}, code: 3, objects: []string{"deployment/orders", "service/search", "deployment/cart", "deployment/inventory", "deployment/users"}},
		{args: []string{"svc"}, code: 3, objects: []string{"deployment/orders", "service/payment", "service/search", "deployment/cart", "deployment/inventory", "deployment/users"}},
		{args: []string{"svc/payment", "deploy/cart"}, code: 3, objects: []string{"service/payment", "deployment/cart"}},
		{args: []string{"deployments", "cart", "inventory"}, code: 3, objects: []string{"deployment/cart", "deployment/inventory"}},
		{args: []string{"deploy", "-l", "tier=backend"}, code: 3, objects: []string{"deployment/orders", "service/search", "deployment/cart", "deployment/inventory", "deployment/users"}},
		{args: []string{"deploy", "-l", "tier=frontend"}, code: 0},
		{args: []string{"cart"}, code: 3, objects: []string{"deployment/cart"}},
		{args: []string{"ing/shop"}, code: 3, objects: []string{"service/payment"}},
		{args: []string{"sts"}, code: 0}, {args: []string{"ds"}, code: 0}, {args: []string{"job"}, code: 0}, {args: []string{"cronjob"}, code: 0},
		{args: []string{"hpa"}, code: 0}, {args: []string{"pdb"}, code: 0}, {args: []string{"pvc"}, code: 0},
		{args: []string{"deplyo", "cart"}, code: 2, stderr: "did you mean deployment?"},
		{args: []string{"sevrice/cart"}, code: 2, stderr: "did you mean service?"},
		{args: []string{"deploy", "cart", "nope"}, code: 1, stderr: `Deployment "nope" not found in namespace ` + ns},
		{args: []string{"svc/nope"}, code: 1, stderr: `Service "nope" not found`},
	}
	for _, g := range grammar {
		args := append([]string{"diagnose", "-n", ns}, g.args...)
		r := h.Feastflow(append(args, "-o", "json")...)
		if r.ExitCode != g.code || !strings.Contains(r.Stderr, g.stderr) {
			t.Errorf("diagnose %v: exit %d (want %d), stderr %q (want %q)", g.args, r.ExitCode, g.code, r.Stderr, g.stderr)
			continue
		}
		if g.code == 1 || g.code == 2 {
			continue
		}
		var gr troubleshoot.Report
		if err := json.Unmarshal([]byte(r.Stdout), &gr); err != nil {
			t.Errorf("diagnose %v: %v", g.args, err)
			continue
		}
		var objs []string
		for _, f := range gr.Findings {
			objs = append(objs, f.Object.String())
		}
		if strings.Join(objs, " ") != strings.Join(g.objects, " ") {
			t.Errorf("diagnose %v: findings %v, want %v", g.args, objs, g.objects)
		}
	}

	// Run the fixes as printed: the revert of each stuck release, the selector patch, the
	// targetPort patch, the ConfigMap with every key.
	for _, line := range []string{
		byObj["deployment/cart"].Fix[0], byObj["deployment/inventory"].Fix[0], byObj["deployment/users"].Fix[0],
		byObj["service/payment"].Fix[0], byObj["service/search"].Fix[0],
	} {
		if r := h.Shell(line); r.ExitCode != 0 {
			t.Fatalf("fix %q: exit %d\n%s%s", line, r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	for _, line := range byObj["deployment/orders"].Fix {
		if strings.HasPrefix(line, "kubectl create configmap") {
			if r := h.Shell(line); r.ExitCode != 0 {
				t.Fatalf("fix %q: exit %d\n%s", line, r.ExitCode, r.Stderr)
			}
		}
	}
	// orders' pods were simulated broken by label: the fixed release drops the label.
	h.MustKubectl("patch", "deployment", "orders", "-n", ns, "--type=json", "-p", `[{"op":"remove","path":"/spec/template/metadata/labels/sim.feastflow.dev~1state"}]`)
	for _, d := range []string{"cart", "inventory", "users", "orders"} {
		h.WaitForRollout(ns, d)
	}
	harness.WaitFor(ctx, h.Pods(ns, ""), "old pods gone", func(ps []*corev1.Pod) (bool, error) {
		for _, p := range ps {
			if p.DeletionTimestamp != nil || !harness.PodReady(p) {
				return false, nil
			}
		}
		return len(ps) == 22, nil
	})
	if r := h.Feastflow("diagnose", "-n", ns, "--fail-on", "warning"); r.ExitCode != 0 {
		t.Errorf("the healed app: exit %d, want 0\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}
