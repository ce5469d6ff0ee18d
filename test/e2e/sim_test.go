package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// simFailureCase is one failure-simulation convention and the status it must produce.
type simFailureCase struct {
	name   string
	pod    string // manifest, namespace-less
	status string // what kubectl get pods shows in STATUS
	reason func(*corev1.Pod) string
	event  string // an event reason the simulation emits
}

func simWaitingReason(p *corev1.Pod) string {
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "PodInitializing" {
			return cs.State.Waiting.Reason
		}
	}
	return ""
}

func simInitReason(p *corev1.Pod) string {
	for i := range p.Status.InitContainerStatuses {
		cs := &p.Status.InitContainerStatuses[i]
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "PodInitializing" {
			return "Init:" + cs.State.Waiting.Reason
		}
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			return "Init:" + cs.State.Terminated.Reason
		}
	}
	return ""
}

func simPod(name, labels, spec string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  labels: {" + labels + "}\nspec:\n" + spec
}

var simFailureCases = []simFailureCase{
	{"crashloop-label", simPod("crashloop-label", "sim.feastflow.dev/state: crashloop", "  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]"),
		"CrashLoopBackOff", simWaitingReason, "BackOff"},
	{"crashloop-image", simPod("crashloop-image", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:crashloop}]"),
		"CrashLoopBackOff", simWaitingReason, "BackOff"},
	{"imagepullbackoff-label", simPod("imagepullbackoff-label", "sim.feastflow.dev/state: imagepullbackoff", "  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]"),
		"ImagePullBackOff", simWaitingReason, "Failed"},
	{"imagepullbackoff-image", simPod("imagepullbackoff-image", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:doesnotexist}]"),
		"ImagePullBackOff", simWaitingReason, "BackOff"},
	{"notfound-image", simPod("notfound-image", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:notfound}]"),
		"ImagePullBackOff", simWaitingReason, "Failed"},
	{"errimagepull-label", simPod("errimagepull-label", "sim.feastflow.dev/state: errimagepull", "  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]"),
		"ErrImagePull", simWaitingReason, "Failed"},
	{"init-fail-image", simPod("init-fail-image", "", "  initContainers: [{name: db-migrations, image: ghcr.io/feastflow/backend:initfail}]\n  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]"),
		"Init:CrashLoopBackOff", simInitReason, "BackOff"},
	{"init-fail-never", simPod("init-fail-never", "sim.feastflow.dev/state: init-fail", "  restartPolicy: Never\n  initContainers: [{name: db-migrations, image: ghcr.io/feastflow/backend:1.4.0}]\n  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]"),
		"Init:Error", simInitReason, ""}, // a pod that never restarts has no back-off
	{"configerror-label", simPod("configerror-label", "sim.feastflow.dev/state: createcontainerconfigerror", "  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0, envFrom: [{configMapRef: {name: feastflow-config}}]}]"),
		"CreateContainerConfigError", simWaitingReason, "Failed"},
	{"configerror-image", simPod("configerror-image", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:configerror}]"),
		"CreateContainerConfigError", simWaitingReason, "Failed"},
	{"errimagepull-image", simPod("errimagepull-image", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:errimagepull}]"),
		"ErrImagePull", simWaitingReason, "Failed"},
}

func TestSimFailureStates(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	for _, c := range simFailureCases {
		h.Apply(ns, c.pod)
	}
	for _, c := range simFailureCases {
		t.Run(c.name, func(t *testing.T) {
			h := harness.For(t)
			p := h.WaitForPod(ns, c.name, "in "+c.status, func(p *corev1.Pod) bool { return c.reason(p) == c.status })
			if harness.PodReady(p) {
				t.Errorf("pod in %s is Ready", c.status)
			}
			if c.event == "" {
				return
			}
			harness.WaitFor(context.Background(), h.Events(ns, c.name), c.event+" event for "+c.name, func(evs []*corev1.Event) (bool, error) {
				for _, e := range evs {
					if e.Reason == c.event {
						return true, nil
					}
				}
				return false, nil
			})
			out := h.MustKubectl("get", "pod", c.name, "-n", ns, "--no-headers")
			if !strings.Contains(out, c.status) {
				t.Errorf("kubectl get pod shows %q, want status %s", out, c.status)
			}
		})
	}

	t.Run("details", func(t *testing.T) {
		h := harness.For(t)
		crash := h.WaitForPod(ns, "crashloop-label", "crashed", func(p *corev1.Pod) bool { return simWaitingReason(p) == "CrashLoopBackOff" })
		cs := crash.Status.ContainerStatuses[0]
		if cs.RestartCount == 0 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
			t.Errorf("crashloop container status lacks restarts or last exit code 1: %+v", cs)
		}
		if prev := h.MustKubectl("logs", "crashloop-label", "-n", ns, "--previous"); !strings.Contains(prev, "panic") {
			t.Errorf("kubectl logs --previous = %q, want a crash log", prev)
		}
		if prev := h.MustKubectl("logs", "init-fail-image", "-c", "db-migrations", "-n", ns, "--previous"); !strings.Contains(prev, "migration") {
			t.Errorf("init container previous logs = %q, want the migration error", prev)
		}
		cfg := h.WaitForPod(ns, "configerror-label", "config error", func(p *corev1.Pod) bool { return simWaitingReason(p) != "" })
		if msg := cfg.Status.ContainerStatuses[0].State.Waiting.Message; msg != `configmap "feastflow-config" not found` {
			t.Errorf("config error message = %q", msg)
		}
		pull := h.WaitForPod(ns, "imagepullbackoff-image", "pull error", func(p *corev1.Pod) bool { return simWaitingReason(p) != "" })
		if msg := pull.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "backend:doesnotexist") {
			t.Errorf("image pull message = %q", msg)
		}
		initPod := h.WaitForPod(ns, "init-fail-image", "init failed", func(p *corev1.Pod) bool { return simInitReason(p) != "" })
		if app := initPod.Status.ContainerStatuses[0]; app.State.Waiting == nil || app.State.Waiting.Reason != "PodInitializing" {
			t.Errorf("app container started although its init container failed: %+v", app.State)
		}
	})

	t.Run("label a running pod", func(t *testing.T) {
		h := harness.For(t)
		h.Apply(ns, simPod("healthy", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]"))
		h.WaitForPod(ns, "healthy", "Ready", harness.PodReady)
		h.MustKubectl("label", "pod", "healthy", "-n", ns, "sim.feastflow.dev/state=crashloop")
		h.WaitForPod(ns, "healthy", "crash-looping", func(p *corev1.Pod) bool { return simWaitingReason(p) == "CrashLoopBackOff" })
	})
}

func TestSimReadyDelay(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: slow\n  annotations: {sim.feastflow.dev/ready-delay: 3s}\nspec:\n  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]\n")
	p := h.WaitForPod(ns, "slow", "Ready", harness.PodReady)
	// Judge by the pod's own timestamps, not by when this test saw the changes (a loaded
	// machine delays watch events). They have second precision: 3 s can read as 2 s.
	var started, ready time.Time
	for _, c := range p.Status.Conditions {
		switch c.Type {
		case corev1.PodReadyToStartContainers:
			started = c.LastTransitionTime.Time
		case corev1.PodReady:
			ready = c.LastTransitionTime.Time
		}
	}
	if started.IsZero() || ready.Sub(started) < 2*time.Second {
		t.Errorf("containers started at %s, pod Ready at %s: want Ready about 3 s later", started, ready)
	}
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil || !cs[0].State.Running.StartedAt.Time.Equal(started) {
		t.Errorf("container state %+v, want running since %s", cs, started)
	}
}

func TestSimCrashLoopRestarts(t *testing.T) {
	t.Parallel() // waits ~40 s for the simulated restart; overlaps with other tests
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, simPod("crasher", "", "  containers: [{name: app, image: ghcr.io/feastflow/backend:crashloop}]"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	harness.WaitFor(ctx, h.Pods(ns, ""), "restartCount of crasher to grow past 3", func(ps []*corev1.Pod) (bool, error) {
		for _, p := range ps {
			if p.Name == "crasher" && len(p.Status.ContainerStatuses) == 1 {
				cs := p.Status.ContainerStatuses[0]
				return cs.RestartCount > 3 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff", nil
			}
		}
		return false, nil
	})
}
