package e2e

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestRestartWaitStopsOnAForeignTemplate: `restart --wait` waits for the template it restarted.
// Someone runs `kubectl set image` on the Deployment during the wait: restart stops with exit 1
// naming spec.template and kubectl's field manager, instead of reporting the other rollout as
// its own. A `kubectl scale` during the wait is followed, not refused.
func TestRestartWaitStopsOnAForeignTemplate(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, deployYAML("tally", 2, map[string]string{"app": "tally"}, map[string]string{"sim.feastflow.dev/ready-delay": "5s"})+"---\n"+
		serviceYAML("tally", map[string]string{"app": "tally"}, nil))
	h.WaitForRollout(ns, "tally")

	restarted := func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name == "tally" && d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
				return true, nil
			}
		}
		return false, nil
	}

	// A kubectl scale during the wait: followed.
	done := make(chan harness.Result, 1)
	go func() { done <- h.Feastflow("restart", "tally", "-n", ns, "--wait", "--timeout", "3m") }()
	harness.WaitFor(context.Background(), h.Deployments(ns), "the restart's template written", restarted)
	h.MustKubectl("-n", ns, "scale", "deploy/tally", "--replicas=3")
	if r := <-done; r.ExitCode != 0 {
		t.Fatalf("restart --wait with a concurrent scale: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}

	// A kubectl set image during the wait: stopped, named.
	before := h.MustKubectl("-n", ns, "get", "deploy/tally", "-o", `jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`)
	go func() { done <- h.Feastflow("restart", "tally", "-n", ns, "--wait", "--timeout", "3m") }()
	harness.WaitFor(context.Background(), h.Deployments(ns), "the second restart's template written", func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name == "tally" {
				return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != before, nil
			}
		}
		return false, nil
	})
	h.MustKubectl("-n", ns, "set", "image", "deploy/tally", "app=registry.example/tally:9.9.9")
	r := <-done
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "spec.template") || !strings.Contains(r.Stderr, "kubectl-set") || !strings.Contains(r.Stderr, "stopped") {
		t.Errorf("restart --wait with a concurrent set image: exit %d, want 1 naming spec.template and kubectl-set\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// TestCanaryDeployWaitStopsOnAForeignTemplate: a canary deploy (canary already serving) waits
// for the template it wrote; someone's `kubectl set image` on the canary during that wait stops
// it with exit 1 naming spec.template and kubectl's field manager.
func TestCanaryDeployWaitStopsOnAForeignTemplate(t *testing.T) {
	h := harness.For(t)
	ns := canarySetup(t, h, "quill", nil, map[string]string{"sim.feastflow.dev/ready-delay": "5s"})
	done := make(chan harness.Result, 1)
	go func() {
		done <- h.Feastflow("deploy", "quill", "-n", ns, "--image", "registry.example/quill:3.0.0", "--timeout", "3m")
	}()
	harness.WaitFor(context.Background(), h.Deployments(ns), "the canary's new template written", func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name == "quill-canary" && d.Spec.Template.Spec.Containers[0].Image == "registry.example/quill:3.0.0" {
				return true, nil
			}
		}
		return false, nil
	})
	h.MustKubectl("-n", ns, "set", "image", "deploy/quill-canary", "app=registry.example/quill:9.9.9")
	r := <-done
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "spec.template") || !strings.Contains(r.Stderr, "kubectl-set") {
		t.Errorf("canary deploy with a concurrent set image: exit %d, want 1 naming spec.template and kubectl-set\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}
