package strategy

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// smokeDeployed runs the smoke test (when one is configured) on the Ready pods of the
// deployed Deployment's new template, through pods/proxy, once the deploy saw them Ready
// and before it reports success. A failure names the pods and says what the deploy
// changed and how to go back; nothing is undone.
func smokeDeployed(ctx context.Context, env *Env, c *Component, smoke *traffic.Smoke, res *DeployResult) error {
	if res == nil || !res.Ready || !env.Writer.Live() || smoke.PathFor(c.Service) == "" {
		return nil
	}
	rep, err := smokeTemplate(ctx, env, c, smoke, res.Deployment, int(res.Replicas), res.waited)
	if rep != nil {
		res.Smoke = append(res.Smoke, *rep)
	}
	if err == nil {
		return nil
	}
	res.Ready = false
	left := fmt.Sprintf("nothing was changed by this deploy: deployment/%s already ran %s", res.Deployment, imagesText(res.Images))
	if r := releaserFor(c); r != nil && res.Changed {
		left = r.smokeLeft(c, res)
	}
	res.Message = "deploy done, but the smoke test failed: " + left
	return fmt.Errorf("%w; %s", err, left)
}

// smokeTemplate smoke-tests the Ready pods of a Deployment's current template through
// pods/proxy (PodsSettled: pods that change during the test fail it) and reports the
// outcome as progress. waited, when a wait just ended on the template, names its pods
// without a lookup (see waitedTemplate); nil looks the template up before each pod LIST.
func smokeTemplate(ctx context.Context, env *Env, c *Component, smoke *traffic.Smoke, deployment string, want int, waited *waitedTemplate) (*traffic.SmokeReport, error) {
	list := templatePods(env, c.Namespace(), deployment)
	if waited != nil {
		list = waited.pods(env)
	}
	rep, err := smoke.PodsSettled(ctx, c.Service, list, want)
	if waited != nil && rep != nil {
		err = waited.stillCurrent(ctx, env, rep, err)
	}
	if rep != nil {
		env.report("%s: deployment/%s: %s", c.Name(), deployment, rep.Describe())
	}
	return rep, err
}

// smokeCanaryBeforePromote tests the canary's pods before promote writes anything: a
// canary failing its smoke test is not rolled into stable.
func smokeCanaryBeforePromote(ctx context.Context, env *Env, c *Component, smoke *traffic.Smoke) error {
	if !env.Writer.Live() || smoke.PathFor(c.Service) == "" || desiredReplicas(c.Canary) == 0 {
		return nil
	}
	if _, err := smokeTemplate(ctx, env, c, smoke, c.Canary.Name, int(desiredReplicas(c.Canary)), nil); err != nil {
		return fmt.Errorf("promote %s refused, nothing was changed: %w", c.Name(), err)
	}
	return nil
}

// smokeStableBeforeRetire tests the stable track's new pods once they are Ready and before
// the canary is retired: on a failure the canary keeps serving beside them.
func smokeStableBeforeRetire(ctx context.Context, env *Env, c *Component, smoke *traffic.Smoke, want int32, done string) error {
	if smoke.PathFor(c.Service) == "" {
		return nil
	}
	if _, err := smokeTemplate(ctx, env, c, smoke, c.Stable.Name, int(want), nil); err != nil {
		return fmt.Errorf("%w; %s; deployment/%s was not retired: `kubectl rollout undo deployment/%s` returns stable to its previous template, or fix and re-run promote", err, done, c.Canary.Name, c.Stable.Name)
	}
	return nil
}

// templatePods lists the pods of a Deployment's current template (the pod-template-hash of
// its new ReplicaSet), re-reading the Deployment each time: a template changed by someone
// else between two calls shows as a changed set of pods.
func templatePods(env *Env, ns, name string) traffic.PodLister {
	return func(ctx context.Context) ([]corev1.Pod, error) {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get deployment %s/%s: %w", ns, name, err)
		}
		hash, err := newReplicaSetHash(ctx, env.Client, d)
		if err != nil {
			return nil, err
		}
		if hash == "" {
			return nil, fmt.Errorf("deployment %s/%s has no ReplicaSet for its current template (changed by someone else?)", ns, name)
		}
		return listHashPods(ctx, env, d, hash)
	}
}

// waitedTemplate is the template a deploy's wait ended on: the Deployment as the wait last
// saw it and the pod-template-hash of the pods it counted. The smoke test lists those pods
// by that hash (no GET of the Deployment and no LIST of its ReplicaSets before each pod
// LIST) and, after the test, reads the Deployment once to see that its template is still
// that one: a template changed by someone else after the wait would otherwise leave the
// old pods Ready and tested, and the test would pass on pods that are being replaced.
type waitedTemplate struct {
	deployment *appsv1.Deployment
	hash       string
}

// pods lists the Ready-or-not pods of the waited template.
func (w *waitedTemplate) pods(env *Env) traffic.PodLister {
	return func(ctx context.Context) ([]corev1.Pod, error) {
		return listHashPods(ctx, env, w.deployment, w.hash)
	}
}

// stillCurrent re-reads the Deployment after the smoke test: when someone changed its pod
// template (or re-created it) since the wait, the test was of pods that are no longer its
// template and does not pass, naming the change and its field manager. A scale is no
// template change (PodsSettled already saw any pod it added or removed). A denied proxy
// is reported as it is.
func (w *waitedTemplate) stillCurrent(ctx context.Context, env *Env, rep *traffic.SmokeReport, err error) error {
	var denied *traffic.AccessError
	if errors.As(err, &denied) {
		return err
	}
	d := w.deployment
	now, gerr := env.Client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if gerr != nil {
		if err != nil {
			return err
		}
		return fmt.Errorf("re-read deployment %s/%s after the smoke test: %w", d.Namespace, d.Name, gerr)
	}
	var foreign *ForeignChangeError
	if !errors.As(checkUnchanged(d, now, desiredReplicas(now)), &foreign) {
		return err
	}
	change := fmt.Sprintf("%s %s changed to %s", foreign.Object, foreign.Field, foreign.To)
	if foreign.Manager != "" {
		change += " by " + foreign.Manager
	}
	rep.Passed = false
	rep.Changed = append(rep.Changed, change+": the pods tested (template "+w.hash+") are not its template")
	return &traffic.SmokeError{Report: *rep}
}

// listHashPods lists a Deployment's pods of one pod-template-hash.
func listHashPods(ctx context.Context, env *Env, d *appsv1.Deployment, hash string) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	req, err := labels.NewRequirement(appsv1.DefaultDeploymentUniqueLabelKey, "=", []string{hash})
	if err != nil {
		return nil, err
	}
	list, err := env.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.Add(*req).String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return list.Items, nil
}
