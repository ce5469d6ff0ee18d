package strategy

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// canary: a stable and a canary track behind one Service. Its verbs live in canary.go
// (deploy, promote, abort) and canary_step.go.
type canary struct{}

// rollback of a canary is its abort: the stable track takes all the traffic back.
func (k canary) rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	return k.abort(ctx, env, c, AbortOptions{Timeout: opts.Timeout})
}

func (canary) serving(c *Component) *appsv1.Deployment { return c.Stable }

// scaleTargets keeps the weight: the total is split as canary-step would, the side that
// gains pods first. A step in progress must be completed first.
func (canary) scaleTargets(c *Component, replicas int32) ([]scaleTarget, string, error) {
	st, err := readCanaryState(c)
	if err != nil {
		return nil, "", err
	}
	if st.Phase == canaryPhaseStepping {
		return nil, "", fmt.Errorf("component %s: a canary step to %d %% is in progress (annotation %s): complete it with `kubectl feastflow canary-step %s` (or abort) before scaling", c.Name(), st.Weight, ReleaseAnnotation, c.Name())
	}
	plan, err := planCanary(replicas, setWeight(c))
	if err != nil {
		return nil, "", fmt.Errorf("component %s: %w", c.Name(), err)
	}
	// Grow first: the side that gains pods is patched before the side that loses them.
	if c.Canary != nil && plan.Canary > desiredReplicas(c.Canary) {
		return []scaleTarget{{c.Canary, plan.Canary}, {c.Stable, plan.Stable}}, plan.Note, nil
	}
	targets := []scaleTarget{{c.Stable, plan.Stable}}
	if c.Canary != nil {
		targets = append(targets, scaleTarget{c.Canary, plan.Canary})
	}
	return targets, plan.Note, nil
}

func (canary) role(c *Component, d *appsv1.Deployment) string {
	switch d {
	case c.Stable:
		return TrackStable
	case c.Canary:
		return TrackCanary
	}
	return ""
}

func (canary) describe(c *Component, rec *Release, cs *ComponentStatus, role, _ map[string]string) {
	w := &CanaryWeight{}
	if rec != nil && rec.Weight != nil {
		n := *rec.Weight
		w.SetWeight = &n
	}
	if c.Stable != nil {
		role[c.Stable.Name] = TrackStable
		w.ReadyTotal += int(c.Stable.Status.ReadyReplicas)
	}
	if c.Canary != nil {
		role[c.Canary.Name] = TrackCanary
		w.ReadyCanary = int(c.Canary.Status.ReadyReplicas)
		w.ReadyTotal += w.ReadyCanary
	}
	if w.ReadyTotal > 0 {
		w.ActualWeight = (w.ReadyCanary*100 + w.ReadyTotal/2) / w.ReadyTotal
	}
	if steps, err := CanarySteps(c, nil); err == nil {
		w.Steps = steps
	}
	if a, err := traffic.Recorded(c.Service); err != nil {
		cs.Warnings = append(cs.Warnings, err.Error())
	} else {
		w.Analysis = a
	}
	cs.Canary = w
}

// migrate: the weight, a step in progress and the health baseline come from the
// canary-weight and canary-state annotations of older versions.
func (canary) migrate(c *Component, r *Release) {
	ann := c.Service.Annotations
	r.Phase = PhaseCanary
	if raw, ok := ann[CanaryWeightAnnotation]; ok {
		if w, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(raw, "%"))); err == nil && w >= 0 && w <= 100 {
			r.Weight = &w
		}
	}
	if st := legacyCanaryState(ann); st != nil {
		w := st.Weight
		if st.Phase == canaryPhaseStepping {
			r.Operation = &ReleaseOperation{Verb: st.Verb, Target: fmt.Sprintf("%d%%", st.Weight), FromWeight: st.From, Weight: st.Weight, Total: st.Total, Stable: st.Stable, Canary: st.Canary, Forced: st.Forced}
			if r.Weight == nil {
				r.Weight = &st.From
			}
		} else if r.Weight == nil {
			r.Weight = &w
		}
		if !st.Since.IsZero() || len(st.Restarts) > 0 {
			r.Health = &CanaryBaseline{Since: st.Since, Restarts: st.Restarts}
		}
	}
	if r.Weight == nil {
		w := specWeight(c)
		r.Weight = &w
	}
	if *r.Weight == 0 && r.Operation == nil {
		r.Phase = PhasePromoted
	}
}

func (canary) smokeLeft(c *Component, res *DeployResult) string {
	return fmt.Sprintf("canary deployment/%s runs %s and takes its share of traffic: `kubectl feastflow abort %s` retires it", res.Deployment, imagesText(res.Images), c.Name())
}

func (canary) recorded() bool { return true }

func (canary) recordWarnings(*Component, *Release) []string { return nil }

// refuseAutoscale: an HPA on the stable track would fight canary-step.
func (canary) refuseAutoscale(c *Component) error {
	if c.Canary != nil && desiredReplicas(c.Canary) > 0 {
		return fmt.Errorf("component %s: a canary is in progress (deployment/%s has %d replicas): an HPA on the stable track would fight canary-step; promote or abort first, then autoscale", c.Name(), c.Canary.Name, desiredReplicas(c.Canary))
	}
	return nil
}

func (canary) autoscaled(context.Context, *Env, *Component) {}
