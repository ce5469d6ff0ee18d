package strategy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// deploy sets the images of a rolling (or recreate) component's Deployment with a
// strategic merge patch (containers merge by name), then waits with fail-fast. With
// AutoRollback a failed rollout is undone, like `kubectl rollout undo --to-revision`, to
// the last revision that was available before the deploy (not blindly the previous
// template, which may itself be a failed deploy), and that rollout is waited for too.
func (rolling) deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	d := c.Deployment
	want := d.DeepCopy()
	changes, err := SetImages(d.Name, &want.Spec.Template, opts.Images)
	if err != nil {
		return nil, err
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	res := &DeployResult{
		Result:     newResult("DeployResult", c, "deploy", env),
		Deployment: d.Name, Images: TemplateImages(&want.Spec.Template), Replicas: desiredReplicas(d),
	}
	beforeImages := imagesText(TemplateImages(&d.Spec.Template))
	var good *availableRevision
	if opts.AutoRollback && len(changes) > 0 {
		if good, err = lastAvailableRevision(ctx, env, d); err != nil {
			return nil, err
		}
	}
	p := newPlan(c, fmt.Sprintf("deploy again, or `kubectl feastflow rollback %s`", c.Name()))
	minGen := d.Generation
	if len(changes) == 0 {
		env.report("deployment %s already runs %s", d.Name, imagesText(res.Images))
	} else {
		for i, ch := range changes {
			st := Step{Action: StepWrite, Object: "deployment/" + d.Name, Field: imageField(ch), From: ch.From, To: ch.To, listed: true, samePatch: i > 0}
			if i > 0 {
				st.Detail = "in the same patch as the step before"
				p.add(st)
				continue
			}
			st.Precondition = "none: a strategic merge patch of the named containers' images; the wait stops when someone else changes the template"
			st.dry = true
			st.do = func(ctx context.Context) (*Change, error) {
				op := env.Writer.Operation("deploy", beforeImages, imagesText(res.Images))
				cause := changeCause(fmt.Sprintf("deploy %s --image %s", c.Name(), imagesText(res.Images)), op)
				patch := deepMerge(map[string]any{
					"metadata": map[string]any{"annotations": map[string]any{ChangeCauseAnnotation: cause}},
					"spec":     map[string]any{"template": map[string]any{"spec": imagesPatch(&want.Spec.Template, changes)}},
				}, audit.AnnotationPatch(op, nil))
				env.report("deployment %s: %s → %s", d.Name, beforeImages, imagesText(res.Images))
				if err := writeDeployment(ctx, env, d, types.StrategicMergePatchType, patch, "Deployed", op); err != nil {
					return nil, err
				}
				minGen = d.Generation
				return &Change{Object: "deployment/" + d.Name, Field: imageField(ch), From: ch.From, To: ch.To}, nil
			}
			p.add(st)
		}
	}
	// A template changed by someone else during the wait ends it (the images deployed are
	// no longer what rolls out); a scale is followed.
	var final *appsv1.Deployment
	var w *rolloutWait
	p.wait("deployment/"+d.Name, fmt.Sprintf("all %d replicas updated to the new template, ready and available (fail-fast on pods that cannot start); a scale is followed, a template changed by someone else stops it", desiredReplicas(d)), func(ctx context.Context) error {
		var err error
		final, w, err = waitDeployment(ctx, env, c.Namespace(), d.Name, WaitOptions{Timeout: opts.Timeout, MinGeneration: minGen, Expect: d.DeepCopy(), TemplateOnly: true})
		return err
	})
	if err := env.apply(ctx, &res.Result, p); err != nil && p.failed != StepWait {
		return nil, err
	} else if err == nil && !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would deploy %s to deployment/%s and wait for its rollout", env.Writer.DryRun, imagesText(res.Images), d.Name)
		return res, nil
	} else if err != nil {
		res.Failure = failureOf(err)
		var foreign *ForeignChangeError
		if errors.As(err, &foreign) {
			foreign.Done = fmt.Sprintf("deployment %s was updated to %s and then changed by someone else: not rolled back; check it with `kubectl feastflow status %s`", d.Name, imagesText(res.Images), c.Name())
			return res, foreign
		}
		if !opts.AutoRollback || !res.Changed {
			if res.Changed {
				return res, fmt.Errorf("%w; deployment %s now wants %s: fix and deploy again, or `kubectl feastflow rollback %s` (or re-run with --auto-rollback)", err, d.Name, imagesText(res.Images), c.Name())
			}
			return res, err
		}
		if good == nil {
			return res, fmt.Errorf("%w; not rolled back: no revision of deployment %s was available before this deploy (its rollout was not complete and no older ReplicaSet had available pods): fix the image and deploy again", err, d.Name)
		}
		env.report("rollout failed: rolling deployment/%s back to revision %d (%s), the last one that was available (--auto-rollback)", d.Name, good.revision, good.images)
		rb, rerr := rolling{}.rollback(ctx, env, c, RollbackOptions{ToRevision: good.revision, Timeout: opts.Timeout})
		if rerr != nil {
			return res, fmt.Errorf("%w; auto-rollback to revision %d failed too: %v", err, good.revision, rerr)
		}
		res.Changes = append(res.Changes, rb.Changes...)
		res.RolledBack = true
		res.RolledBackTo = good.revision
		res.Message = fmt.Sprintf("deploy of %s failed and was rolled back to revision %d (%s), the last one that was available", imagesText(res.Images), good.revision, good.images)
		return res, fmt.Errorf("%w; rolled deployment %s back to revision %d (%s), the last one that was available, which is available again", err, d.Name, good.revision, good.images)
	}
	res.Ready = true
	res.waited = w.endedOn(final)
	if final != nil {
		res.Replicas = desiredReplicas(final) // a scale during the wait was followed
	}
	res.Message = fmt.Sprintf("deployment %s runs %s with %d replicas, all available", d.Name, imagesText(res.Images), res.Replicas)
	return res, nil
}

// rollback returns a rolling Deployment to a revision (0: the previous one) with
// k8s.io/kubectl's DeploymentRollbacker, the code behind `kubectl rollout undo`: same
// revision choice, same refusal of a paused Deployment, same no-op when the template
// already matches. The client it is given adds what the plugin promises on every write:
// the field manager, dry run, a resourceVersion precondition and the last-operation
// annotation in the same patch. Then it waits for the rollout.
func (rolling) rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	d := c.Deployment
	res := newRolloutResult("RollbackResult", "rollback", c, env)
	if opts.ToRevision < 0 {
		return nil, fmt.Errorf("invalid revision %d: revisions are positive (see kubectl feastflow history %s)", opts.ToRevision, c.Name())
	}
	if d.Spec.Paused {
		// kubectl's DeploymentRollbacker refuses this only after listing the history; the
		// same reason, before any request.
		return nil, fmt.Errorf("deployment %s/%s: you cannot rollback a paused deployment; resume it first with 'kubectl feastflow resume %s' (or 'kubectl rollout resume deployment/%s') and try again", d.Namespace, d.Name, c.Name(), d.Name)
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	fromRev, _ := deploymentutil.Revision(d)
	client := newRollbackClient(ctx, env, d)
	client.hold = true // the rollbacker plans the patch; a step of the plan sends it
	rollbacker, err := polymorphichelpers.RollbackerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, client)
	if err != nil {
		return nil, err
	}
	// The dry run is the plan's business, so that the rollbacker's checks run in every mode.
	msg, err := rollbacker.Rollback(d, nil, opts.ToRevision, cmdutil.DryRunNone)
	if err != nil {
		hint := ""
		if strings.Contains(err.Error(), "unable to find specified revision") {
			// Rolling back to revision N makes it the newest revision; the controller keeps
			// the old number in the ReplicaSet's revision-history: re-running is a no-op.
			if now, ok := client.renumbered(d, opts.ToRevision); ok {
				res.Message = fmt.Sprintf("deployment %s already runs revision %d (renumbered %d when it was rolled back to): nothing to change", d.Name, opts.ToRevision, now)
				return res, nil
			}
			hint = fmt.Sprintf(" (list them with kubectl feastflow history %s)", c.Name())
		}
		return nil, fmt.Errorf("roll back deployment %s/%s: %s%s", d.Namespace, d.Name, err, hint)
	}
	if client.patched == nil {
		res.Message = fmt.Sprintf("deployment %s: %s; nothing to change", d.Name, msg)
		return res, nil
	}
	toRev, body := client.targetRevision, client.body
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow rollback %s`", c.Name()))
	p.add(Step{
		Action: StepWrite, Object: "deployment/" + d.Name, Field: "spec.template",
		From: fmt.Sprintf("revision %d (%s)", fromRev, imagesText(TemplateImages(&d.Spec.Template))), To: fmt.Sprintf("revision %d (%s)", toRev, client.targetImages),
		Precondition: fmt.Sprintf("metadata.generation %d (JSON-patch test)", d.Generation), listed: true, dry: true,
		do: func(ctx context.Context) (*Change, error) {
			patched, err := client.send(ctx, d.Name, body)
			if err != nil {
				if apierrors.IsInvalid(err) || apierrors.IsConflict(err) || isTestFailure(err) {
					// The generation test failed: the spec changed since it was read.
					return nil, &ConflictError{Object: fmt.Sprintf("deployment %s/%s", d.Namespace, d.Name), Err: err}
				}
				return nil, writeError("patch", "deployment", d.Namespace, d.Name, err)
			}
			if !env.Writer.Live() {
				return nil, nil
			}
			if _, applied := d.Annotations[corev1.LastAppliedConfigAnnotation]; applied {
				// kubectl rollout undo's warning, for the same reason.
				env.report("warning: deployment %s was previously managed with 'kubectl apply': rolling back does not update the %s annotation, which may cause unexpected behavior on future 'kubectl apply' operations; consider applying your previous configuration file instead", d.Name, corev1.LastAppliedConfigAnnotation)
			}
			env.event(ctx, "Deployment", "apps/v1", patched, "RolledBack", client.op)
			env.report("deployment %s rolled back to revision %d (%s); waiting for the rollout", d.Name, toRev, client.targetImages)
			return &Change{Object: "deployment/" + d.Name, Field: "spec.template", From: fmt.Sprintf("revision %d (%s)", fromRev, imagesText(TemplateImages(&d.Spec.Template))), To: fmt.Sprintf("revision %d (%s)", toRev, client.targetImages)}, nil
		},
	})
	p.wait("deployment/"+d.Name, fmt.Sprintf("every replica updated to revision %d's template (pod-template-hash %s), ready and available; a scale is followed, a template changed by someone else stops it", toRev, client.targetHash), func(ctx context.Context) error {
		if _, err := WaitForDeployment(ctx, env, d.Namespace, d.Name, WaitOptions{Timeout: opts.Timeout, MinGeneration: client.patched.Generation, PodTemplateHash: client.targetHash, Expect: client.patched.DeepCopy(), TemplateOnly: true}); err != nil {
			var foreign *ForeignChangeError
			if errors.As(err, &foreign) && foreign.Field != "spec.replicas" {
				// Not "applied": revision toRev is no longer what rolls out.
				foreign.Done = fmt.Sprintf("deployment %s was rolled back to revision %d (%s) and then changed by someone else: that rollout, not the rollback, is in progress; check it with `kubectl feastflow status %s`", d.Name, toRev, client.targetImages, c.Name())
				return foreign
			}
			return fmt.Errorf("%w (the rollback to revision %d was applied)", err, toRev)
		}
		return nil
	})
	if err := env.apply(ctx, res, p); err != nil {
		if p.failed == StepWrite {
			return nil, err
		}
		return res, err
	}
	res.Message = env.tell(fmt.Sprintf("deployment %s rolled back from revision %d to revision %d (%s), all available", d.Name, fromRev, toRev, client.targetImages),
		fmt.Sprintf("would roll deployment/%s back from revision %d to revision %d (%s)", d.Name, fromRev, toRev, client.targetImages))
	return res, nil
}
