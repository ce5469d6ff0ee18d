package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestDeploySmokeTest: deploy smoke-tests the new pods through pods/proxy once they are
// Ready. A blue-green idle color whose health path fails: exit 1 naming the pods and codes,
// no traffic moved. A rolling component with the Service annotation: passed, reported. A
// canary whose pods fail: promote refused with nothing written; a healthy one is promoted
// with the canary's and stable's new pods tested.
func TestDeploySmokeTest(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML("orders-amber", 2, map[string]string{"app": "orders", "slot": "amber"}, nil)+"---\n"+
		deployYAML("orders-teal", 0, map[string]string{"app": "orders", "slot": "teal"}, map[string]string{"sim.feastflow.dev/http-status": "/livez=503"})+"---\n"+
		serviceYAML("orders", map[string]string{"app": "orders", "slot": "amber"}, map[string]string{"feastflow.dev/color-key": "slot", "feastflow.dev/smoke-path": "/livez"}))
	h.WaitForRollout(ns, "orders-amber")

	r := h.Feastflow("deploy", "orders", "--image", "registry.example/orders:2.1.0", "-n", ns)
	if r.ExitCode != 1 {
		t.Fatalf("deploy of a color failing its smoke test: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	teal := h.WaitForPodsReady(ns, "slot=teal", 2)
	for _, want := range []string{"failed on 2 of 2 through pods/proxy", "pod/" + teal[0].Name + " (503 ", "pod/" + teal[1].Name + " (503 ", "no traffic moved (live color still amber)", "abort orders"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("failed deploy lacks %q:\n%s", want, r.Stderr)
		}
	}
	if !strings.Contains(r.Stdout, "smoke GET /livez FAILED on 2 pods through pods/proxy") {
		t.Errorf("result lacks the failed smoke line:\n%s", r.Stdout)
	}
	if c := h.MustKubectl("-n", ns, "get", "svc", "orders", "-o", "jsonpath={.spec.selector.slot}"); c != "amber" {
		t.Fatalf("selector moved to %s", c)
	}

	// Rolling: the Service's annotation asks for the smoke test; it passes.
	h.Apply(ns, deployYAML("billing", 2, map[string]string{"app": "billing"}, nil)+"---\n"+
		serviceYAML("billing", map[string]string{"app": "billing"}, map[string]string{"feastflow.dev/smoke-path": "/livez"}))
	h.WaitForRollout(ns, "billing")
	r = ff(t, h, 0, "deploy", "billing", "--image", "registry.example/billing:2.1.0", "-n", ns, "-o", "json")
	for _, want := range []string{`"smoke": [`, `"stage": "pods"`, `"passed": true`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("deploy JSON lacks %s:\n%s", want, r.Stdout)
		}
	}

	// Canary promote: a canary failing its smoke test is not rolled into stable.
	cns := canarySetup(t, h, "tickets", nil, map[string]string{"sim.feastflow.dev/http-status": "/livez=500"})
	stableRV, svcRV := rv(h, cns, "deploy", "tickets-stable"), rv(h, cns, "svc", "tickets")
	r = h.Feastflow("promote", "tickets", "-n", cns, "--smoke", "/livez", "--yes")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "promote tickets refused, nothing was changed") || !strings.Contains(r.Stderr, "(500 ") {
		t.Fatalf("promote of a canary failing its smoke test: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if rv(h, cns, "deploy", "tickets-stable") != stableRV || rv(h, cns, "svc", "tickets") != svcRV {
		t.Errorf("refused promote wrote the stable deployment or the service")
	}
	// A healthy canary (the default track label this time: promote keeps it on stable).
	h.Apply(cns, deployYAML("seats-stable", 3, map[string]string{"svc": "seats", "track": "stable"}, nil)+"---\n"+
		deployYAML("seats-canary", 1, map[string]string{"svc": "seats", "track": "canary"}, nil)+"---\n"+
		serviceYAML("seats", map[string]string{"svc": "seats"}, nil))
	h.WaitForRollout(cns, "seats-stable")
	h.WaitForRollout(cns, "seats-canary")
	h.WaitForPodsReady(cns, "svc=seats", 4)
	r = ff(t, h, 0, "promote", "seats", "-n", cns, "--smoke", "/livez", "--yes")
	for _, want := range []string{"deployment/seats-canary: smoke GET /livez passed on 1 pods", "deployment/seats-stable: smoke GET /livez passed on 4 pods"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("promote progress lacks %q:\n%s", want, r.Stderr)
		}
	}
}

// TestDeploySmokePodReplacedMidCheck: a second writer changes the new pods while the smoke
// test runs (the app answers slowly) — one deletes a pod, another runs `kubectl scale`, a
// third `kubectl set image` — and the deploy does not pass on a set of pods that no longer
// is the one serving.
func TestDeploySmokePodReplacedMidCheck(t *testing.T) {
	h := harness.For(t)
	for _, tc := range []struct {
		name   string
		writer func(ns string, pods []string) string // returns what the outcome must name
	}{
		{"pod deleted", func(ns string, pods []string) string {
			h.MustKubectl("-n", ns, "delete", "pod", pods[0], "--wait=false")
			return pods[0]
		}},
		{"kubectl scale", func(ns string, _ []string) string {
			h.MustKubectl("-n", ns, "scale", "deploy/quotes", "--replicas=3")
			return " new"
		}},
		// The smoke test lists the pods by the template hash the deploy's wait ended on: a
		// template changed after the wait leaves those pods Ready for a while, and only the
		// re-read of the Deployment after the test can tell.
		{"kubectl set image", func(ns string, _ []string) string {
			h.MustKubectl("-n", ns, "set", "image", "deploy/quotes", "app=registry.example/quotes:9.9.9")
			return `spec.template changed to registry.example/quotes:9.9.9`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := h.NewNamespace()
			h.Apply(ns, deployYAML("quotes", 2, map[string]string{"app": "quotes"}, map[string]string{"sim.feastflow.dev/http-latency": "10s"})+"---\n"+
				serviceYAML("quotes", map[string]string{"app": "quotes"}, map[string]string{"feastflow.dev/smoke-path": "/livez"}))
			h.WaitForRollout(ns, "quotes")

			done := make(chan harness.Result, 1)
			go func() {
				done <- h.Feastflow("deploy", "quotes", "--image", "registry.example/quotes:3.0.0", "-n", ns, "--smoke-timeout", "30s")
			}()
			// The deploy smoke-tests once the rollout is complete: wait for the same, then write.
			harness.WaitFor(context.Background(), h.Deployments(ns), "the rollout to registry.example/quotes:3.0.0 complete", func(ds []*appsv1.Deployment) (bool, error) {
				for _, d := range ds {
					if d.Name == "quotes" && d.Spec.Template.Spec.Containers[0].Image == "registry.example/quotes:3.0.0" && d.Status.ObservedGeneration >= d.Generation &&
						d.Status.UpdatedReplicas == 2 && d.Status.AvailableReplicas == 2 && d.Status.Replicas == 2 {
						return true, nil
					}
				}
				return false, nil
			})
			var fresh []string
			for _, p := range h.WaitForPodsReady(ns, "app=quotes", 2) {
				if p.Spec.Containers[0].Image == "registry.example/quotes:3.0.0" && p.DeletionTimestamp == nil {
					fresh = append(fresh, p.Name)
				}
			}
			named := tc.writer(ns, fresh)
			r := <-done
			if r.ExitCode != 1 {
				t.Fatalf("deploy whose pods changed during the smoke test: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
			}
			if strings.Contains(r.Stderr, "smoke GET /livez passed") || !strings.Contains(r.Stderr, "not conclusive") || !strings.Contains(r.Stderr, named) {
				t.Errorf("outcome does not say what happened (want %q named):\n%s", named, r.Stderr)
			}
		})
	}
}

// TestSmokeForbiddenProxyIsNotAFailingApp: a ServiceAccount holding the release role
// without pods/proxy. switch --smoke refuses naming the denied permission (not a failing
// pod), writes nothing, and preflight reports the missing permission for the component
// whose Service asks for a smoke test.
func TestSmokeForbiddenProxyIsNotAFailingApp(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML("fares-amber", 2, map[string]string{"app": "fares", "slot": "amber"}, nil)+"---\n"+
		deployYAML("fares-teal", 2, map[string]string{"app": "fares", "slot": "teal"}, nil)+"---\n"+
		serviceYAML("fares", map[string]string{"app": "fares", "slot": "amber"}, map[string]string{"feastflow.dev/color-key": "slot", "feastflow.dev/smoke-path": "/livez"}))
	h.WaitForRollout(ns, "fares-amber")
	h.WaitForRollout(ns, "fares-teal")
	h.WaitForPodsReady(ns, "slot=teal", 2)

	b, err := os.ReadFile(filepath.Join(h.Env.ModuleRoot, "deploy", "rbac", "release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := strings.ReplaceAll(string(b), "namespace: feastflow", "namespace: "+ns)
	role = strings.ReplaceAll(role, "resources: [pods/proxy, services/proxy]", "resources: [services/proxy]")
	role = strings.ReplaceAll(role, "name: feastflow-release\n", "name: no-pod-proxy\n")
	role = strings.ReplaceAll(role, "  - kind: Group\n    apiGroup: rbac.authorization.k8s.io\n    name: feastflow-releasers", "  - kind: ServiceAccount\n    name: ci-deployer\n    namespace: "+ns)
	if !strings.Contains(role, "ci-deployer") || strings.Contains(role, "pods/proxy") {
		t.Fatalf("could not derive the restricted role from deploy/rbac/release.yaml:\n%s", role)
	}
	h.MustKubectl("-n", ns, "create", "serviceaccount", "ci-deployer")
	h.Apply("", role)
	h.MustKubectl("create", "clusterrolebinding", ns+"-ns-reader", "--clusterrole=view", "--serviceaccount="+ns+":ci-deployer")
	as := "--as=system:serviceaccount:" + ns + ":ci-deployer"

	before := rv(h, ns, "svc", "fares")
	r := h.Feastflow("switch", "teal", "fares", "-n", ns, as)
	if r.ExitCode != 1 {
		t.Fatalf("switch --smoke without pods/proxy: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"refused, nothing was changed", "smoke test not allowed: forbidden to get pods/proxy", "says nothing about the app"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "failed on") {
		t.Errorf("a denied proxy was reported as failing pods:\n%s", r.Stderr)
	}
	if rv(h, ns, "svc", "fares") != before {
		t.Errorf("refused switch wrote the service")
	}

	// A canary's promote --smoke under the same identity: refused naming the permission,
	// nothing written (the smoke test of the canary's pods runs before any write).
	h.Apply(ns, deployYAML("fees-stable", 2, map[string]string{"app": "fees", "track": "stable"}, nil)+"---\n"+
		deployYAML("fees-canary", 1, map[string]string{"app": "fees", "track": "canary"}, nil)+"---\n"+
		serviceYAML("fees", map[string]string{"app": "fees"}, nil))
	h.WaitForRollout(ns, "fees-stable")
	h.WaitForRollout(ns, "fees-canary")
	h.WaitForPodsReady(ns, "app=fees", 3)
	stableRV, svcRV := rv(h, ns, "deploy", "fees-stable"), rv(h, ns, "svc", "fees")
	r = h.Feastflow("promote", "fees", "-n", ns, "--smoke", "/livez", "--yes", as)
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "promote fees refused, nothing was changed") || !strings.Contains(r.Stderr, "forbidden to get pods/proxy") || strings.Contains(r.Stderr, "failed on") {
		t.Errorf("promote --smoke without pods/proxy: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if rv(h, ns, "deploy", "fees-stable") != stableRV || rv(h, ns, "svc", "fees") != svcRV {
		t.Errorf("refused promote wrote the stable deployment or the service")
	}

	r = h.Feastflow("preflight", "fares", "-n", ns, as)
	if r.ExitCode != 3 || !regexp.MustCompile(`FAIL\s+traffic-rbac\s+service/fares\s+.*not allowed in namespace \S+: get pods/proxy`).MatchString(r.Stdout) {
		t.Errorf("preflight without pods/proxy: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if r := h.Feastflow("preflight", "fares", "-n", ns); !regexp.MustCompile(`PASS\s+traffic-rbac`).MatchString(r.Stdout) {
		t.Errorf("preflight as admin: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}
