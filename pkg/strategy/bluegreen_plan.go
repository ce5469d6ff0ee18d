package strategy

import (
	"context"
	"fmt"
)

// steps are the switch's plan: what apply will do, from the same component plans.
func (run *switchRun) steps() []Step {
	var out []Step
	for _, p := range run.todo {
		if path := run.opts.Smoke.PathFor(p.c.Service); path != "" {
			out = append(out, Step{Action: StepCheck, Object: "deployment/" + p.target.Name,
				Detail: fmt.Sprintf("smoke test before any write: each of the %d pods service/%s will select answers GET %s through pods/proxy with 2xx", len(p.pods), p.c.Name(), path)})
		}
	}
	for _, p := range run.todo {
		pre := fmt.Sprintf("spec.selector.%s = %s and annotation %s as read (JSON-patch test)", p.c.ColorKey, p.c.LiveColor, ReleaseAnnotation)
		if p.recRaw == "" {
			pre = fmt.Sprintf("spec.selector.%s = %s and resourceVersion %s (JSON-patch test)", p.c.ColorKey, p.c.LiveColor, p.c.Service.ResourceVersion)
		}
		out = append(out, Step{Action: StepWrite, Object: "service/" + p.c.Name(), Field: "spec.selector." + p.c.ColorKey, From: p.c.LiveColor, To: p.value,
			Precondition: pre, Detail: fmt.Sprintf("with the release record in the same patch (live %s, previous %s)", p.value, orNoneText(p.c.LiveColor)), listed: true})
	}
	verify := run.opts.VerifyTimeout
	if verify <= 0 {
		verify = DefaultVerifyTimeout
	}
	for _, p := range run.todo {
		out = append(out, Step{Action: StepWait, Object: "endpointslices of service/" + p.c.Name(),
			Detail: fmt.Sprintf("they list only the %d ready pods of deployment/%s (at most %s)", p.expect.count, p.target.Name, verify)})
		if from := p.c.Colors[p.c.LiveColor]; from != nil && p.hpasListed {
			for i := range p.hpas {
				if ref := p.hpas[i].Spec.ScaleTargetRef; ref.Kind == "Deployment" && ref.Name == from.Name {
					out = append(out, Step{Action: StepWrite, Object: "horizontalpodautoscaler/" + p.hpas[i].Name, Field: "spec.scaleTargetRef.name", From: from.Name, To: p.target.Name, listed: true})
				}
			}
		}
		if path := run.opts.Smoke.PathFor(p.c.Service); path != "" {
			out = append(out, Step{Action: StepCheck, Object: "service/" + p.c.Name(), Detail: fmt.Sprintf("smoke test after the verification: GET %s through services/proxy answers 2xx", path)})
		}
	}
	return out
}

// switchSteps adds a planned switch to p: its steps, the first of which makes the whole
// switch (run.apply: the smoke tests, the patches, the verification are one call; in a
// server dry run too); done
// receives the switch's result when it made its writes.
func (p *Plan) switchSteps(env *Env, res *Result, run *switchRun, done func(*SwitchResult)) {
	steps := run.steps()
	if len(steps) == 0 {
		return
	}
	steps[0].dry = true
	steps[0].do = func(ctx context.Context) (*Change, error) {
		sw, err := run.apply(ctx, env)
		if sw != nil && env.Writer.Live() {
			for _, sc := range sw.Components {
				res.Changes = append(res.Changes, sc.Changes...)
			}
			res.Changed = res.Changed || sw.Changed
		}
		if err != nil {
			return nil, err
		}
		if done != nil {
			done(sw)
		}
		return nil, nil
	}
	p.Steps = append(p.Steps, steps...)
}
