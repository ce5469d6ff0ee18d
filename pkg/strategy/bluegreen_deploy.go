package strategy

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// deploy updates the idle color's images, scales it to the live color's replicas
// and waits until it is fully available. The Service is not touched: no traffic moves.
func (blueGreen) deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	color, target, err := idleColor(c, opts.Color)
	if err != nil {
		return nil, err
	}
	d := target.DeepCopy()
	changes, err := SetImages(d.Name, &d.Spec.Template, opts.Images)
	if err != nil {
		return nil, err
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	replicas := desiredReplicas(c.Colors[c.LiveColor])
	if opts.Replicas != nil {
		replicas = *opts.Replicas
	}
	if replicas < 1 {
		replicas = 1 // a blue-green color to switch to must serve
	}
	oldReplicas := desiredReplicas(target)
	res := &DeployResult{
		Result:     newResult("DeployResult", c, "deploy", env),
		Deployment: d.Name, Color: color, Images: TemplateImages(&d.Spec.Template), Replicas: replicas,
	}
	obj := "deployment/" + d.Name

	// The plan: record the release before acting (this color is pending: deployed, not
	// switched to; the deploy is the operation in progress), patch the color, wait for it,
	// record it deployed.
	rec, err := c.Release()
	if err != nil {
		return nil, err
	}
	if op := rec.Operation; op != nil && op.Verb != "deploy" {
		return nil, operationInProgressError(c, rec)
	}
	next := rec.clone()
	next.Strategy, next.Phase, next.Pending = BlueGreen, PhaseDeployed, color
	if next.Live == "" {
		next.Live = c.LiveColor
	}
	if next.Previous == color {
		next.Previous = "" // its release is replaced: rollback can no longer return to it
	}
	next.MigratedFrom = nil
	started := next.begin(env, "deploy", "", color)
	recorded := rec.Phase == PhaseDeployed && rec.Pending == color && rec.Operation == nil
	patching := len(changes) > 0 || oldReplicas != replicas
	began := !recorded || patching
	p := newPlan(c, fmt.Sprintf("fix and re-run the deploy, or `kubectl feastflow abort %s`", c.Name()))
	if began {
		st := p.record(env, next, env.Writer.Operation("deploy", "", color), "", nil)
		st.From, st.To, st.listed = describeRelease(rec), describeRelease(&Release{Phase: PhaseDeployed, Live: next.Live, Previous: next.Previous, Pending: color}), true
	}
	written := target
	minGen := target.Generation
	var fields []Step
	for _, ch := range changes {
		fields = append(fields, Step{Field: imageField(ch), From: ch.From, To: ch.To})
	}
	if oldReplicas != replicas {
		fields = append(fields, Step{Field: "spec.replicas", From: fmt.Sprint(oldReplicas), To: fmt.Sprint(replicas)})
	}
	for i := range fields {
		st := fields[i]
		st.Action, st.Object, st.listed, st.samePatch = StepWrite, obj, true, i > 0
		if i > 0 {
			st.Detail = "in the same patch as the step before"
			p.add(st)
			continue
		}
		st.Precondition, st.dry = "resourceVersion "+target.ResourceVersion, true
		st.do = func(ctx context.Context) (*Change, error) {
			op := env.Writer.Operation("deploy", imagesText(TemplateImages(&target.Spec.Template)), imagesText(res.Images))
			patch := deepMerge(map[string]any{
				"metadata": map[string]any{"resourceVersion": target.ResourceVersion},
				"spec": map[string]any{
					"replicas": replicas,
					"template": map[string]any{"spec": imagesPatch(&d.Spec.Template, changes)},
				},
			}, audit.AnnotationPatch(op, nil))
			patched, err := env.patchDeployment(ctx, target, types.StrategicMergePatchType, patch)
			if err != nil {
				return nil, err
			}
			if patched != nil {
				minGen, written = patched.Generation, patched
				env.warn(env.Writer.Event(ctx, env.Client, audit.Ref("Deployment", "apps/v1", patched), corev1.EventTypeNormal, "Deployed", op))
			}
			env.report("deployment %s: %s, %d replicas (color %s, no traffic moved)", d.Name, imagesText(res.Images), replicas, color)
			return &Change{Object: obj, Field: fields[0].Field, From: fields[0].From, To: fields[0].To}, nil
		}
		p.add(st)
	}
	if !patching {
		env.report("deployment %s already runs %s with %d replicas", d.Name, imagesText(res.Images), replicas)
	}
	var final *appsv1.Deployment
	var w *rolloutWait
	p.wait(obj, fmt.Sprintf("%d ready and available pods of its new template (fail-fast on pods that cannot start)", replicas), func(ctx context.Context) error {
		var expect *appsv1.Deployment
		if written != target {
			expect = written
		}
		var err error
		final, w, err = waitDeployment(ctx, env, c.Namespace(), d.Name, WaitOptions{Timeout: opts.Timeout, MinGeneration: minGen, Expect: expect})
		return err
	})
	if began {
		p.add(Step{Action: StepFinish, Object: "service/" + c.Name(), Field: "metadata.annotations." + ReleaseAnnotation, To: "deployed: " + color + " pending, with its identity and pod-template-hash",
			Precondition: "resourceVersion as this run last wrote it (re-read and written again while the record still holds this operation)",
			do: func(ctx context.Context) (*Change, error) {
				done := next.clone()
				done.Operation = nil
				done.recordWorkload(env, color, written, w.hash)
				seeAutoscalers(ctx, env, c, done)
				return nil, finishRelease(ctx, env, c, done, started)
			}})
	}
	err = env.apply(ctx, &res.Result, p)
	switch {
	case err == nil && !env.Writer.Live():
		res.Message = fmt.Sprintf("dry run (%s): would deploy %s to %s (%s) with %d replicas; no traffic moved", env.Writer.DryRun, imagesText(res.Images), color, d.Name, replicas)
		return res, nil
	case err != nil && (p.failed == StepRecord || p.failed == StepWrite):
		return nil, err
	case err != nil && p.failed == StepFinish:
		return res, err
	case err != nil:
		res.Failure = failureOf(err)
		done := next.clone()
		done.Operation = nil
		if opts.AutoRollback && patching {
			if uerr := env.undoDeploy(ctx, target, changes, oldReplicas); uerr != nil {
				return res, fmt.Errorf("%w; auto-rollback failed too: %v", err, uerr)
			}
			done = rec.clone()
			done.Operation = nil
			if began {
				env.warn(finishRelease(ctx, env, c, done, started))
			}
			res.RolledBack = true
			res.Message = fmt.Sprintf("deploy to %s failed and was rolled back to %s, %d replicas", color, imagesText(TemplateImages(&target.Spec.Template)), oldReplicas)
			return res, fmt.Errorf("%w; rolled back deployment %s to %s with %d replicas", err, d.Name, imagesText(TemplateImages(&target.Spec.Template)), oldReplicas)
		}
		if began {
			env.warn(finishRelease(ctx, env, c, done, started))
		}
		if patching {
			return res, fmt.Errorf("%w; deployment %s was updated and left as it is (no traffic moved): fix and re-run, or `kubectl feastflow abort %s` to scale it to 0", err, d.Name, c.Name())
		}
		return res, err
	}
	res.Ready = true
	res.waited = w.endedOn(final)
	res.Message = fmt.Sprintf("%s (%s) runs %s with %d replicas, all available; live color is still %s: run `kubectl feastflow switch %s %s` to move traffic", color, d.Name, imagesText(res.Images), replicas, c.LiveColor, color, c.Name())
	return res, nil
}

// idleColor picks the color deploy acts on: the given one (which must not be live), or
// the only idle color.
func idleColor(c *Component, want string) (string, *appsv1.Deployment, error) {
	if want != "" {
		if want == c.LiveColor {
			return "", nil, fmt.Errorf("color %s of %s is live: deploy to an idle color (%s)", want, c.Name(), orNoneList(c.IdleColors()))
		}
		d, ok := c.Colors[want]
		if !ok {
			return "", nil, fmt.Errorf("unknown color %q for %s: no deployment with %s=%s (colors: %s)", want, c.Name(), c.ColorKey, want, orNoneList(c.ColorNames()))
		}
		return want, d, nil
	}
	idle := c.IdleColors()
	switch len(idle) {
	case 1:
		return idle[0], c.Colors[idle[0]], nil
	case 0:
		return "", nil, fmt.Errorf("component %s has no idle color: its only color is %s; create a deployment %s-green whose pod template has %s=green (a copy of %s)", c.Name(), orNoneList(c.ColorNames()), c.Name(), c.ColorKey, c.LiveColor)
	}
	return "", nil, fmt.Errorf("component %s has %d idle colors (%s): pick one with --color", c.Name(), len(idle), strings.Join(idle, ", "))
}

// undoDeploy restores the images and replicas a failed blue-green deploy changed.
func (e *Env) undoDeploy(ctx context.Context, before *appsv1.Deployment, changes []ImageChange, replicas int32) error {
	undo := make([]ImageChange, len(changes))
	for i, ch := range changes {
		undo[i] = ImageChange{Container: ch.Container, Init: ch.Init, From: ch.To, To: ch.From}
	}
	op := e.Writer.Operation("deploy-rollback", "", imagesText(TemplateImages(&before.Spec.Template)))
	patch := deepMerge(map[string]any{
		"spec": map[string]any{
			"replicas": replicas,
			"template": map[string]any{"spec": imagesPatch(&before.Spec.Template, undo)},
		},
	}, audit.AnnotationPatch(op, nil))
	out, err := e.patchDeployment(ctx, before, types.StrategicMergePatchType, patch)
	if err != nil {
		return err
	}
	e.report("rolled back deployment %s to %s, %d replicas", before.Name, imagesText(TemplateImages(&before.Spec.Template)), replicas)
	if out != nil {
		e.warn(e.Writer.Event(ctx, e.Client, audit.Ref("Deployment", "apps/v1", out), corev1.EventTypeWarning, "DeployRolledBack", op))
	}
	return nil
}

// seeAutoscalers records in rec which HorizontalPodAutoscalers scale c's colors now (one
// LIST), so that the switch to the release just deployed knows of an HPA someone created
// with kubectl since the last switch (on the live color, it must move it) without a LIST
// of its own. A failed LIST leaves what the record saw: the switch decides as before.
func seeAutoscalers(ctx context.Context, env *Env, c *Component, rec *Release) {
	list, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(c.Namespace()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	rec.Autoscalers = autoscalerSightOf(env, c, list.Items, "", "")
}
