package strategy

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// deploy rolls new images out as a canary: it creates the canary Deployment from
// the stable one's pod template (track label canary, the new images, name
// <component>-canary) or updates the existing one, and brings it to the first step when it
// has no pods, the way canary-step does (canary up, wait Ready, stable down). A canary
// that already has pods keeps its weight and rolls to the new images.
func (canary) deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	if c.Stable == nil {
		return nil, fmt.Errorf("component %s has no stable deployment", c.Name())
	}
	if st, err := readCanaryState(c); err != nil {
		return nil, err
	} else if st.Phase == canaryPhaseStepping {
		return nil, stepInProgressError(c, st)
	}
	steps, err := CanarySteps(c, nil)
	if err != nil {
		return nil, err
	}
	var target *appsv1.Deployment
	created := false
	if c.Canary == nil {
		target, err = newCanaryDeployment(c)
		if err != nil {
			return nil, err
		}
		created = true
	} else {
		target = c.Canary.DeepCopy()
	}
	changes, err := SetImages(target.Name, &target.Spec.Template, opts.Images)
	if err != nil {
		return nil, err
	}
	// A canary without pods goes to the first step: check, before any write, that the
	// replicas can express it and that no HPA would fight it.
	firstStep := c.Canary == nil || desiredReplicas(c.Canary) == 0
	var plan CanaryPlan
	if firstStep {
		if plan, err = planCanary(desiredReplicas(c.Stable), steps[0]); err != nil {
			return nil, fmt.Errorf("component %s: %w", c.Name(), err)
		}
		if err := refuseCanaryHPA(ctx, env, c, plan); err != nil {
			return nil, err
		}
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	res := &DeployResult{Result: newResult("DeployResult", c, "deploy", env), Deployment: target.Name, Images: TemplateImages(&target.Spec.Template)}
	obj := "deployment/" + target.Name
	before := c.Canary
	op := env.Writer.Operation("deploy", "", imagesText(res.Images))
	if before != nil {
		op.From = imagesText(TemplateImages(&before.Spec.Template))
	}
	cause := changeCause("deploy "+c.Name()+" --image "+imagesText(res.Images), op)

	// The plan: a canary without pods goes to the first step (record it, create or patch
	// the canary, canary up, wait Ready, stable down, record the step done); a canary with
	// pods keeps its weight and rolls to the new images (patch, wait, new health baseline).
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow canary-step %s` to complete the first step, or abort", c.Name()))
	var st *canaryState
	if firstStep {
		st = &canaryState{Phase: canaryPhaseStepping, Verb: "deploy", From: 0, Weight: steps[0], Total: plan.Total, Stable: plan.Stable, Canary: plan.Canary}
		if err := p.canaryRecord(env, st, "0%", fmt.Sprintf("%d%%", steps[0]), false); err != nil {
			return nil, err
		}
	}
	var fields []Step
	for _, ch := range changes {
		fields = append(fields, Step{Field: imageField(ch), From: ch.From, To: ch.To})
	}
	switch {
	case created:
		fields = append(fields, Step{Field: "metadata.name", To: target.Name})
		target.Annotations = map[string]string{audit.LastOperationAnnotation: op.Annotation(), ChangeCauseAnnotation: cause}
		c.Canary = target // planned on as it will be created; the create fills it in
		p.add(Step{Action: StepWrite, Object: obj, Field: fields[0].Field, From: fields[0].From, To: fields[0].To, Precondition: "it does not exist (create, from deployment/" + c.Stable.Name + ")", listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				env.report("creating canary deployment/%s from deployment/%s with %s", target.Name, c.Stable.Name, imagesText(res.Images))
				out, err := env.Client.AppsV1().Deployments(c.Namespace()).Create(ctx, target, env.Writer.CreateOptions())
				if err != nil {
					return nil, writeError("create", "deployment", c.Namespace(), target.Name, err)
				}
				if env.Writer.Live() {
					*target = *out
				}
				env.event(ctx, "Deployment", "apps/v1", out, "CanaryCreated", op)
				return &Change{Object: obj, Field: fields[0].Field, From: fields[0].From, To: fields[0].To}, nil
			}})
	case len(changes) > 0:
		cur := c.Canary
		p.add(Step{Action: StepWrite, Object: obj, Field: fields[0].Field, From: fields[0].From, To: fields[0].To, Precondition: "none: a strategic merge patch of the named containers' images; the wait stops when someone else changes the template", listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				patch := deepMerge(map[string]any{
					"metadata": map[string]any{"annotations": map[string]any{ChangeCauseAnnotation: cause}},
					"spec":     map[string]any{"template": map[string]any{"spec": imagesPatch(&target.Spec.Template, changes)}},
				}, audit.AnnotationPatch(op, nil))
				env.report("deployment %s: %s → %s", target.Name, op.From, op.To)
				if err := writeDeployment(ctx, env, cur, types.StrategicMergePatchType, patch, "Deployed", op); err != nil {
					return nil, err
				}
				if !env.Writer.Live() {
					cur.Spec.Template = target.Spec.Template
				}
				return &Change{Object: obj, Field: fields[0].Field, From: fields[0].From, To: fields[0].To}, nil
			}})
	default:
		env.report("deployment %s already runs %s", target.Name, imagesText(res.Images))
	}
	for i := 1; i < len(fields) && (created || len(changes) > 0); i++ {
		p.add(Step{Action: StepWrite, Object: obj, Field: fields[i].Field, From: fields[i].From, To: fields[i].To, Detail: "in the same write as the step before", listed: true, samePatch: true})
	}
	var final *appsv1.Deployment
	var w *rolloutWait
	if firstStep {
		if plan.Note != "" {
			env.report("%s", plan.Note)
		}
		res.Replicas = plan.Canary
		p.canaryTracks(env, &res.Result, plan, "deploy", opts.Timeout)
		p.canaryDone(env, st, "")
	} else {
		res.Replicas = desiredReplicas(c.Canary)
		p.wait(obj, fmt.Sprintf("its %d pods replaced by ready pods of the new template; a scale is followed, a template changed by someone else stops it", res.Replicas), func(ctx context.Context) error {
			env.report("waiting for canary deployment/%s to roll out", c.Canary.Name)
			var err error
			final, w, err = waitDeployment(ctx, env, c.Namespace(), c.Canary.Name, WaitOptions{Timeout: opts.Timeout, MinGeneration: c.Canary.Generation, Expect: c.Canary.DeepCopy(), TemplateOnly: true})
			return err
		})
		if len(changes) > 0 {
			// New canary pods: the health baseline starts again from them. A re-run that
			// changed nothing writes nothing.
			p.add(Step{Action: StepFinish, Object: "service/" + c.Name(), Field: "metadata.annotations." + ReleaseAnnotation, To: "the health baseline from the new canary pods",
				Precondition: "resourceVersion as read (re-read and written again while the record still holds this operation)",
				do: func(ctx context.Context) (*Change, error) {
					cur, err := readCanaryState(c)
					if err != nil {
						return nil, err
					}
					return nil, finishCanaryStep(ctx, env, c, cur)
				}})
		}
	}
	err = env.apply(ctx, &res.Result, p)
	switch {
	case err != nil && (p.failed == StepWrite || p.failed == StepWait || p.failed == StepCheck) && res.Changed:
		// The canary was written and did not become ready.
		res.Failure = failureOf(err)
		return res, canaryDeployFailed(ctx, env, c, res, opts, err)
	case err != nil && p.failed == StepRecord:
		return nil, err
	case err != nil:
		return res, err
	case !env.Writer.Live() && firstStep:
		res.Message = fmt.Sprintf("dry run (%s): would deploy %s as canary %s at %d %% (%d canary, %d stable)", env.Writer.DryRun, imagesText(res.Images), target.Name, steps[0], plan.Canary, plan.Stable)
		return res, nil
	case !env.Writer.Live():
		res.Message = fmt.Sprintf("dry run (%s): would deploy %s to canary %s (%d pods, weight kept)", env.Writer.DryRun, imagesText(res.Images), target.Name, res.Replicas)
		return res, nil
	}
	res.Ready = true
	if firstStep {
		res.Message = fmt.Sprintf("canary %s runs %s at %d %% (%d canary, %d stable pods, all ready); next: kubectl feastflow canary-step %s", target.Name, imagesText(res.Images), steps[0], plan.Canary, plan.Stable, c.Name())
		return res, nil
	}
	res.waited = w.endedOn(final)
	res.Message = fmt.Sprintf("canary %s runs %s with %d pods, all ready, at %d %%", target.Name, imagesText(res.Images), res.Replicas, setWeight(c))
	return res, nil
}

// canaryDeployFailed handles a canary that did not become ready: with --auto-rollback the
// canary goes back to 0 pods and the stable track to full capacity (abort); otherwise it
// is left as it is and the error says how to get out.
func canaryDeployFailed(ctx context.Context, env *Env, c *Component, res *DeployResult, opts DeployOptions, err error) error {
	if !opts.AutoRollback {
		return fmt.Errorf("%w; the stable track still has its pods: fix the image and deploy again, or `kubectl feastflow abort %s` to retire the canary", err, c.Name())
	}
	env.report("canary failed: aborting (--auto-rollback)")
	if _, aerr := (canary{}).abort(ctx, env, c, AbortOptions{Timeout: opts.Timeout}); aerr != nil {
		return fmt.Errorf("%w; auto-rollback (abort) failed too: %v", err, aerr)
	}
	res.RolledBack = true
	res.Message = fmt.Sprintf("canary %s failed and was aborted: 0 canary, %d stable pods", c.Canary.Name, desiredReplicas(c.Stable))
	return fmt.Errorf("%w; aborted the canary (--auto-rollback): deployment/%s has 0 pods, deployment/%s %d", err, c.Canary.Name, c.Stable.Name, desiredReplicas(c.Stable))
}

// newCanaryDeployment builds <component>-canary from the stable Deployment: same pod
// template and strategy, the track label set to canary in the template, the selector and
// the Deployment's labels, and 0 replicas (the first step scales it).
func newCanaryDeployment(c *Component) (*appsv1.Deployment, error) {
	s := c.Stable
	key := c.TrackKey
	if key == "" {
		key = DefaultTrackKey
	}
	if s.Spec.Selector == nil || s.Spec.Selector.MatchLabels[key] == "" {
		return nil, fmt.Errorf("deployment %s/%s does not select on %q: canary pods would match its selector and be fought over; add %s=%s to its selector and pod template (re-create the deployment: selectors are immutable)", s.Namespace, s.Name, key, key, TrackStable)
	}
	zero := int32(0)
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.Name() + "-" + TrackCanary, Namespace: s.Namespace,
			Labels: withLabel(s.Labels, key, TrackCanary),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                &zero,
			Selector:                &metav1.LabelSelector{MatchLabels: withLabel(s.Spec.Selector.MatchLabels, key, TrackCanary), MatchExpressions: s.Spec.Selector.MatchExpressions},
			Template:                *s.Spec.Template.DeepCopy(),
			Strategy:                *s.Spec.Strategy.DeepCopy(),
			MinReadySeconds:         s.Spec.MinReadySeconds,
			RevisionHistoryLimit:    s.Spec.RevisionHistoryLimit,
			ProgressDeadlineSeconds: s.Spec.ProgressDeadlineSeconds,
		},
	}
	d.Spec.Template.Labels = withLabel(d.Spec.Template.Labels, key, TrackCanary)
	delete(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return d, nil
}

// keepStableLabels gives the canary's template, about to become the stable's, the labels
// that tell the tracks apart as the stable has them: the track key, every label the
// stable's selector requires (its template must keep matching it) and every label the
// canary's selector requires (the canary must not select the stable's new pods). When the
// tracks were recognised by their names, the key that tells them apart may be another than
// the track key (lane=stable / lane=canary): it is kept too.
func keepStableLabels(tpl *corev1.PodTemplateSpec, c *Component) {
	stable := c.Stable.Spec.Template.Labels
	keys := []string{c.TrackKey}
	for _, d := range []*appsv1.Deployment{c.Stable, c.Canary} {
		if d != nil && d.Spec.Selector != nil {
			for k := range d.Spec.Selector.MatchLabels {
				keys = append(keys, k)
			}
		}
	}
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	for _, k := range keys {
		if v, ok := stable[k]; ok {
			tpl.Labels[k] = v
		} else {
			delete(tpl.Labels, k)
		}
	}
}

func withLabel(in map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for key, val := range in {
		out[key] = val
	}
	out[k] = v
	return out
}

func stepInProgressError(c *Component, st *canaryState) error {
	verb := st.Verb
	if verb == "" || verb == "deploy" {
		verb = "canary-step"
	}
	return fmt.Errorf("component %s: a %s to %d %% was interrupted (annotation %s on service/%s): complete it with `kubectl feastflow %s %s`, or `kubectl feastflow abort %s`", c.Name(), st.Verb, st.Weight, CanaryStateAnnotation, c.Name(), verb, c.Name(), c.Name())
}

// promote finishes a canary release: the stable Deployment takes the canary's pod
// template (its own track label kept) and the full capacity, rolling with maxUnavailable
// 0; once it is complete the canary is scaled to 0 (deleted with DeleteCanary).
func (canary) promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	res := newRolloutResult("PromoteResult", "promote", c, env)
	if c.Canary == nil {
		res.Message = fmt.Sprintf("%s has no canary deployment: nothing to promote", c.Name())
		return res, nil
	}
	st, err := readCanaryState(c)
	if err != nil {
		return nil, err
	}
	if st.Phase == canaryPhaseStepping && st.Verb != "promote" {
		return nil, stepInProgressError(c, st)
	}
	total := desiredReplicas(c.Stable) + desiredReplicas(c.Canary)
	if st.Phase == canaryPhaseStepping && st.Total > 0 {
		total = st.Total // an interrupted promote: the stable may already be at full capacity
	}
	if total == 0 {
		return nil, fmt.Errorf("component %s has 0 replicas: nothing to promote to", c.Name())
	}
	if c.Stable.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return nil, fmt.Errorf("deployment %s/%s uses strategy Recreate: promote would stop every stable pod at once; set strategy RollingUpdate (maxUnavailable 0) on it first", c.Namespace(), c.Stable.Name)
	}
	tpl := c.Canary.Spec.Template.DeepCopy()
	canaryPlanned := c.Canary.DeepCopy()
	startReady := readyReplicas(c.Stable) + readyReplicas(c.Canary)
	keepStableLabels(tpl, c)
	delete(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	sameTemplate := EqualIgnoreHash(tpl, &c.Stable.Spec.Template)
	canaryGone := desiredReplicas(c.Canary) == 0 && !opts.DeleteCanary
	if sameTemplate && desiredReplicas(c.Stable) == total && canaryGone && st.Phase != canaryPhaseStepping {
		res.Message = fmt.Sprintf("%s is promoted already: deployment/%s runs the canary's template with %d replicas and the canary has 0: nothing to change", c.Name(), c.Stable.Name, total)
		return res, nil
	}
	if err := smokeCanaryBeforePromote(ctx, env, c, opts.Smoke); err != nil {
		return nil, err
	}
	retire := fmt.Sprintf("scale deployment/%s to 0", c.Canary.Name)
	if opts.DeleteCanary {
		retire = "delete deployment/" + c.Canary.Name
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(fmt.Sprintf("promote %s: roll deployment/%s to %s with %d replicas, then %s?", c.Name(), c.Stable.Name, imagesText(TemplateImages(tpl)), total, retire)); err != nil {
			return nil, err
		}
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	from := setWeight(c)
	p := newPlan(c, fmt.Sprintf("fix the cause and re-run `kubectl feastflow promote %s`, or abort", c.Name()))
	if st.Phase != canaryPhaseStepping {
		rec := &canaryState{Phase: canaryPhaseStepping, Verb: "promote", From: from, Weight: 0, Total: total, Stable: total, Canary: 0}
		if err := p.canaryRecord(env, rec, fmt.Sprintf("%d%%", from), "promoted", false); err != nil {
			return nil, err
		}
	}

	// Roll the stable track: template, full capacity, maxUnavailable 0 so that no stable pod
	// goes before its replacement is Ready: one JSON patch, its changes one step each.
	var ops []map[string]any
	var rollSteps []Step
	stableObj := "deployment/" + c.Stable.Name
	if !sameTemplate {
		ops = append(ops, map[string]any{"op": "replace", "path": "/spec/template", "value": tpl})
		rollSteps = append(rollSteps, Step{Field: "spec.template", From: imagesText(TemplateImages(&c.Stable.Spec.Template)), To: imagesText(TemplateImages(tpl))})
	}
	if desiredReplicas(c.Stable) != total {
		ops = append(ops, map[string]any{"op": "replace", "path": "/spec/replicas", "value": total})
		rollSteps = append(rollSteps, Step{Field: "spec.replicas", From: strconv.Itoa(int(desiredReplicas(c.Stable))), To: strconv.Itoa(int(total))})
	}
	if ru := c.Stable.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" && ru.MaxUnavailable.String() != "0%" {
		zero := intstr.FromInt32(0)
		surge := intstr.FromString("25%")
		if ru != nil && ru.MaxSurge != nil && ru.MaxSurge.String() != "0" && ru.MaxSurge.String() != "0%" {
			surge = *ru.MaxSurge
		}
		ops = append(ops, map[string]any{"op": "add", "path": "/spec/strategy/rollingUpdate", "value": appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge}})
		from := "<unset>"
		if ru != nil && ru.MaxUnavailable != nil {
			from = ru.MaxUnavailable.String()
		}
		rollSteps = append(rollSteps, Step{Field: "spec.strategy.rollingUpdate.maxUnavailable", From: from, To: "0"})
	}
	for i := range rollSteps {
		s := rollSteps[i]
		s.Action, s.Object, s.listed, s.samePatch = StepWrite, stableObj, true, i > 0
		if i == 0 {
			s.dry = true
			s.Precondition = "none: the template and replicas are set whatever they were; the check before the canary's retirement compares them"
			s.do = func(ctx context.Context) (*Change, error) {
				op := env.Writer.Operation("promote", imagesText(TemplateImages(&c.Stable.Spec.Template)), imagesText(TemplateImages(tpl)))
				body := append(slices.Clip(ops), annotationOps(c.Stable, map[string]string{
					audit.LastOperationAnnotation: op.Annotation(),
					ChangeCauseAnnotation:         changeCause("promote "+c.Name()+" (canary "+imagesText(TemplateImages(tpl))+")", op),
				})...)
				env.report("rolling deployment/%s to %s with %d replicas (maxUnavailable 0)", c.Stable.Name, imagesText(TemplateImages(tpl)), total)
				if err := writeDeployment(ctx, env, c.Stable, types.JSONPatchType, body, "Promoted", op); err != nil {
					return nil, err
				}
				return &Change{Object: stableObj, Field: rollSteps[0].Field, From: rollSteps[0].From, To: rollSteps[0].To}, nil
			}
		} else {
			s.Detail = "in the same patch as the step before"
		}
		p.add(s)
	}
	p.wait(stableObj, fmt.Sprintf("%d ready pods of its new template", total), func(ctx context.Context) error {
		env.report("waiting for %d ready pods of deployment/%s's new template before retiring the canary", total, c.Stable.Name)
		if _, err := WaitForReady(ctx, env, c.Stable, total, opts.Timeout); err != nil {
			return fmt.Errorf("%w; the canary still serves: fix and re-run promote, or abort (%s)", err, appliedSoFar(res))
		}
		return nil
	})
	if path := opts.Smoke.PathFor(c.Service); path != "" {
		p.check(stableObj, fmt.Sprintf("smoke test: each of its %d pods answers GET %s through pods/proxy with 2xx", total, path), func(ctx context.Context) error {
			return smokeStableBeforeRetire(ctx, env, c, opts.Smoke, total, appliedSoFar(res))
		})
	}
	// Check before the cut: the canary and the stable track as planned, and no fewer ready
	// pods than at the start once the canary is gone.
	var canaryNow *appsv1.Deployment
	p.check("deployment/"+c.Canary.Name, fmt.Sprintf("deployment/%s has %d replicas of the canary's template and deployment/%s %d replicas of its template, and at least the %d ready pods of the start", c.Stable.Name, total, c.Canary.Name, desiredReplicas(canaryPlanned), startReady), func(ctx context.Context) error {
		_, now, err := reread(ctx, env, c, c.Stable.Name, c.Canary.Name)
		if err != nil {
			return err
		}
		stopped := fmt.Sprintf("%s; deployment/%s not retired: check who changed it, then re-run promote", appliedSoFar(res), c.Canary.Name)
		for _, chk := range []struct {
			want     *appsv1.Deployment
			replicas int32
		}{{c.Stable, total}, {canaryPlanned, desiredReplicas(canaryPlanned)}} {
			if err := checkUnchanged(chk.want, now[chk.want.Name], chk.replicas); err != nil {
				err.(*ForeignChangeError).Done = stopped
				return err
			}
		}
		if got := max(readyReplicas(now[c.Stable.Name]), total); got < startReady { // the wait saw total Ready pods of the new template
			return fmt.Errorf("deployment/%s has %d ready pods, fewer than the %d ready when promote started: the canary is kept; %s", c.Stable.Name, got, startReady, stopped)
		}
		canaryNow = now[c.Canary.Name]
		return nil
	})
	canaryObj := "deployment/" + c.Canary.Name
	if opts.DeleteCanary {
		p.add(Step{Action: StepWrite, Object: canaryObj, Field: "metadata", From: c.Canary.Name, To: "deleted", Precondition: "metadata.uid as the check before it re-read it", listed: true,
			do: func(ctx context.Context) (*Change, error) {
				env.report("deleting deployment/%s", c.Canary.Name)
				pre := metav1.Preconditions{UID: &canaryNow.UID}
				del := env.Writer.DeleteOptions()
				del.Preconditions = &pre
				if err := env.Client.AppsV1().Deployments(c.Namespace()).Delete(ctx, c.Canary.Name, del); err != nil {
					return nil, writeError("delete", "deployment", c.Namespace(), c.Canary.Name, err)
				}
				return &Change{Object: canaryObj, Field: "metadata", From: c.Canary.Name, To: "deleted"}, nil
			}})
	} else {
		p.add(Step{Action: StepWrite, Object: canaryObj, Field: "spec.replicas", From: strconv.Itoa(int(desiredReplicas(c.Canary))), To: "0",
			Precondition: "metadata.generation as the check before it re-read it", listed: true,
			do: func(ctx context.Context) (*Change, error) {
				ch, err := scaleGuarded(ctx, env, canaryNow, 0, "promote", "Scaled")
				if err != nil {
					return nil, fmt.Errorf("%w (%s)", err, appliedSoFar(res))
				}
				*c.Canary = *canaryNow
				return ch, nil
			}})
	}
	p.canaryDone(env, &canaryState{Weight: 0}, PhasePromoted)
	if err := env.apply(ctx, res, p); err != nil {
		return res, err
	}
	res.Message = env.tell(fmt.Sprintf("promoted %s: deployment/%s runs %s with %d replicas; the canary is retired", c.Name(), c.Stable.Name, imagesText(TemplateImages(tpl)), total),
		fmt.Sprintf("would roll deployment/%s to the canary's template with %d replicas, then %s", c.Stable.Name, total, retire))
	return res, nil
}

// abort retires a canary: the stable track goes back to the full capacity first
// (and its pods are waited for), then the canary goes to 0.
func (canary) abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	res := newRolloutResult("AbortResult", "abort", c, env)
	if c.Canary == nil {
		res.Message = fmt.Sprintf("%s has no canary deployment: nothing to abort", c.Name())
		return res, nil
	}
	st, err := readCanaryState(c)
	if err != nil {
		return nil, err
	}
	total := desiredReplicas(c.Stable) + desiredReplicas(c.Canary)
	if st.Phase == canaryPhaseStepping && st.Total > 0 {
		total = st.Total // an interrupted step may have both tracks scaled up
	}
	plan := CanaryPlan{Weight: 0, Total: total, Stable: total, Canary: 0}
	if desiredReplicas(c.Canary) == 0 && desiredReplicas(c.Stable) == total && st.Phase != canaryPhaseStepping {
		res.Message = fmt.Sprintf("%s has no canary pods and deployment/%s has %d: nothing to abort", c.Name(), c.Stable.Name, total)
		return res, nil
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(fmt.Sprintf("abort the canary of %s: scale deployment/%s to %d, then deployment/%s to 0?", c.Name(), c.Stable.Name, total, c.Canary.Name)); err != nil {
			return nil, err
		}
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	from := setWeight(c)
	rec := &canaryState{Phase: canaryPhaseStepping, Verb: "abort", From: from, Weight: 0, Total: total, Stable: total, Canary: 0}
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow abort %s`", c.Name()))
	if err := p.canaryRecord(env, rec, fmt.Sprintf("%d%%", from), "0%", false); err != nil {
		return nil, err
	}
	p.canaryTracks(env, res, plan, "abort", opts.Timeout)
	p.canaryDone(env, rec, PhaseAborted)
	if err := env.apply(ctx, res, p); err != nil {
		return res, err
	}
	res.Message = fmt.Sprintf("aborted the canary of %s: deployment/%s has %d replicas, deployment/%s 0", c.Name(), c.Stable.Name, total, c.Canary.Name)
	if !env.Writer.Live() {
		res.Message = "dry run (" + string(env.Writer.DryRun) + "): would have " + res.Message
	}
	return res, nil
}
