package strategy

import (
	"context"

	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// blueGreen: two colors behind one Service selector. Its verbs live in bluegreen.go
// (promote, abort, rollback) and bluegreen_deploy.go (deploy); the switch in
// bluegreen_switch.go.
type blueGreen struct{}

func (blueGreen) serving(c *Component) *appsv1.Deployment { return c.Colors[c.LiveColor] }

// scaleTargets: the live color, and every idle color that is up (so that a switch never
// lands on a smaller fleet).
func (blueGreen) scaleTargets(c *Component, replicas int32) ([]scaleTarget, string, error) {
	live := c.Colors[c.LiveColor]
	if live == nil {
		return nil, "", fmt.Errorf("component %s: no deployment carries the live color %s=%s: fix the service selector or deploy that color first", c.Name(), c.ColorKey, c.LiveColor)
	}
	targets := []scaleTarget{{live, replicas}}
	for _, color := range c.IdleColors() {
		if d := c.Colors[color]; desiredReplicas(d) > 0 {
			targets = append(targets, scaleTarget{d, replicas})
		}
	}
	return targets, "", nil
}

func (blueGreen) role(c *Component, d *appsv1.Deployment) string {
	color := d.Spec.Template.Labels[c.ColorKey]
	if color == c.LiveColor {
		return color + " (live)"
	}
	return color
}

func (blueGreen) describe(c *Component, rec *Release, cs *ComponentStatus, role, color map[string]string) {
	cs.ColorKey, cs.LiveColor, cs.IdleColors = c.ColorKey, c.LiveColor, c.IdleColors()
	if rec != nil {
		cs.PreviousColor = rec.Previous
	}
	for k, d := range c.Colors {
		color[d.Name] = k
		role[d.Name] = "idle"
		if k == c.LiveColor {
			role[d.Name] = "live"
		}
	}
}

// migrate: live is the selector's color, previous the previous-color annotation; the
// phase is "switched" when the last operation recorded a move of traffic to the live
// color, and a scaled-up idle color other than the previous one is taken as pending.
func (blueGreen) migrate(c *Component, r *Release) {
	r.Live, r.Previous = c.LiveColor, c.Service.Annotations[PreviousColorAnnotation]
	switched := r.Last != nil && r.Last.To == c.LiveColor && (r.Last.Verb == verbSwitch || r.Last.Verb == verbPromote || r.Last.Verb == verbRollback)
	if switched {
		t := r.Last.Time
		r.SwitchedAt = &t
	}
	for _, color := range c.IdleColors() {
		if desiredReplicas(c.Colors[color]) > 0 && (!switched || color != r.Previous) && r.Pending == "" {
			r.Pending = color
		}
	}
	prevUp := r.Previous != "" && c.Colors[r.Previous] != nil && desiredReplicas(c.Colors[r.Previous]) > 0
	switch {
	case r.Pending != "":
		r.Phase = PhaseDeployed
	case switched && prevUp && r.Last.Verb == verbRollback:
		r.Phase = PhaseRolledBack
	case switched && prevUp:
		r.Phase = PhaseSwitched
	default:
		r.Phase = PhasePromoted
	}
}

func (blueGreen) smokeLeft(c *Component, res *DeployResult) string {
	return fmt.Sprintf("deployment/%s (%s) runs %s and no traffic moved (live color still %s): fix and deploy again, or `kubectl feastflow abort %s` to scale it to 0", res.Deployment, res.Color, imagesText(res.Images), c.LiveColor, c.Name())
}

func (blueGreen) recorded() bool { return true }

// recordWarnings: the selector against the record's live color, and the live color's
// identity and template against those recorded at the switch.
func (blueGreen) recordWarnings(c *Component, rec *Release) []string {
	var out []string
	if rec.Live != "" && rec.Live != c.LiveColor {
		msg := fmt.Sprintf("the service selects %s=%s but the release record says %s is live: the selector was changed outside kubectl feastflow", c.ColorKey, c.LiveColor, rec.Live)
		if who := lastServiceManager(c.Service); who != "" {
			msg += " (" + who + ")"
		}
		out = append(out, msg)
	}
	if w, ok := rec.Workloads[c.LiveColor]; ok && rec.Live == c.LiveColor {
		if d := Drift(w, c.Colors[c.LiveColor]); d != "" {
			out = append(out, fmt.Sprintf("live color %s: %s: it no longer runs the release switched to; promote refuses until it is rolled back or promoted with --force", c.LiveColor, d))
		}
	}
	return out
}

func (blueGreen) refuseAutoscale(*Component) error { return nil }

// autoscaled resets what the release record saw of the autoscalers (Release.Autoscalers),
// so that the next switch lists them and moves the new or changed one with the traffic. A
// failure is a warning: the HPA is written; the next switch would then not move it.
func (blueGreen) autoscaled(ctx context.Context, env *Env, c *Component) {
	if !env.Writer.Live() {
		return
	}
	rec, err := c.Release()
	if err != nil || rec.Autoscalers == nil {
		return
	}
	next := rec.clone()
	next.Autoscalers = nil
	if err := writeRelease(ctx, env, c, next, nil, ""); err != nil {
		env.report("warning: the release record of %s still says which autoscalers it saw (%v): the next switch may not move the new one; run autoscale again", c.Name(), err)
	}
}
