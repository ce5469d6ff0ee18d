package strategy

import (
	"context"
	"fmt"
	"strings"
)

// smokeBeforeSwitch runs the smoke test (when one is configured) on every pod each switch
// will send traffic to, through pods/proxy, after the preflight and before any write. Any
// pod not answering 2xx refuses the whole switch: nothing is written.
func smokeBeforeSwitch(ctx context.Context, env *Env, opts SwitchOptions, plans []*switchPlan) error {
	var problems []string
	for _, p := range plans {
		if p.noop || opts.Smoke.PathFor(p.c.Service) == "" {
			continue
		}
		rep, err := opts.Smoke.Pods(ctx, p.c.Service, p.pods)
		if rep != nil {
			p.out.Smoke = append(p.out.Smoke, *rep)
			env.report("%s: %s", p.c.Name(), rep.Describe())
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p.c.Name(), err))
		}
	}
	if len(problems) > 0 {
		return &PreflightError{Color: opts.Color, Problems: problems}
	}
	return nil
}

// smokeAfterSwitch runs the smoke test through services/proxy once the endpoints were
// verified. A failure leaves the switch in place and says how to go back.
func smokeAfterSwitch(ctx context.Context, env *Env, opts SwitchOptions, plans []*switchPlan) error {
	var problems []string
	for _, p := range plans {
		if opts.Smoke.PathFor(p.c.Service) == "" {
			continue
		}
		rep, err := opts.Smoke.Service(ctx, p.c.Service)
		if rep != nil {
			p.out.Smoke = append(p.out.Smoke, *rep)
			env.report("%s: %s", p.c.Name(), rep.Describe())
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%v: go back with `kubectl feastflow rollback %s`", err, p.c.Name()))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
