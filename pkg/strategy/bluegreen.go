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
	var old, live string
	var switchedAt time.Time
	justSwitched := false
	readyEndpoints := 0 // the live color's ready endpoints, as the switch verified them
	switch {
	case rec.Phase == PhaseDeployed && rec.Pending != "" && rec.Pending != c.LiveColor:
		to := rec.Pending
		if c.Colors[to] == nil {
			return nil, fmt.Errorf("the release record of %s names %s as deployed, but no deployment carries %s=%s (colors: %s): deploy it again or abort", c.Name(), to, c.ColorKey, to, orNoneList(c.ColorNames()))
		}
		old, live = c.LiveColor, to
		var after *corev1.Service
		sw, err := switchColor(ctx, env, SwitchOptions{
			Namespace: c.Namespace(), Component: c.Name(), Color: to, Keys: Keys{ColorKey: c.ColorKey}, Force: opts.Force, VerifyTimeout: opts.VerifyTimeout, Smoke: opts.Smoke,
			record: func(r *Release) {
				r.Phase = PhasePromoting
				r.begin(env, verbPromote, old, old+"=0")
			},
			switched: func(s *corev1.Service) { after = s },
			held:     c,
		}, verbPromote)
		if sw != nil {
			for _, sc := range sw.Components {
				res.Changes = append(res.Changes, sc.Changes...)
				readyEndpoints = sc.ReadyEndpoints
			}
			res.Changed = sw.Changed
		}
		if err != nil {
			return nil, err
		}
		justSwitched, switchedAt = true, env.now()
		if !env.Writer.Live() {
			// Nothing moved: the scale-down would act on the old color after the delay.
			res.Changes = append(res.Changes, Change{Object: "deployment/" + c.Colors[old].Name, Field: "spec.replicas", From: fmt.Sprint(desiredReplicas(c.Colors[old])), To: "0"})
			res.Message = fmt.Sprintf("dry run (%s): would switch %s to %s, then scale %s down after %s", env.Writer.DryRun, c.Name(), to, old, opts.ScaleDownDelay)
			return &res, nil
		}
		env.report("%s switched to %s", c.Name(), to)
		// Go on from the Service as the switch left it (its record says promoting).
		if after == nil {
			return &res, fmt.Errorf("switch of %s reported no service", c.Name())
		}
		c.Service, c.LiveColor = after, to
		if rec, err = c.Release(); err != nil {
			return &res, err
		}
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
	if !justSwitched && !opts.Force {
		if w, ok := rec.Workloads[live]; ok {
			if d := Drift(w, liveD); d != "" {
				return nil, fmt.Errorf("promote of %s refused, nothing changed: the live color %s no longer runs the release switched to: %s; roll back with `kubectl feastflow rollback %s` (to %s), or promote what %s runs now with --force", c.Name(), live, d, c.Name(), orNoneText(old), live)
			}
		}
	}
	if old == "" || old == live || oldD == nil || desiredReplicas(oldD) == 0 {
		if rec.Phase == PhasePromoted || !env.Writer.Live() {
			res.Message = fmt.Sprintf("%s is promoted: %s is live and the old color has no replicas; nothing to do", c.Name(), live)
			return &res, nil
		}
		next := rec.clone()
		next.Phase, next.Operation = PhasePromoted, nil
		if err := finishRelease(ctx, env, c, next, rec.Operation); err != nil {
			return &res, err
		}
		res.Message = fmt.Sprintf("%s is promoted: %s is live and %s has no replicas; recorded", c.Name(), live, orNoneText(old))
		return &res, nil
	}
	if opts.KeepOld {
		res.Message = fmt.Sprintf("%s is live on %s; %s (%s) kept scaled up (--keep-old)", c.Name(), live, old, oldD.Name)
		return &res, nil
	}
	if !justSwitched {
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
	}
	if !env.Writer.Live() {
		res.Changes = append(res.Changes, Change{Object: "deployment/" + oldD.Name, Field: "spec.replicas", From: fmt.Sprint(desiredReplicas(oldD)), To: "0"})
		res.Message = fmt.Sprintf("dry run (%s): would scale %s (%s) to 0", env.Writer.DryRun, old, oldD.Name)
		return &res, nil
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(fmt.Sprintf("scale %s (color %s, %s) from %d replicas to 0", oldD.Name, old, imagesText(TemplateImages(&oldD.Spec.Template)), desiredReplicas(oldD))); err != nil {
			return &res, fmt.Errorf("%w; %s is live on %s", err, c.Name(), live)
		}
	}
	started := rec.Operation
	if started == nil || started.Verb != verbPromote {
		next := rec.clone()
		next.Phase = PhasePromoting
		started = next.begin(env, verbPromote, old, old+"=0")
		op := env.Writer.Operation(verbPromote, old, live)
		if err := writeRelease(ctx, env, c, next, &op, ""); err != nil {
			return nil, err
		}
		rec = next
	}
	oldPlanned, livePlanned := oldD.DeepCopy(), liveD.DeepCopy()
	startReady := readyReplicas(liveD)
	elapsed := env.now().Sub(switchedAt)
	if elapsed < 0 {
		elapsed = 0 // a switch recorded by a clock ahead of ours: wait the whole delay, no more
	}
	waited := false
	if wait := opts.ScaleDownDelay - elapsed; wait > 0 {
		env.report("waiting %s before scaling %s down, so that kube-proxy on every node has stopped sending it traffic (Ctrl-C keeps the switch; re-run to finish)", wait.Round(time.Second), oldD.Name)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &res, fmt.Errorf("interrupted before scaling %s down: %s stays live on %s and %s keeps %d replicas; re-run `kubectl feastflow promote %s` to finish: %w", oldD.Name, c.Name(), live, old, desiredReplicas(oldD), c.Name(), ctx.Err())
		case <-t.C:
		}
		waited = true
	}
	stopped := fmt.Sprintf("%s is live on %s and %s keeps its replicas; re-run `kubectl feastflow promote %s` once it is settled", c.Name(), live, oldD.Name, c.Name())
	cut := oldD
	if waited {
		// Check before the cut: the Service still selects the live color, neither color
		// changed since the plan, and the live color has no fewer ready pods than at the start.
		svc, now, err := reread(ctx, env, c, oldD.Name, liveD.Name)
		if err != nil {
			return &res, err
		}
		if got := svc.Spec.Selector[c.ColorKey]; got != live {
			return &res, &ForeignChangeError{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: live, To: got, Manager: lastServiceManager(svc), Done: fmt.Sprintf("%s not scaled down", oldD.Name)}
		}
		for _, chk := range []*appsv1.Deployment{oldPlanned, livePlanned} {
			if err := checkUnchanged(chk, now[chk.Name], desiredReplicas(chk)); err != nil {
				err.(*ForeignChangeError).Done = stopped
				return &res, err
			}
		}
		if got := readyReplicas(now[liveD.Name]); got < startReady {
			return &res, fmt.Errorf("the live color %s (%s) has %d ready pods, fewer than the %d when promote started: %s", live, liveD.Name, got, startReady, stopped)
		}
		c.Service, cut = svc, now[oldD.Name]
	} else if justSwitched && readyEndpoints < int(startReady) {
		// No time passed since the plan, so its reads still answer (the Service is the
		// one the record write or the switch returned; the cut tests the old color's
		// generation): only the live color's ready count is taken from the verification,
		// which saw the live pods ready behind the Service just now.
		return &res, fmt.Errorf("the live color %s (%s) has %d ready endpoints, fewer than the %d ready pods when promote started: %s", live, liveD.Name, readyEndpoints, startReady, stopped)
	}
	ch, err := scaleGuarded(ctx, env, cut, 0, verbPromote, "Promoted")
	var conflict *ConflictError
	if err != nil && !waited && errors.As(err, &conflict) {
		// The old color changed since the plan: read it to name the change and who made it.
		if _, now, rerr := reread(ctx, env, c, oldD.Name); rerr == nil {
			if ferr := checkUnchanged(oldPlanned, now[oldD.Name], desiredReplicas(oldPlanned)); ferr != nil {
				ferr.(*ForeignChangeError).Done = stopped
				return &res, ferr
			}
		}
	}
	if err != nil {
		return &res, err
	}
	if ch != nil {
		res.Changes = append(res.Changes, *ch)
	}
	res.Changed = true
	next := rec.clone()
	next.Phase, next.Operation = PhasePromoted, nil
	next.recordWorkload(env, old, cut, "")
	if err := finishRelease(ctx, env, c, next, started); err != nil {
		return &res, err
	}
	res.Message = fmt.Sprintf("%s promoted: %s is live, %s (%s) scaled to 0", c.Name(), live, old, oldD.Name)
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
	if !env.Writer.Live() {
		res.Changes = append(res.Changes, Change{Object: "deployment/" + d.Name, Field: "spec.replicas", From: fmt.Sprint(desiredReplicas(d)), To: "0"})
		res.Message = fmt.Sprintf("dry run (%s): would scale %s (%s) to 0", env.Writer.DryRun, pending, d.Name)
		return &res, nil
	}
	planned := d.DeepCopy()
	next := rec.clone()
	started := next.begin(env, "abort", pending, pending+"=0")
	op := env.Writer.Operation("abort", pending, c.LiveColor)
	if err := writeRelease(ctx, env, c, next, &op, ""); err != nil {
		return nil, err
	}
	svc, now, err := reread(ctx, env, c, d.Name)
	if err != nil {
		return &res, err
	}
	if got := svc.Spec.Selector[c.ColorKey]; got == pending {
		return &res, &ForeignChangeError{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: c.LiveColor, To: got, Manager: lastServiceManager(svc), Done: d.Name + " not scaled down: it takes traffic now"}
	}
	if err := checkUnchanged(planned, now[d.Name], desiredReplicas(planned)); err != nil {
		err.(*ForeignChangeError).Done = fmt.Sprintf("%s not scaled down; re-run `kubectl feastflow abort %s` once it is settled", d.Name, c.Name())
		return &res, err
	}
	ch, err := scaleGuarded(ctx, env, now[d.Name], 0, "abort", "Aborted")
	if err != nil {
		return &res, err
	}
	if ch != nil {
		res.Changes = append(res.Changes, *ch)
	}
	res.Changed = true
	done := next.clone()
	done.Phase, done.Pending, done.Operation = PhaseAborted, "", nil
	if err := finishRelease(ctx, env, c, done, started); err != nil {
		return &res, err
	}
	res.Message = fmt.Sprintf("aborted: %s (%s) scaled to 0; %s stays live on %s", pending, d.Name, c.Name(), c.LiveColor)
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
	var readyHash map[string]string
	if desiredReplicas(target) == 0 {
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
		replicas := desiredReplicas(c.Colors[c.LiveColor])
		if replicas < 1 {
			replicas = 1
		}
		if !env.Writer.Live() {
			res.Changes = append(res.Changes,
				Change{Object: "deployment/" + target.Name, Field: "spec.replicas", From: "0", To: fmt.Sprint(replicas)},
				Change{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: c.LiveColor, To: prev})
			res.Message = fmt.Sprintf("dry run (%s): would scale %s to %d, wait until it is available, then switch %s back to %s", env.Writer.DryRun, target.Name, replicas, c.Name(), prev)
			return &res, nil
		}
		if rec.Operation == nil {
			next := rec.clone()
			next.begin(env, verbRollback, c.LiveColor, prev)
			op := env.Writer.Operation(verbRollback, c.LiveColor, prev)
			if err := writeRelease(ctx, env, c, next, &op, ""); err != nil {
				return nil, err
			}
		}
		ch, err := env.scaleColor(ctx, target, replicas, verbRollback, "ScaledUpForRollback")
		if err != nil {
			return nil, err
		}
		res.Changes = append(res.Changes, *ch)
		res.Changed = true
		env.report("scaled %s up to %d replicas to roll back to it; waiting for %d ready pods", target.Name, replicas, replicas)
		hash, err := WaitForReady(ctx, env, target, replicas, opts.Timeout)
		if err != nil {
			return &res, fmt.Errorf("%w; %s was scaled up but traffic stays on %s: fix and re-run `kubectl feastflow rollback %s`", err, target.Name, c.LiveColor, c.Name())
		}
		// The switch counts these pods when the Deployment's status lags behind them.
		readyHash = map[string]string{target.Name: hash}
	}
	swOpts := SwitchOptions{Namespace: c.Namespace(), Component: c.Name(), Color: prev, Keys: Keys{ColorKey: c.ColorKey}, Force: opts.Force, VerifyTimeout: opts.VerifyTimeout, readyHash: readyHash}
	// Plan the switch on the component as held: as read, or as this run wrote it (the
	// record, the target's replicas); the target's status is older than its pods, which
	// the switch then lists and counts by the hash the wait ended on (readyHash).
	swOpts.held = c
	sw, err := switchColor(ctx, env, swOpts, verbRollback)
	if sw != nil {
		for _, sc := range sw.Components {
			res.Changes = append(res.Changes, sc.Changes...)
		}
		res.Changed = res.Changed || sw.Changed
	}
	if err != nil {
		return &res, err
	}
	res.Message = fmt.Sprintf("%s rolled back from %s to %s", c.Name(), c.LiveColor, prev)
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would switch %s back from %s to %s", env.Writer.DryRun, c.Name(), c.LiveColor, prev)
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
