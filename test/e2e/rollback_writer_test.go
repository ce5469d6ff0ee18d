package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestRollbackWaitStopsOnAForeignTemplate: `rollback` of a rolling component waits for the
// template it wrote back (the revision it rolled back to), not for whatever rollout comes last.
// A `kubectl scale` during that wait is followed: exit 0 once the scaled count of the
// rolled-back template is ready and available. A `kubectl set image` during that wait stops
// it: exit 1 naming spec.template and kubectl's field manager, the component not reported as
// rolled back, and nothing else touched — the other writer's template is kept and rolls out,
// the replicas and the Service stay as they were, and the Service never had fewer ready
// endpoints than when the rollback started.
func TestRollbackWaitStopsOnAForeignTemplate(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	const name = "quartz"
	sel := map[string]string{"ledger.example/tier": "quartz"}
	h.Apply(ns, deployYAML(name, 2, sel, map[string]string{"sim.feastflow.dev/ready-delay": "5s"})+"---\n"+
		serviceYAML(name, sel, nil))
	h.WaitForRollout(ns, name)
	// Revision 2, so that a rollback has somewhere to go (revision 1 runs 2.0.1).
	h.MustKubectl("-n", ns, "set", "image", "deploy/"+name, "app=registry.example/quartz:2.1.0")
	h.WaitForRollout(ns, name)

	image := func(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }
	written := func(img string, after int64) func([]*appsv1.Deployment) (bool, error) {
		return func(ds []*appsv1.Deployment) (bool, error) {
			for _, d := range ds {
				if d.Name == name && d.Generation > after && image(d) == img {
					return true, nil
				}
			}
			return false, nil
		}
	}
	generation := func() int64 {
		return h.WaitForRollout(ns, name).Generation
	}

	// A kubectl scale during the wait: followed, and the wait ends on the scaled count.
	gen := generation()
	done := make(chan harness.Result, 1)
	go func() { done <- h.Feastflow("rollback", name, "-n", ns, "--timeout", "3m") }()
	harness.WaitFor(context.Background(), h.Deployments(ns), "the rollback's template (2.0.1) written", written("registry.example/quartz:2.0.1", gen))
	h.MustKubectl("-n", ns, "scale", "deploy/"+name, "--replicas=3")
	r := <-done
	t.Logf("rollback with a concurrent scale:\n%s%s", r.Stdout, r.Stderr)
	if r.ExitCode != 0 {
		t.Fatalf("rollback with a concurrent scale: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"scaled from 2 to 3 replicas", "waiting for 3"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("rollback progress lacks %q:\n%s", want, r.Stderr)
		}
	}
	if !strings.Contains(r.Stdout, "rolled back from revision 2 to revision 1 (registry.example/quartz:2.0.1), all available") {
		t.Errorf("rollback result:\n%s", r.Stdout)
	}
	// The wait ended on the scaled count of the rolled-back template, not on the 2 it wrote.
	st := h.MustKubectl("-n", ns, "get", "deploy/"+name, "-o", `jsonpath={.spec.template.spec.containers[0].image} {.status.updatedReplicas} {.status.readyReplicas} {.status.availableReplicas} {.status.replicas}`)
	if st != "registry.example/quartz:2.0.1 3 3 3 3" {
		t.Errorf("when rollback returned: image, updated, ready, available, replicas = %s; want registry.example/quartz:2.0.1 3 3 3 3", st)
	}

	// A kubectl set image during the wait: stopped, named, nothing else touched.
	gen = generation()
	svcRV := rv(h, ns, "svc", name)
	rec := h.RecordEndpoints(ns, name)
	start := time.Now()
	go func() { done <- h.Feastflow("rollback", name, "-n", ns, "--timeout", "3m") }()
	harness.WaitFor(context.Background(), h.Deployments(ns), "the second rollback's template (2.1.0) written", written("registry.example/quartz:2.1.0", gen))
	h.MustKubectl("-n", ns, "set", "image", "deploy/"+name, "app=registry.example/quartz:9.9.9")
	r = <-done
	t.Logf("rollback with a concurrent set image:\n%s%s", r.Stdout, r.Stderr)
	if r.ExitCode != 1 {
		t.Fatalf("rollback with a concurrent set image: exit %d, want 1\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"deployment/" + name + ": spec.template changed", "registry.example/quartz:9.9.9", `"kubectl-set"`, "stopped", "rolled back to revision 2 (registry.example/quartz:2.1.0) and then changed by someone else", "status " + name} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stopped rollback lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stdout+r.Stderr, "all available") {
		t.Errorf("the component was reported as rolled back:\n%s%s", r.Stdout, r.Stderr)
	}
	d := h.WaitForRollout(ns, name) // the other writer's template rolls out: the plugin did not undo it
	if image(d) != "registry.example/quartz:9.9.9" || *d.Spec.Replicas != 3 {
		t.Errorf("after the stopped rollback: %s with %d replicas, want the other writer's 9.9.9 with 3", image(d), *d.Spec.Replicas)
	}
	if rv(h, ns, "svc", name) != svcRV {
		t.Errorf("the stopped rollback wrote the service")
	}
	if least := rec.MinReadySince(start); least < 3 {
		t.Errorf("the service had %d ready endpoints during the stopped rollback, fewer than the 3 at its start", least)
	}
}
