package strategy

import (
	"context"
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

// releaseState is where a blue-green release stands, read from the objects alone.
type releaseState struct {
	// switchedAt is when traffic last moved to the live color (zero when not recorded).
	switchedAt time.Time
	lastVerb   string
	// old is the color traffic moved away from, still scaled up and unchanged since.
	old string
	// pending are idle colors scaled up and changed since the last switch: releases that
	// wait for a switch.
	pending []string
}

// readReleaseState tells a pending release (an idle color deployed after the last
// switch) from the old color of a finished switch (scaled up, untouched since): by the
// Service's last-operation time and the time of the last spec change of each idle
// Deployment (its managedFields, which every writer updates).
func readReleaseState(c *Component) releaseState {
	var st releaseState
	if op, ok := audit.ParseOperation(c.Service.Annotations); ok && (op.Verb == verbSwitch || op.Verb == verbPromote || op.Verb == verbRollback) && op.To == c.LiveColor {
		st.switchedAt, st.lastVerb = op.Time, op.Verb
	}
	prev := c.Service.Annotations[PreviousColorAnnotation]
	for _, color := range c.IdleColors() {
		d := c.Colors[color]
		if desiredReplicas(d) == 0 {
			continue
		}
		changed := lastSpecChange(d)
		if color == prev && !st.switchedAt.IsZero() && !changed.After(st.switchedAt) {
			st.old = color
			continue
		}
		st.pending = append(st.pending, color)
	}
	return st
}

// lastSpecChange is the latest time any manager changed the Deployment (status excluded).
func lastSpecChange(d *appsv1.Deployment) time.Time {
	var t time.Time
	for _, mf := range d.ManagedFields {
		if mf.Subresource == "" && mf.Time != nil && mf.Time.After(t) {
			t = mf.Time.Time
		}
	}
	if t.IsZero() {
		t = d.CreationTimestamp.Time
	}
	return t
}

// promoteBlueGreen switches to the pending release (when there is one), waits the
// scale-down delay, asks, and scales the old color to 0. Interrupted during the delay, the
// switch stays and a re-run finishes the scale-down (the delay counts from the switch).
func promoteBlueGreen(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	res := newResult("PromoteResult", c, "promote", env)
	st := readReleaseState(c)
	switch {
	case len(st.pending) > 1:
		return nil, fmt.Errorf("component %s has %d idle colors scaled up (%v): switch to the one to promote first (`kubectl feastflow switch COLOR %s`)", c.Name(), len(st.pending), st.pending, c.Name())
	case len(st.pending) == 1:
		to := st.pending[0]
		sw, err := switchColor(ctx, env, SwitchOptions{Namespace: c.Namespace(), Component: c.Name(), Color: to, Keys: Keys{ColorKey: c.ColorKey}, Force: opts.Force, VerifyTimeout: opts.VerifyTimeout, Smoke: opts.Smoke}, verbPromote)
		if sw != nil {
			for _, sc := range sw.Components {
				res.Changes = append(res.Changes, sc.Changes...)
			}
			res.Changed = sw.Changed
		}
		if err != nil {
			return nil, err
		}
		st.old, st.switchedAt = c.LiveColor, env.now()
		if !env.Writer.Live() {
			// Nothing moved: the scale-down would act on the old color after the delay.
			res.Changes = append(res.Changes, Change{Object: "deployment/" + c.Colors[c.LiveColor].Name, Field: "spec.replicas", From: fmt.Sprint(desiredReplicas(c.Colors[c.LiveColor])), To: "0"})
			res.Message = fmt.Sprintf("dry run (%s): would switch %s to %s, then scale %s down after %s", env.Writer.DryRun, c.Name(), to, c.LiveColor, opts.ScaleDownDelay)
			return &res, nil
		}
		env.report("%s switched to %s", c.Name(), to)
	case st.old == "":
		res.Message = fmt.Sprintf("%s is promoted: %s is live and no other color is scaled up; nothing to do", c.Name(), c.LiveColor)
		return &res, nil
	}
	old := c.Colors[st.old]
	live := c.LiveColor
	if len(st.pending) == 1 {
		live = st.pending[0]
	}
	if opts.KeepOld {
		res.Message = fmt.Sprintf("%s is live on %s; %s (%s) kept scaled up (--keep-old)", c.Name(), live, st.old, old.Name)
		return &res, nil
	}
	if len(st.pending) == 0 {
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
	}
	elapsed := env.now().Sub(st.switchedAt)
	if elapsed < 0 {
		elapsed = 0 // a switch recorded by a clock ahead of ours: wait the whole delay, no more
	}
	if wait := opts.ScaleDownDelay - elapsed; wait > 0 && env.Writer.Live() {
		env.report("waiting %s before scaling %s down, so that kube-proxy on every node has stopped sending it traffic (Ctrl-C keeps the switch; re-run to finish)", wait.Round(time.Second), old.Name)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &res, fmt.Errorf("interrupted before scaling %s down: %s stays live on %s and %s keeps %d replicas; re-run `kubectl feastflow promote %s` to finish: %w", old.Name, c.Name(), live, st.old, desiredReplicas(old), c.Name(), ctx.Err())
		case <-t.C:
		}
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(fmt.Sprintf("scale %s (color %s, %s) from %d replicas to 0", old.Name, st.old, imagesText(TemplateImages(&old.Spec.Template)), desiredReplicas(old))); err != nil {
			return &res, fmt.Errorf("%w; %s is live on %s", err, c.Name(), live)
		}
	}
	ch, err := env.scaleColor(ctx, old, 0, verbPromote, "Promoted")
	if err != nil {
		return &res, err
	}
	res.Changes = append(res.Changes, *ch)
	res.Changed = env.Writer.Live()
	res.Message = fmt.Sprintf("%s promoted: %s is live, %s (%s) scaled to 0", c.Name(), live, st.old, old.Name)
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would scale %s (%s) to 0", env.Writer.DryRun, st.old, old.Name)
	}
	return &res, nil
}

// abortBlueGreen scales a pending release (an idle color deployed but not switched to)
// back to 0.
func abortBlueGreen(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	res := newResult("AbortResult", c, "abort", env)
	st := readReleaseState(c)
	if len(st.pending) == 0 {
		if st.old != "" {
			return nil, fmt.Errorf("nothing to abort on %s: traffic was already switched from %s to %s at %s; use `kubectl feastflow rollback %s` to switch back, or `promote` to finish", c.Name(), st.old, c.LiveColor, st.switchedAt.Format(time.RFC3339), c.Name())
		}
		res.Message = fmt.Sprintf("nothing to abort on %s: %s is live and no idle color is scaled up", c.Name(), c.LiveColor)
		return &res, nil
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	for _, color := range st.pending {
		d := c.Colors[color]
		if opts.Confirm != nil {
			if err := opts.Confirm(fmt.Sprintf("scale %s (idle color %s, %s) from %d replicas to 0", d.Name, color, imagesText(TemplateImages(&d.Spec.Template)), desiredReplicas(d))); err != nil {
				return &res, err
			}
		}
		ch, err := env.scaleColor(ctx, d, 0, "abort", "Aborted")
		if err != nil {
			return &res, err
		}
		res.Changes = append(res.Changes, *ch)
		res.Changed = env.Writer.Live()
	}
	res.Message = fmt.Sprintf("aborted: %v scaled to 0; %s stays live on %s", st.pending, c.Name(), c.LiveColor)
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would scale %v to 0", env.Writer.DryRun, st.pending)
	}
	return &res, nil
}

// rollbackBlueGreen switches back to the previous color recorded by the last switch,
// scaling it up first (to the live color's replicas) and waiting for it when it was
// scaled down. Re-running it after success does nothing: the Service then records a
// rollback to the live color.
func rollbackBlueGreen(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	res := newResult("RollbackResult", c, "rollback", env)
	prev := c.Service.Annotations[PreviousColorAnnotation]
	if prev == "" {
		return nil, fmt.Errorf("cannot roll back %s: service %s/%s has no %s annotation (it is written by `kubectl feastflow switch`); switch explicitly with `kubectl feastflow switch COLOR %s` (colors: %s)", c.Name(), c.Namespace(), c.Name(), PreviousColorAnnotation, c.Name(), orNoneList(c.ColorNames()))
	}
	if op, ok := audit.ParseOperation(c.Service.Annotations); ok && op.Verb == verbRollback && op.To == c.LiveColor {
		res.Message = fmt.Sprintf("%s was already rolled back to %s at %s; nothing to do (to go forward again: `kubectl feastflow switch %s %s`)", c.Name(), c.LiveColor, op.Time.Format(time.RFC3339), prev, c.Name())
		return &res, nil
	}
	if prev == c.LiveColor {
		res.Message = fmt.Sprintf("%s is already on %s; nothing to do", c.Name(), prev)
		return &res, nil
	}
	target, _, err := c.ColorDeployment(prev, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot roll back %s to %s (from %s): %w", c.Name(), prev, PreviousColorAnnotation, err)
	}
	if desiredReplicas(target) == 0 {
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
		replicas := desiredReplicas(c.Colors[c.LiveColor])
		if replicas < 1 {
			replicas = 1
		}
		ch, err := env.scaleColor(ctx, target, replicas, verbRollback, "ScaledUpForRollback")
		if err != nil {
			return nil, err
		}
		res.Changes = append(res.Changes, *ch)
		res.Changed = env.Writer.Live()
		if !env.Writer.Live() {
			res.Changes = append(res.Changes, Change{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: c.LiveColor, To: prev})
			res.Message = fmt.Sprintf("dry run (%s): would scale %s to %d, wait until it is available, then switch %s back to %s", env.Writer.DryRun, target.Name, replicas, c.Name(), prev)
			return &res, nil
		}
		env.report("scaled %s up to %d replicas to roll back to it; waiting until it is available", target.Name, replicas)
		if _, err := WaitForDeployment(ctx, env, c.Namespace(), target.Name, WaitOptions{Timeout: opts.Timeout, MinGeneration: target.Generation + 1}); err != nil {
			return &res, fmt.Errorf("%w; %s was scaled up but traffic stays on %s: fix and re-run `kubectl feastflow rollback %s`", err, target.Name, c.LiveColor, c.Name())
		}
	}
	sw, err := switchColor(ctx, env, SwitchOptions{Namespace: c.Namespace(), Component: c.Name(), Color: prev, Keys: Keys{ColorKey: c.ColorKey}, Force: opts.Force, VerifyTimeout: opts.VerifyTimeout}, verbRollback)
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
	if out != nil {
		e.warn(e.Writer.Event(ctx, e.Client, audit.Ref("Deployment", "apps/v1", out), corev1.EventTypeNormal, reason, op))
		if e.Writer.Live() {
			e.report("deployment %s scaled from %d to %d", d.Name, from, replicas)
		}
	}
	return ch, nil
}
