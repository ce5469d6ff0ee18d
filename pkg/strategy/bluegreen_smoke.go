package strategy

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// smokeBeforeSwitch runs the smoke test (when one is configured) on every pod each switch
// will send traffic to, through pods/proxy, after the preflight and before any write. Any
// pod not answering 2xx refuses the whole switch: nothing is written. The Services are
// tested at once, as each Service's pods are, so the stage costs one round trip and the
// slowest answer however many components switch.
func smokeBeforeSwitch(ctx context.Context, env *Env, opts SwitchOptions, plans []*switchPlan) error {
	var todo []*switchPlan
	for _, p := range plans {
		if !p.noop && opts.Smoke.PathFor(p.c.Service) != "" {
			todo = append(todo, p)
		}
	}
	problems := smokeEach(env, todo, func(p *switchPlan) (*traffic.SmokeReport, error) {
		return opts.Smoke.Pods(ctx, p.c.Service, p.pods)
	}, func(p *switchPlan, err error) string { return fmt.Sprintf("%s: %v", p.c.Name(), err) })
	if len(problems) > 0 {
		return &PreflightError{Color: opts.Color, Problems: problems}
	}
	return nil
}

// smokeAfterSwitch runs the smoke test through services/proxy once the endpoints were
// verified, every Service at once. A failure leaves the switch in place and says how to go
// back.
func smokeAfterSwitch(ctx context.Context, env *Env, opts SwitchOptions, plans []*switchPlan) error {
	var todo []*switchPlan
	for _, p := range plans {
		if opts.Smoke.PathFor(p.c.Service) != "" {
			todo = append(todo, p)
		}
	}
	problems := smokeEach(env, todo, func(p *switchPlan) (*traffic.SmokeReport, error) {
		return opts.Smoke.Service(ctx, p.c.Service)
	}, func(p *switchPlan, err error) string {
		return fmt.Sprintf("%v: go back with `kubectl feastflow rollback %s`", err, p.c.Name())
	})
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// smokeEach runs one smoke stage on every plan in parallel, adds each report to its plan's
// result in the plans' order, and returns the problems in that order.
func smokeEach(env *Env, plans []*switchPlan, stage func(*switchPlan) (*traffic.SmokeReport, error), problem func(*switchPlan, error) string) []string {
	reps := make([]*traffic.SmokeReport, len(plans))
	errs := make([]error, len(plans))
	var wg sync.WaitGroup
	for i, p := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = stage(p)
		}()
	}
	wg.Wait()
	var problems []string
	for i, p := range plans {
		if reps[i] != nil {
			p.out.Smoke = append(p.out.Smoke, *reps[i])
			env.report("%s: %s", p.c.Name(), reps[i].Describe())
		}
		if errs[i] != nil {
			problems = append(problems, problem(p, errs[i]))
		}
	}
	return problems
}
