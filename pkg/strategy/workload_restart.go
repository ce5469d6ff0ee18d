package strategy

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// restartTarget is a StatefulSet or DaemonSet to restart, seen through the Deployment-shaped
// view that the --changed-config comparison reads (name, selector, template).
type restartTarget struct {
	comp  string
	kind  string
	sts   *appsv1.StatefulSet
	ds    *appsv1.DaemonSet
	shape *appsv1.Deployment
}

// RestartWorkloads rollout-restarts the StatefulSets and DaemonSets of the components, as
// `kubectl rollout restart sts/ds` does (the restartedAt pod-template annotation), adding to
// res what Restart did for their Deployments. With ChangedConfig only those whose pods
// started before a change of a ConfigMap or Secret they reference. A StatefulSet with a
// release in progress or paused (its partition holds pods back) is skipped with the reason.
func RestartWorkloads(ctx context.Context, env *Env, components []*Component, opts RestartOptions, res *RestartResult) error {
	var targets []restartTarget
	for _, c := range components {
		for _, s := range c.StatefulSets {
			targets = append(targets, restartTarget{comp: c.Name(), kind: kindStatefulSet, sts: s, shape: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: workloadRef(kindStatefulSet, s.Name), Namespace: s.Namespace}, Spec: appsv1.DeploymentSpec{Selector: s.Spec.Selector, Template: s.Spec.Template}}})
		}
		for _, d := range c.DaemonSets {
			targets = append(targets, restartTarget{comp: c.Name(), kind: kindDaemonSet, ds: d, shape: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: workloadRef(kindDaemonSet, d.Name), Namespace: d.Namespace}, Spec: appsv1.DeploymentSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}})
		}
		if res.Namespace == "" {
			res.Namespace = c.Namespace()
		}
	}
	if len(targets) == 0 {
		return nil
	}
	var stale map[string][]ConfigChange
	if opts.ChangedConfig {
		shapes := make([]*appsv1.Deployment, len(targets))
		for i, t := range targets {
			shapes[i] = t.shape
		}
		var err error
		if stale, err = staleConfig(ctx, env, res.Namespace, shapes); err != nil {
			return err
		}
	}
	comps := map[string]*Component{}
	for _, c := range components {
		comps[c.Name()] = c
	}
	var errs []string
	checked := false
	now := env.now().UTC().Format(time.RFC3339)
	for _, t := range targets {
		rd := RestartDeployment{Component: t.comp, Deployment: t.shape.Name}
		why := "rollout restart"
		switch {
		case opts.ChangedConfig && len(stale[t.shape.Name]) == 0:
			rd.Reason = "its pods started after the last change of every ConfigMap and Secret it references"
			res.Skipped = append(res.Skipped, rd)
			continue
		case opts.ChangedConfig && restartedSince(t.shape, stale[t.shape.Name]):
			rd.Reason = "already restarted after the change (" + t.shape.Spec.Template.Annotations[RestartedAtAnnotation] + ")"
			res.Skipped = append(res.Skipped, rd)
			continue
		case t.sts != nil && stateFor(comps[t.comp], kindStatefulSet, t.sts.Name, t.sts.UID) != nil:
			rd.Reason = "a release or pause is recorded on service/" + t.comp + ": finish it (promote, abort or resume) first"
			res.Skipped = append(res.Skipped, rd)
			errs = append(errs, fmt.Sprintf("%s: %s", t.shape.Name, rd.Reason))
			continue
		case t.ds != nil && t.ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType:
			rd.Reason = "updateStrategy OnDelete (paused?): a restart would replace no pod; resume first"
			res.Skipped = append(res.Skipped, rd)
			errs = append(errs, fmt.Sprintf("%s: %s", t.shape.Name, rd.Reason))
			continue
		}
		if len(stale[t.shape.Name]) > 0 {
			rd.Because = stale[t.shape.Name]
			why = "changed " + changesText(rd.Because)
		}
		if !checked {
			if _, err := CheckWindow(ctx, env, res.Namespace); err != nil {
				return err
			}
			checked = true
		}
		op := env.Writer.Operation("restart", "", now)
		if opts.ChangedConfig {
			op.Reason = joinSentences(op.Reason, why)
		}
		ops := []jsonOp{{"op": "add", "path": "/spec/template/metadata/annotations", "value": withRestartedAt(t.shape.Spec.Template.Annotations, now)}}
		env.report("restarting %s (%s)", t.shape.Name, why)
		var err error
		if t.sts != nil {
			err = patchStatefulSet(ctx, env, t.sts, ops, nil, op, "Restarted")
		} else {
			err = patchDaemonSet(ctx, env, t.ds, ops, nil, op, "Restarted")
		}
		if err != nil {
			errs = append(errs, err.Error())
			rd.Reason = err.Error()
			res.Skipped = append(res.Skipped, rd)
			continue
		}
		res.Restarted = append(res.Restarted, rd)
		res.Changes = append(res.Changes, Change{Object: t.shape.Name, Field: "spec.template.metadata.annotations." + RestartedAtAnnotation, To: now})
		res.Changed = true
		if opts.Wait && env.Writer.Live() {
			if err := waitRestarted(ctx, env, comps[t.comp], t, opts.Timeout); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	names := make([]string, 0, len(res.Restarted))
	for _, rd := range res.Restarted {
		n := rd.Deployment
		if !strings.Contains(n, "/") {
			n = "deployment/" + n
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		res.Message = "nothing to restart"
		if opts.ChangedConfig {
			res.Message = "no workload runs pods older than its configuration: nothing to restart"
		}
	} else {
		res.Message = "restarted " + strings.Join(names, ", ")
		if !env.Writer.Live() {
			res.Message = fmt.Sprintf("dry run (%s): would have %s", env.Writer.DryRun, res.Message)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func withRestartedAt(ann map[string]string, now string) map[string]string {
	out := map[string]string{RestartedAtAnnotation: now}
	for k, v := range ann {
		if k != RestartedAtAnnotation {
			out[k] = v
		}
	}
	return out
}

func waitRestarted(ctx context.Context, env *Env, c *Component, t restartTarget, timeout time.Duration) error {
	if t.ds != nil {
		return waitDaemonSet(ctx, env, c, t.ds, timeout, "restart")
	}
	r := &stsRelease{env: env, c: c, s: t.sts}
	return r.waitUpdated(ctx, 0, timeout, "restart")
}
