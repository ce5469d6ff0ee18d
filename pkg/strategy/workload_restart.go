package strategy

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// restartable is one kind of workload Restart restarts (kubectl's polymorphichelpers shape:
// one restarter per kind): a Deployment, a StatefulSet or a DaemonSet.
type restartable interface {
	// ref is "kind/name".
	ref() string
	// blocked says why it cannot be restarted now (the reason in the result and the
	// error's message), "" when it can.
	blocked(c *Component) (reason, msg string)
	// restart writes the restartedAt pod-template annotation and the operation record.
	restart(ctx context.Context, env *Env, now string, op audit.Operation) error
	// wait waits for the restart's rollout, failing fast.
	wait(ctx context.Context, env *Env, c *Component, timeout time.Duration) error
}

// restartTarget is a workload to restart: its component, its restartable, and shape, the
// Deployment-shaped view (name, replicas, selector, template) that the --changed-config
// comparison reads; because is what changed.
type restartTarget struct {
	comp    *Component
	w       restartable
	shape   *appsv1.Deployment
	because []ConfigChange
}

// restartTargets are a component's Deployments, StatefulSets and DaemonSets.
func restartTargets(c *Component) []restartTarget {
	var out []restartTarget
	for _, d := range c.Deployments {
		out = append(out, restartTarget{comp: c, w: deploymentRestart{d}, shape: d})
	}
	for _, s := range c.StatefulSets {
		out = append(out, restartTarget{comp: c, w: stsRestart{s}, shape: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: workloadRef(kindStatefulSet, s.Name), Namespace: s.Namespace}, Spec: appsv1.DeploymentSpec{Replicas: s.Spec.Replicas, Selector: s.Spec.Selector, Template: s.Spec.Template}}})
	}
	for _, d := range c.DaemonSets {
		out = append(out, restartTarget{comp: c, w: dsRestart{d}, shape: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: workloadRef(kindDaemonSet, d.Name), Namespace: d.Namespace}, Spec: appsv1.DeploymentSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}})
	}
	return out
}

type deploymentRestart struct{ d *appsv1.Deployment }

func (r deploymentRestart) ref() string { return "deployment/" + r.d.Name }

func (r deploymentRestart) blocked(c *Component) (string, string) {
	if !r.d.Spec.Paused {
		return "", ""
	}
	return "can't restart paused deployment (run kubectl feastflow resume first)",
		fmt.Sprintf("deployment %s/%s is paused: can't restart paused deployment (run kubectl feastflow resume %s first)", r.d.Namespace, r.d.Name, c.Name())
}

func (r deploymentRestart) restart(ctx context.Context, env *Env, now string, op audit.Operation) error {
	body := audit.AnnotationPatch(op, nil)
	body["spec"] = map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{RestartedAtAnnotation: now}}}}
	return writeDeployment(ctx, env, r.d, types.StrategicMergePatchType, body, "Restarted", op)
}

func (r deploymentRestart) wait(ctx context.Context, env *Env, _ *Component, timeout time.Duration) error {
	// The template as restarted is what the wait waits for: a kubectl scale meanwhile is
	// followed, a template changed by someone else stops the wait naming the change.
	_, err := WaitForDeployment(ctx, env, r.d.Namespace, r.d.Name, WaitOptions{Timeout: timeout, MinGeneration: r.d.Generation, Expect: r.d.DeepCopy(), TemplateOnly: true})
	return err
}

type stsRestart struct{ s *appsv1.StatefulSet }

func (r stsRestart) ref() string { return workloadRef(kindStatefulSet, r.s.Name) }

// A StatefulSet with a release in progress or paused (its partition holds pods back) is
// not restarted.
func (r stsRestart) blocked(c *Component) (string, string) {
	if stateFor(c, kindStatefulSet, r.s.Name, r.s.UID) == nil {
		return "", ""
	}
	reason := "a release or pause is recorded on service/" + c.Name() + ": finish it (promote, abort or resume) first"
	return reason, r.ref() + ": " + reason
}

func (r stsRestart) restart(ctx context.Context, env *Env, now string, op audit.Operation) error {
	return patchStatefulSet(ctx, env, r.s, restartOps(&r.s.Spec.Template, now), nil, op, "Restarted")
}

func (r stsRestart) wait(ctx context.Context, env *Env, c *Component, timeout time.Duration) error {
	return (&stsRelease{env: env, c: c, s: r.s}).waitUpdated(ctx, 0, timeout, "restart")
}

type dsRestart struct{ d *appsv1.DaemonSet }

func (r dsRestart) ref() string { return workloadRef(kindDaemonSet, r.d.Name) }

func (r dsRestart) blocked(*Component) (string, string) {
	if r.d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		return "", ""
	}
	reason := "updateStrategy OnDelete (paused?): a restart would replace no pod; resume first"
	return reason, r.ref() + ": " + reason
}

func (r dsRestart) restart(ctx context.Context, env *Env, now string, op audit.Operation) error {
	return patchDaemonSet(ctx, env, r.d, restartOps(&r.d.Spec.Template, now), nil, op, "Restarted")
}

func (r dsRestart) wait(ctx context.Context, env *Env, c *Component, timeout time.Duration) error {
	return waitDaemonSet(ctx, env, c, r.d, timeout, "restart")
}

// restartOps set the restartedAt annotation in a StatefulSet's or DaemonSet's pod template
// (in the JSON patch that tests the generation).
func restartOps(tpl *corev1.PodTemplateSpec, now string) []jsonOp {
	out := map[string]string{RestartedAtAnnotation: now}
	for k, v := range tpl.Annotations {
		if k != RestartedAtAnnotation {
			out[k] = v
		}
	}
	return []jsonOp{{"op": "add", "path": "/spec/template/metadata/annotations", "value": out}}
}
