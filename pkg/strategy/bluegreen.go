package strategy

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// Verbs recorded on the Service by the operations that move traffic.
const (
	verbSwitch   = "switch"
	verbPromote  = "promote"
	verbRollback = "rollback"
)

// promote finishes the release the record names: it switches to the pending
// color when the record says one was deployed and not switched to, then, after the
// scale-down delay (counted from the recorded switch), re-reads the Service and both
// colors and scales the old color (the record's previous one) to 0. Which color is old is
// never inferred from the Deployments: a label, a scale or a new image on either color does
// not change it. When the live color's pod template changed since the switch, promote
// refuses (unless Force): the release switched to is no longer what serves.
func (blueGreen) promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	res := newResult("PromoteResult", c, "promote", env)
	rec, err := blueGreenRecord(c, verbPromote)
	if err != nil {
		return nil, err
	}
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow promote %s` to finish", c.Name()))
	var old, live string
	var switchedAt time.Time
	var sw *switchRun
	readyEndpoints := 0 // the live color's ready endpoints, as the switch verified them
	switch {
	case rec.Phase == PhaseDeployed && rec.Pending != "" && rec.Pending != c.LiveColor:
		to := rec.Pending
		if c.Colors[to] == nil {
			return nil, fmt.Errorf("the release record of %s names %s as deployed, but no deployment carries %s=%s (colors: %s): deploy it again or abort", c.Name(), to, c.ColorKey, to, orNoneList(c.ColorNames()))
		}
		old, live = c.LiveColor, to
		var after *corev1.Service
		sw, err = planSwitch(ctx, env, SwitchOptions{
			Namespace: c.Namespace(), Component: c.Name(), Color: to, Keys: Keys{ColorKey: c.ColorKey}, Force: opts.Force, VerifyTimeout: opts.VerifyTimeout, Smoke: opts.Smoke,
			record: func(r *Release) {
				r.Phase = PhasePromoting
				r.begin(env, verbPromote, old, old+"=0")
			},
			switched: func(s *corev1.Service) { after = s },
			held:     c,
		}, verbPromote)
		if err != nil {
			return nil, err
		}
		p.switchSteps(env, &res, sw, func(out *SwitchResult) {
			for _, sc := range out.Components {
				readyEndpoints = sc.ReadyEndpoints
			}
			switchedAt = env.now()
			env.report("%s switched to %s", c.Name(), to)
			if after != nil { // go on from the Service as the switch left it (its record says promoting)
				c.Service, c.LiveColor = after, to
			}
		})
	case rec.Phase == PhaseSwitched || rec.Phase == PhaseRolledBack || rec.Phase == PhasePromoting:
		old, live = rec.Previous, c.LiveColor
		if rec.SwitchedAt != nil {
			switchedAt = *rec.SwitchedAt
		}
	default:
		res.Message = fmt.Sprintf("%s is promoted: %s is live and no release is pending (%s); nothing to do", c.Name(), c.LiveColor, describeRelease(rec))
		return &res, nil
	}
	oldD, liveD := c.Colors[old], c.Colors[live]
	if liveD == nil {
		return &res, fmt.Errorf("no deployment carries the live color %s=%s of %s: fix the service selector", c.ColorKey, live, c.Name())
	}
	if sw == nil && !opts.Force {
		if w, ok := rec.Workloads[live]; ok {
			if d := Drift(w, liveD); d != "" {
				return nil, fmt.Errorf("promote of %s refused, nothing changed: the live color %s no longer runs the release switched to: %s; roll back with `kubectl feastflow rollback %s` (to %s), or promote what %s runs now with --force", c.Name(), live, d, c.Name(), orNoneText(old), live)
			}
		}
	}
	promoted := func(r *Release) *Release {
		r.Phase, r.Operation = PhasePromoted, nil
		return r
	}
	switch {
	case old == "" || old == live || oldD == nil || desiredReplicas(oldD) == 0:
		if sw == nil && (rec.Phase == PhasePromoted || !env.Writer.Live()) {
			res.Message = fmt.Sprintf("%s is promoted: %s is live and the old color has no replicas; nothing to do", c.Name(), live)
			return &res, nil
		}
		p.finish(env, string(PhasePromoted), nil, promoted)
		if err := env.apply(ctx, &res, p); err != nil {
			return &res, err
		}
		res.Message = env.tell(fmt.Sprintf("%s is promoted: %s is live and %s has no replicas; recorded", c.Name(), live, orNoneText(old)), fmt.Sprintf("would switch %s to %s; the old color has no replicas", c.Name(), live))
		return &res, nil
	case opts.KeepOld:
		if err := env.apply(ctx, &res, p); err != nil {
			return &res, err
		}
		res.Message = env.tell(fmt.Sprintf("%s is live on %s; %s (%s) kept scaled up (--keep-old)", c.Name(), live, old, oldD.Name), fmt.Sprintf("would switch %s to %s; %s (%s) kept scaled up (--keep-old)", c.Name(), live, old, oldD.Name))
		return &res, nil
	}
	if sw == nil {
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
	}
	if opts.Confirm != nil {
		q := fmt.Sprintf("scale %s (color %s, %s) from %d replicas to 0", oldD.Name, old, imagesText(TemplateImages(&oldD.Spec.Template)), desiredReplicas(oldD))
		if sw != nil {
			q = fmt.Sprintf("switch %s to %s, then %s", c.Name(), live, q)
		}
		if err := opts.Confirm(q); err != nil {
			return &res, fmt.Errorf("%w; nothing changed: %s stays live on %s", err, c.Name(), c.LiveColor)
		}
	}
	var started *ReleaseOperation
	if sw == nil && (rec.Operation == nil || rec.Operation.Verb != verbPromote) {
		next := rec.clone()
		next.Phase = PhasePromoting
		started = next.begin(env, verbPromote, old, old+"=0")
		p.record(env, next, env.Writer.Operation(verbPromote, old, live), "", nil)
	}
	oldPlanned, livePlanned := oldD.DeepCopy(), liveD.DeepCopy()
	startReady := readyReplicas(liveD)
	wait := opts.ScaleDownDelay
	if sw == nil {
		elapsed := max(env.now().Sub(switchedAt), 0) // a switch recorded by a clock ahead of ours: the whole delay, no more
		wait -= elapsed
	}
	stopped := fmt.Sprintf("%s is live on %s and %s keeps its replicas; re-run `kubectl feastflow promote %s` once it is settled", c.Name(), live, oldD.Name, c.Name())
	cut := oldD
	if wait > 0 {
		p.delay(env, "deployment/"+oldD.Name, wait, "the scale-down delay after the switch, so that kube-proxy on every node has stopped sending it traffic; Ctrl-C keeps the switch",
			fmt.Sprintf("waiting %s before scaling %s down, so that kube-proxy on every node has stopped sending it traffic (Ctrl-C keeps the switch; re-run to finish)", wait.Round(time.Second), oldD.Name), func(err error) error {
				return fmt.Errorf("interrupted before scaling %s down: %s stays live on %s and %s keeps %d replicas; re-run `kubectl feastflow promote %s` to finish: %w", oldD.Name, c.Name(), live, old, desiredReplicas(oldD), c.Name(), err)
			})
		p.check("deployment/"+oldD.Name, fmt.Sprintf("service/%s still selects %s=%s, deployment/%s and deployment/%s unchanged since the plan (replicas and template), and deployment/%s has at least the %d ready pods it had at the start", c.Name(), c.ColorKey, live, oldD.Name, liveD.Name, liveD.Name, startReady), func(ctx context.Context) error {
			svc, now, err := reread(ctx, env, c, oldD.Name, liveD.Name)
			if err != nil {
				return err
			}
			if got := svc.Spec.Selector[c.ColorKey]; got != live {
				return &ForeignChangeError{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: live, To: got, Manager: lastServiceManager(svc), Done: fmt.Sprintf("%s not scaled down", oldD.Name)}
			}
			for _, chk := range []*appsv1.Deployment{oldPlanned, livePlanned} {
				if err := checkUnchanged(chk, now[chk.Name], desiredReplicas(chk)); err != nil {
					err.(*ForeignChangeError).Done = stopped
					return err
				}
			}
			if got := readyReplicas(now[liveD.Name]); got < startReady {
				return fmt.Errorf("the live color %s (%s) has %d ready pods, fewer than the %d when promote started: %s", live, liveD.Name, got, startReady, stopped)
			}
			c.Service, cut = svc, now[oldD.Name]
			return nil
		})
	} else if sw != nil {
		// No time passes between the switch and the cut, so the plan's reads still answer
		// (the cut tests the old color's generation): only the live color's ready count is
		// taken from the verification, which saw the live pods ready behind the Service.
		p.check("endpointslices of service/"+c.Name(), fmt.Sprintf("the switch verified at least the %d ready pods deployment/%s had at the start", startReady, liveD.Name), func(context.Context) error {
			if readyEndpoints < int(startReady) {
				return fmt.Errorf("the live color %s (%s) has %d ready endpoints, fewer than the %d ready pods when promote started: %s", live, liveD.Name, readyEndpoints, startReady, stopped)
			}
			return nil
		})
	}
	p.add(Step{
		Action: StepWrite, Object: "deployment/" + oldD.Name, Field: "spec.replicas", From: fmt.Sprint(desiredReplicas(oldD)), To: "0",
		Precondition: fmt.Sprintf("metadata.generation %d (or as the check before it re-read it)", oldD.Generation), listed: true, dry: sw == nil,
		do: func(ctx context.Context) (*Change, error) {
			ch, err := scaleGuarded(ctx, env, cut, 0, verbPromote, "Promoted")
			var conflict *ConflictError
			if err != nil && wait <= 0 && errors.As(err, &conflict) {
				// The old color changed since the plan: read it to name the change and who made it.
				if _, now, rerr := reread(ctx, env, c, oldD.Name); rerr == nil {
					if ferr := checkUnchanged(oldPlanned, now[oldD.Name], desiredReplicas(oldPlanned)); ferr != nil {
						ferr.(*ForeignChangeError).Done = stopped
						return nil, ferr
					}
				}
			}
			return ch, err
		},
	})
	p.finish(env, string(PhasePromoted), started, func(r *Release) *Release {
		r = promoted(r)
		r.recordWorkload(env, old, cut, "")
		return r
	})
	if err := env.apply(ctx, &res, p); err != nil {
		return &res, err
	}
	res.Message = env.tell(fmt.Sprintf("%s promoted: %s is live, %s (%s) scaled to 0", c.Name(), live, old, oldD.Name), fmt.Sprintf("would switch %s to %s, then scale %s (%s) to 0 after %s", c.Name(), live, old, oldD.Name, opts.ScaleDownDelay))
	if sw == nil {
		res.Message = env.tell(res.Message, fmt.Sprintf("would scale %s (%s) to 0", old, oldD.Name))
	}
	return &res, nil
}

// blueGreenRecord is the component's release record for a verb that acts on it: refused
// when the selector is not the record's live color, or when another verb's operation is
// recorded in progress.
func blueGreenRecord(c *Component, verb string) (*Release, error) {
	rec, err := c.Release()
	if err != nil {
		return nil, err
	}
	if err := selectorMatchesRecord(c, rec); err != nil {
		return nil, err
	}
	if op := rec.Operation; op != nil && op.Verb != verb {
		return nil, operationInProgressError(c, rec)
	}
	return rec, nil
}

// selectorMatchesRecord refuses to act when the Service selects another color than the
// release record says is live: someone changed the selector outside the plugin.
func selectorMatchesRecord(c *Component, rec *Release) error {
	if rec.Live == "" || rec.Live == c.LiveColor {
		return nil
	}
	who := lastServiceManager(c.Service)
	if who != "" {
		who = " (" + who + ")"
	}
	return fmt.Errorf("service %s/%s selects %s=%s but its release record says %s is live: the selector was changed outside kubectl feastflow%s; nothing changed: record the switch with `kubectl feastflow switch %s %s`, or switch back with `kubectl feastflow switch %s %s`", c.Namespace(), c.Name(), c.ColorKey, c.LiveColor, rec.Live, who, c.LiveColor, c.Name(), rec.Live, c.Name())
}

// operationInProgressError refuses a verb while the record holds another verb's operation.
func operationInProgressError(c *Component, rec *Release) error {
	op := rec.Operation
	by := ""
	if op.User != "" {
		by = " by " + op.User
	}
	return fmt.Errorf("component %s: a %s to %s started %s%s is recorded in progress (annotation %s on service/%s): wait for it, or, if it was interrupted, complete it with `kubectl feastflow %s %s`", c.Name(), op.Verb, op.Target, op.Start.Format(time.RFC3339), by, ReleaseAnnotation, c.Name(), op.Verb, c.Name())
}

// abort scales the pending release (the color the record says was deployed and
// not switched to) back to 0, after re-reading that the Service does not select it and
// that nobody changed it since it was read.
func (blueGreen) abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	res := newResult("AbortResult", c, "abort", env)
	rec, err := blueGreenRecord(c, "abort")
	if err != nil {
		return nil, err
	}
	if rec.Phase != PhaseDeployed || rec.Pending == "" {
		if rec.Phase == PhaseSwitched || rec.Phase == PhasePromoting || rec.Phase == PhaseRolledBack {
			at := ""
			if rec.SwitchedAt != nil {
				at = " at " + rec.SwitchedAt.Format(time.RFC3339)
			}
			return nil, fmt.Errorf("nothing to abort on %s: traffic was already switched from %s to %s%s; use `kubectl feastflow rollback %s` to switch back, or `promote` to finish", c.Name(), orNoneText(rec.Previous), c.LiveColor, at, c.Name())
		}
		res.Message = fmt.Sprintf("nothing to abort on %s: %s is live and no release is pending", c.Name(), c.LiveColor)
		return &res, nil
	}
	pending := rec.Pending
	if pending == c.LiveColor {
		return nil, fmt.Errorf("cannot abort %s on %s: the service selects it (it is live); switch away from it first", pending, c.Name())
	}
	d := c.Colors[pending]
	if d == nil || desiredReplicas(d) == 0 {
		if env.Writer.Live() {
			next := rec.clone()
			next.Phase, next.Pending, next.Operation = PhaseAborted, "", nil
			if err := finishRelease(ctx, env, c, next, rec.Operation); err != nil {
				return &res, err
			}
		}
		res.Message = fmt.Sprintf("nothing to abort on %s: %s has no replicas; %s stays live on %s", c.Name(), pending, c.Name(), c.LiveColor)
		return &res, nil
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(fmt.Sprintf("scale %s (idle color %s, %s) from %d replicas to 0", d.Name, pending, imagesText(TemplateImages(&d.Spec.Template)), desiredReplicas(d))); err != nil {
			return &res, err
		}
	}
	// The plan: record the abort, re-read, scale the pending color to 0 testing the
	// generation re-read, record it aborted.
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow abort %s`", c.Name()))
	next := rec.clone()
	started := next.begin(env, "abort", pending, pending+"=0")
	p.record(env, next, env.Writer.Operation("abort", pending, c.LiveColor), "", nil)
	planned, cut := d.DeepCopy(), d
	p.check("deployment/"+d.Name, fmt.Sprintf("service/%s does not select %s=%s, and deployment/%s still has %d replicas of template %s", c.Name(), c.ColorKey, pending, d.Name, desiredReplicas(d), templateDigest(&d.Spec.Template)), func(ctx context.Context) error {
		svc, now, err := reread(ctx, env, c, d.Name)
		if err != nil {
			return err
		}
		if got := svc.Spec.Selector[c.ColorKey]; got == pending {
			return &ForeignChangeError{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: c.LiveColor, To: got, Manager: lastServiceManager(svc), Done: d.Name + " not scaled down: it takes traffic now"}
		}
		if err := checkUnchanged(planned, now[d.Name], desiredReplicas(planned)); err != nil {
			err.(*ForeignChangeError).Done = fmt.Sprintf("%s not scaled down; re-run `kubectl feastflow abort %s` once it is settled", d.Name, c.Name())
			return err
		}
		cut = now[d.Name]
		return nil
	})
	p.cut(env, &cut, 0, "abort", "Aborted")
	p.finish(env, string(PhaseAborted), started, func(r *Release) *Release {
		r.Phase, r.Pending, r.Operation = PhaseAborted, "", nil
		return r
	})
	if err := env.apply(ctx, &res, p); err != nil {
		return &res, err
	}
	res.Message = env.tell(fmt.Sprintf("aborted: %s (%s) scaled to 0; %s stays live on %s", pending, d.Name, c.Name(), c.LiveColor), fmt.Sprintf("would scale %s (%s) to 0", pending, d.Name))
	return &res, nil
}

// rollback switches back to the previous color the record names, scaling it up
// first (to the live color's replicas) and waiting for that many Ready pods of its
// template when it was scaled down. Re-running it after success does nothing: the record
// then says rolled-back with the live color. It refuses (unless Force) when the previous
// color's template changed since it was live: that would not be a rollback.
func (blueGreen) rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	res := newResult("RollbackResult", c, "rollback", env)
	rec, err := blueGreenRecord(c, verbRollback)
	if err != nil {
		return nil, err
	}
	prev := rec.Previous
	if prev == "" {
		return nil, fmt.Errorf("cannot roll back %s: its release record (annotation %s on service %s/%s) names no previous color: no switch was recorded; switch explicitly with `kubectl feastflow switch COLOR %s` (colors: %s)", c.Name(), ReleaseAnnotation, c.Namespace(), c.Name(), c.Name(), orNoneList(c.ColorNames()))
	}
	if rec.Phase == PhaseRolledBack && rec.Operation == nil {
		at := ""
		if rec.SwitchedAt != nil {
			at = " at " + rec.SwitchedAt.Format(time.RFC3339)
		}
		res.Message = fmt.Sprintf("%s was already rolled back to %s%s; nothing to do (to go forward again: `kubectl feastflow switch %s %s`)", c.Name(), c.LiveColor, at, prev, c.Name())
		return &res, nil
	}
	if prev == c.LiveColor {
		res.Message = fmt.Sprintf("%s is already on %s; nothing to do", c.Name(), prev)
		return &res, nil
	}
	target, _, err := c.ColorDeployment(prev, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot roll back %s to %s (the previous color in its release record): %w", c.Name(), prev, err)
	}
	if w, ok := rec.Workloads[prev]; ok && !opts.Force {
		if d := Drift(w, target); d != "" {
			return nil, fmt.Errorf("rollback of %s refused, nothing changed: the previous color %s no longer runs the release that was live: %s; switch to it explicitly with `kubectl feastflow switch %s %s`, or pass --force", c.Name(), prev, d, prev, c.Name())
		}
	}
	p := newPlan(c, fmt.Sprintf("fix the cause and re-run `kubectl feastflow rollback %s`", c.Name()))
	swOpts := SwitchOptions{Namespace: c.Namespace(), Component: c.Name(), Color: prev, Keys: Keys{ColorKey: c.ColorKey}, Force: opts.Force, VerifyTimeout: opts.VerifyTimeout}
	// The switch plans on the component as held: as read, or as this run wrote it (the
	// record, the target's replicas).
	swOpts.held = c
	mergeSwitch := func(sw *SwitchResult) {
		if sw != nil && env.Writer.Live() {
			for _, sc := range sw.Components {
				res.Changes = append(res.Changes, sc.Changes...)
			}
			res.Changed = res.Changed || sw.Changed
		}
	}
	if desiredReplicas(target) > 0 {
		sw, err := planSwitch(ctx, env, swOpts, verbRollback)
		if err != nil {
			return nil, err
		}
		p.switchSteps(env, &res, sw, nil)
	} else {
		// The previous color was scaled down: scale it up to the live color's replicas,
		// wait for that many Ready pods of its template, then plan and make the switch.
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
		replicas := max(desiredReplicas(c.Colors[c.LiveColor]), 1)
		if rec.Operation == nil {
			next := rec.clone()
			next.begin(env, verbRollback, c.LiveColor, prev)
			p.record(env, next, env.Writer.Operation(verbRollback, c.LiveColor, prev), "", nil)
		}
		p.add(Step{
			Action: StepWrite, Object: "deployment/" + target.Name, Field: "spec.replicas", From: "0", To: fmt.Sprint(replicas),
			Precondition: "resourceVersion " + target.ResourceVersion, listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				ch, err := env.scaleColor(ctx, target, replicas, verbRollback, "ScaledUpForRollback")
				if err == nil && env.Writer.Live() {
					env.report("scaled %s up to %d replicas to roll back to it; waiting for %d ready pods", target.Name, replicas, replicas)
				}
				return ch, err
			},
		})
		p.wait("deployment/"+target.Name, fmt.Sprintf("%d ready pods of its current template", replicas), func(ctx context.Context) error {
			hash, err := WaitForReady(ctx, env, target, replicas, opts.Timeout)
			if err != nil {
				return fmt.Errorf("%w; %s was scaled up but traffic stays on %s: fix and re-run `kubectl feastflow rollback %s`", err, target.Name, c.LiveColor, c.Name())
			}
			// The switch counts these pods when the Deployment's status lags behind them.
			swOpts.readyHash = map[string]string{target.Name: hash}
			return nil
		})
		p.add(Step{
			Action: StepWrite, Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: c.LiveColor, To: prev,
			Precondition: fmt.Sprintf("spec.selector.%s = %s and the release record as this run wrote it (JSON-patch test); preflighted after the wait", c.ColorKey, c.LiveColor), listed: true,
			do: func(ctx context.Context) (*Change, error) {
				sw, err := switchColor(ctx, env, swOpts, verbRollback)
				mergeSwitch(sw)
				return nil, err
			},
		})
	}
	if err := env.apply(ctx, &res, p); err != nil {
		return &res, err
	}
	res.Message = env.tell(fmt.Sprintf("%s rolled back from %s to %s", c.Name(), c.LiveColor, prev), fmt.Sprintf("would switch %s back from %s to %s", c.Name(), c.LiveColor, prev))
	if desiredReplicas(target) == 0 && !env.Writer.Live() {
		res.Message = env.tell("", fmt.Sprintf("would scale %s to %d, wait until it is available, then switch %s back to %s", target.Name, max(desiredReplicas(c.Colors[c.LiveColor]), 1), c.Name(), prev))
	}
	return &res, nil
}

// scaleColor sets a color's replicas with the operation recorded in the same patch, and
// an Event after it.
func (e *Env) scaleColor(ctx context.Context, d *appsv1.Deployment, replicas int32, verb, reason string) (*Change, error) {
	from := desiredReplicas(d)
	ch := &Change{Object: "deployment/" + d.Name, Field: "spec.replicas", From: fmt.Sprint(from), To: fmt.Sprint(replicas)}
	op := e.Writer.Operation(verb, fmt.Sprint(from), fmt.Sprint(replicas))
	patch := deepMerge(map[string]any{
		"metadata": map[string]any{"resourceVersion": d.ResourceVersion},
		"spec":     map[string]any{"replicas": replicas},
	}, audit.AnnotationPatch(op, nil))
	out, err := e.patchDeployment(ctx, d, types.MergePatchType, patch)
	if err != nil {
		return nil, err
	}
	if out != nil && e.Writer.Live() {
		*d = *out
	}
	if out != nil {
		e.warn(e.Writer.Event(ctx, e.Client, audit.Ref("Deployment", "apps/v1", out), corev1.EventTypeNormal, reason, op))
		if e.Writer.Live() {
			e.report("deployment %s scaled from %d to %d", d.Name, from, replicas)
		}
	}
	return ch, nil
}
