package strategy

import (
	"context"
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
	rep, err := smokeTemplate(ctx, env, c, smoke, res.Deployment, int(res.Replicas))
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
// outcome as progress.
func smokeTemplate(ctx context.Context, env *Env, c *Component, smoke *traffic.Smoke, deployment string, want int) (*traffic.SmokeReport, error) {
	rep, err := smoke.PodsSettled(ctx, c.Service, templatePods(env, c.Namespace(), deployment), want)
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
	if _, err := smokeTemplate(ctx, env, c, smoke, c.Canary.Name, int(desiredReplicas(c.Canary))); err != nil {
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
	if _, err := smokeTemplate(ctx, env, c, smoke, c.Stable.Name, int(want)); err != nil {
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
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("deployment %s/%s selector: %w", ns, name, err)
		}
		req, err := labels.NewRequirement(appsv1.DefaultDeploymentUniqueLabelKey, "=", []string{hash})
		if err != nil {
			return nil, err
		}
		list, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.Add(*req).String()})
		if err != nil {
			return nil, fmt.Errorf("list pods of deployment %s/%s: %w", ns, name, err)
		}
		return list.Items, nil
	}
}
