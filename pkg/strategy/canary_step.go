package strategy

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// CanaryStateAnnotation on a canary Service was the step record of older versions; the
// release record (ReleaseAnnotation) replaces it and is migrated from it.
const CanaryStateAnnotation = "feastflow.dev/canary-state"

const (
	canaryPhaseStepping = "stepping"
	canaryPhaseDone     = "done"
)

// DefaultCanarySteps are the canary weights, in percent, when neither --steps nor the
// Service's feastflow.dev/canary-steps annotation says otherwise.
func DefaultCanarySteps() []int { return []int{10, 25, 50, 100} }

// canaryState is the canary part of the release record as the step logic uses it (and the
// JSON of the older CanaryStateAnnotation).
type canaryState struct {
	Phase  string `json:"phase"`
	Verb   string `json:"verb"`
	From   int    `json:"from"`
	Weight int    `json:"weight"`
	Total  int32  `json:"total"`
	Stable int32  `json:"stable"`
	Canary int32  `json:"canary"`
	Forced bool   `json:"forced,omitempty"`
	// Since and Restarts are the health baseline after the last completed step.
	Since    time.Time        `json:"since,omitempty"`
	Restarts map[string]int32 `json:"restarts,omitempty"`
}

// readCanaryState is the canary view of the component's release record: "stepping" while
// an operation is recorded in progress, else "done" at the weight set.
func readCanaryState(c *Component) (*canaryState, error) {
	rec, err := c.Release()
	if err != nil {
		return nil, err
	}
	st := &canaryState{Phase: canaryPhaseDone, Weight: rec.WeightSet()}
	if rec.Health != nil {
		st.Since, st.Restarts = rec.Health.Since, rec.Health.Restarts
	}
	if op := rec.Operation; op != nil {
		st.Phase, st.Verb, st.From, st.Weight = canaryPhaseStepping, op.Verb, op.FromWeight, op.Weight
		st.Total, st.Stable, st.Canary, st.Forced = op.Total, op.Stable, op.Canary, op.Forced
	}
	return st, nil
}

// ValidateWeight checks a --weight value (no I/O).
func ValidateWeight(w int) error {
	if w < 0 || w > 100 {
		return fmt.Errorf("invalid weight %d: must be between 0 and 100 (percent of the pods that are canary)", w)
	}
	return nil
}

// ParseSteps parses a step list such as "10,25,50,100": weights between 1 and 100, strictly
// increasing.
func ParseSteps(s string) ([]int, error) {
	var steps []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), "%"))
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("invalid steps %q: %q is not a whole number of percent (want e.g. 10,25,50,100)", s, part)
		}
		if n < 1 || n > 100 {
			return nil, fmt.Errorf("invalid steps %q: %d is not between 1 and 100", s, n)
		}
		if len(steps) > 0 && n <= steps[len(steps)-1] {
			return nil, fmt.Errorf("invalid steps %q: steps must increase (%d after %d)", s, n, steps[len(steps)-1])
		}
		steps = append(steps, n)
	}
	return steps, nil
}

// CanarySteps returns the component's steps: the given ones, else the Service's
// feastflow.dev/canary-steps annotation, else DefaultCanarySteps.
func CanarySteps(c *Component, override []int) ([]int, error) {
	if len(override) > 0 {
		return override, nil
	}
	if raw, ok := c.Service.Annotations[CanaryStepsAnnotation]; ok && strings.TrimSpace(raw) != "" {
		steps, err := ParseSteps(raw)
		if err != nil {
			return nil, fmt.Errorf("service %s/%s annotation %s: %w", c.Namespace(), c.Name(), CanaryStepsAnnotation, err)
		}
		return steps, nil
	}
	return DefaultCanarySteps(), nil
}

// setWeight is the canary weight last set: the release record's, or else (no record, no
// older annotation) the share of canary replicas in the Deployments' specs.
func setWeight(c *Component) int {
	if rec, err := c.Release(); err == nil && rec.Weight != nil {
		return *rec.Weight
	}
	return specWeight(c)
}

// specWeight is the share of canary replicas in the Deployments' specs, in percent.
func specWeight(c *Component) int {
	total := desiredReplicas(c.Stable) + desiredReplicas(c.Canary)
	if total == 0 || c.Canary == nil {
		return 0
	}
	return int(math.Round(float64(desiredReplicas(c.Canary)) * 100 / float64(total)))
}

// CanaryPlan is how a weight maps onto the pods of a component.
type CanaryPlan struct {
	// Weight is the weight asked for, in percent.
	Weight int   `json:"weight"`
	Total  int32 `json:"total"`
	Stable int32 `json:"stable"`
	Canary int32 `json:"canary"`
	// ActualWeight is the canary share of the pods, in percent (rounded to one decimal).
	ActualWeight float64 `json:"actualWeight"`
	// Note explains why ActualWeight differs from Weight, when it does.
	Note string `json:"note,omitempty"`
}

// planCanary maps a weight onto total pods: canary = round(total × weight / 100), at least
// 1 when the weight is above 0; the stable track gets the rest. It refuses a weight below
// 100 that would leave the stable track with no pod (the canary would take all traffic).
func planCanary(total int32, weight int) (CanaryPlan, error) {
	p := CanaryPlan{Weight: weight, Total: total}
	if total <= 0 {
		return p, fmt.Errorf("the component has 0 replicas: scale it first (kubectl feastflow scale COMPONENT --replicas N)")
	}
	exact := float64(total) * float64(weight) / 100
	switch {
	case weight <= 0:
		p.Canary = 0
	case weight >= 100:
		p.Canary = total
	default:
		p.Canary = int32(math.Round(exact))
		if p.Canary < 1 {
			p.Canary = 1
		}
		if p.Canary > total {
			p.Canary = total
		}
	}
	p.Stable = total - p.Canary
	p.ActualWeight = math.Round(float64(p.Canary)*1000/float64(total)) / 10
	if weight > 0 && weight < 100 && p.Stable == 0 {
		return p, fmt.Errorf("%d %% of %d pods leaves the stable track with no pod, so the canary would take all traffic: scale the component up first (kubectl feastflow scale COMPONENT --replicas N) or go to --weight 100", weight, total)
	}
	if p.ActualWeight != float64(weight) {
		why := fmt.Sprintf("rounded to %d", p.Canary)
		if exact < 1 && p.Canary == 1 {
			why = "raised to 1 (a canary above 0 % keeps at least one pod)"
		}
		p.Note = fmt.Sprintf("%d %% of %d pods is %s pods, %s: the actual weight is %s %% (%d canary, %d stable)",
			weight, total, strconv.FormatFloat(exact, 'f', -1, 64), why, strconv.FormatFloat(p.ActualWeight, 'f', -1, 64), p.Canary, p.Stable)
	}
	return p, nil
}

// CanaryStepOptions tune CanaryStep.
type CanaryStepOptions struct {
	// Weight is the weight to go to, in percent; negative: the next step.
	Weight int
	// Steps override the Service's annotation and the defaults.
	Steps []int
	// Force skips the health gate; the skip is recorded.
	Force bool
	// Timeout bounds the wait for the canary's pods (0: until ctx ends).
	Timeout time.Duration
}

// CanaryStepResult reports a canary step.
type CanaryStepResult struct {
	Result `json:",inline"`
	// FromWeight is the weight set before the step.
	FromWeight int        `json:"fromWeight"`
	Plan       CanaryPlan `json:"plan"`
	Steps      []int      `json:"steps"`
	// Resumed is true when the run completed a step that an interrupted run had recorded.
	Resumed bool        `json:"resumed,omitempty"`
	Gate    *HealthGate `json:"healthGate,omitempty"`
	// Analysis is the canary analysis that let the step go (set by the caller that ran it).
	Analysis *traffic.AnalysisResult `json:"analysis,omitempty"`
}

// CanaryStep moves a canary component to the next step of its list, or to opts.Weight:
// it checks the canary's health, records the target on the Service, scales up the track
// that gains pods, waits until its new pods are Ready, then scales down the other, keeping
// the total. A step that an earlier run recorded but did not finish is completed first.
func CanaryStep(ctx context.Context, env *Env, c *Component, opts CanaryStepOptions) (*CanaryStepResult, error) {
	if c.Strategy != Canary {
		return nil, WrongStrategyError(c, Canary)
	}
	if c.Canary == nil {
		return nil, noCanaryError(c)
	}
	steps, err := CanarySteps(c, opts.Steps)
	if err != nil {
		return nil, err
	}
	res := &CanaryStepResult{Result: *newRolloutResult("CanaryStepResult", "canary-step", c, env), Steps: steps}
	st, err := readCanaryState(c)
	if err != nil {
		return nil, err
	}
	if st.Phase == canaryPhaseStepping && (st.Verb == "promote" || st.Verb == "abort") {
		return nil, stepInProgressError(c, st)
	}
	if st.Phase == canaryPhaseStepping {
		res.Resumed, res.FromWeight = true, st.From
		res.Plan, _ = planCanary(st.Total, st.Weight)
		res.Plan.Stable, res.Plan.Canary = st.Stable, st.Canary
		env.report("resuming the interrupted %s of %s to %d %% recorded on service/%s: %d canary, %d stable", st.Verb, c.Name(), st.Weight, c.Name(), st.Canary, st.Stable)
		if err := CheckWindowFor(ctx, env, c); err != nil {
			return nil, err
		}
		p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow canary-step %s` to complete the step, or abort", c.Name()))
		p.canaryTracks(env, &res.Result, res.Plan, st.Verb, opts.Timeout)
		p.canaryDone(env, st, "")
		if err := env.apply(ctx, &res.Result, p); err != nil {
			return res, err
		}
		res.Message = fmt.Sprintf("completed the interrupted step of %s to %d %%: %d canary, %d stable", c.Name(), st.Weight, st.Canary, st.Stable)
		if opts.Weight >= 0 && opts.Weight != st.Weight {
			res.Message += fmt.Sprintf("; run canary-step --weight %d again to go on", opts.Weight)
		}
		return res, nil
	}

	from := setWeight(c)
	res.FromWeight = from
	target := opts.Weight
	if target < 0 {
		target = -1
		for _, s := range steps {
			if s > from {
				target = s
				break
			}
		}
		if target < 0 {
			res.Message = fmt.Sprintf("%s is at %d %%, the last step of %s: nothing to change; finish with kubectl feastflow promote %s", c.Name(), from, stepsText(steps), c.Name())
			res.Plan = CanaryPlan{Weight: from, Total: desiredReplicas(c.Stable) + desiredReplicas(c.Canary), Stable: desiredReplicas(c.Stable), Canary: desiredReplicas(c.Canary)}
			return res, nil
		}
	}
	plan, err := planCanary(desiredReplicas(c.Stable)+desiredReplicas(c.Canary), target)
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", c.Name(), err)
	}
	res.Plan = plan
	if plan.Note != "" {
		env.report("%s", plan.Note)
	}
	if target == from && plan.Canary == desiredReplicas(c.Canary) && plan.Stable == desiredReplicas(c.Stable) {
		res.Message = joinSentences(fmt.Sprintf("%s is already at %d %% (%d canary, %d stable): nothing to change", c.Name(), target, plan.Canary, plan.Stable), plan.Note)
		return res, nil
	}
	if err := refuseCanaryHPA(ctx, env, c, plan); err != nil {
		return nil, err
	}
	if opts.Force {
		res.Gate = &HealthGate{Passed: false, Forced: true}
		env.report("health gate skipped (--force); recorded on service/%s", c.Name())
	} else {
		gate, err := CanaryHealth(ctx, env, c, st)
		if err != nil {
			return nil, err
		}
		res.Gate = gate
		if !gate.Passed {
			return res, fmt.Errorf("canary deployment/%s is not healthy, nothing changed: %s; fix or abort it (kubectl feastflow diagnose deploy/%s -n %s), or pass --force to step anyway", c.Canary.Name, strings.Join(gate.Problems, "; "), c.Canary.Name, c.Namespace())
		}
	}
	if err := CheckWindowFor(ctx, env, c); err != nil {
		return nil, err
	}
	next := &canaryState{Phase: canaryPhaseStepping, Verb: "canary-step", From: from, Weight: target, Total: plan.Total, Stable: plan.Stable, Canary: plan.Canary, Forced: opts.Force}
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow canary-step %s` to complete the step, or abort", c.Name()))
	if err := p.canaryRecord(env, next, fmt.Sprintf("%d%%", from), fmt.Sprintf("%d%%", target), true); err != nil {
		return nil, err
	}
	p.canaryTracks(env, &res.Result, plan, "canary-step", opts.Timeout)
	p.canaryDone(env, next, "")
	if err := env.apply(ctx, &res.Result, p); err != nil {
		return res, err
	}
	res.Message = fmt.Sprintf("%s moved from %d %% to %d %%: %d canary, %d stable", c.Name(), from, target, plan.Canary, plan.Stable)
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): %s would move from %d %% to %d %%: %d canary, %d stable", env.Writer.DryRun, c.Name(), from, target, plan.Canary, plan.Stable)
	}
	if plan.Note != "" {
		res.Message += " (" + plan.Note + ")"
	}
	return res, nil
}

// CheckWindowFor is the deployment-window check of the canary and rollout verbs.
func CheckWindowFor(ctx context.Context, env *Env, c *Component) error {
	_, err := CheckWindow(ctx, env, c.Namespace())
	return err
}

func noCanaryError(c *Component) error {
	return fmt.Errorf("component %s has no canary deployment (%s-canary, or %s=%s in its pod template): create it with kubectl feastflow deploy %s --image IMAGE", c.Name(), c.Name(), c.TrackKey, TrackCanary, c.Name())
}

func stepsText(steps []int) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = strconv.Itoa(s)
	}
	return strings.Join(parts, ",")
}

// refuseCanaryHPA refuses a canary change while an HPA manages one of the tracks: the HPA
// would resize the track within its sync period and break the weight.
func refuseCanaryHPA(ctx context.Context, env *Env, c *Component, plan CanaryPlan) error {
	hpas, err := autoscalersFor(ctx, env, c.Namespace(), []*appsv1.Deployment{c.Stable, c.Canary})
	if err != nil || len(hpas) == 0 {
		return err
	}
	canaryName := c.Name() + "-" + TrackCanary
	if c.Canary != nil {
		canaryName = c.Canary.Name
	}
	what := fmt.Sprintf("deployment/%s %d→%d and deployment/%s %d→%d", canaryName, desiredReplicas(c.Canary), plan.Canary, c.Stable.Name, desiredReplicas(c.Stable), plan.Stable)
	return fightingHPAError(hpas, "the canary step", what, fmt.Sprintf("a canary needs fixed replica counts on both tracks: delete it for the canary (kubectl delete hpa %s -n %s) and re-create it after promote with kubectl feastflow autoscale %s", hpas[0].Name, c.Namespace(), c.Name()))
}

// canaryRecord plans the record of the step about to be made (st) as the operation in
// progress of the release record, with the last-operation record, in one merge patch
// preconditioned on the Service's resourceVersion: of two concurrent runs, the second
// fails here before scaling anything. listed makes the weight one of the result's changes.
func (p *Plan) canaryRecord(env *Env, st *canaryState, from, to string, listed bool) error {
	c := p.c
	cur, err := c.Release()
	if err != nil {
		return err
	}
	rec := cur.clone()
	rec.Strategy, rec.Phase = Canary, PhaseCanary
	if rec.Weight == nil {
		w := st.From
		rec.Weight = &w
	}
	started := rec.begin(env, st.Verb, from, to)
	started.FromWeight, started.Weight, started.Total, started.Stable, started.Canary, started.Forced = st.From, st.Weight, st.Total, st.Stable, st.Canary, st.Forced
	op := env.Writer.Operation(st.Verb, from, to)
	if st.Forced {
		op.Reason = joinSentences(op.Reason, "health gate skipped with --force")
	}
	s := p.record(env, rec, op, canaryEventReason(st.Verb), func(error) error {
		return fmt.Errorf("service %s/%s changed since it was read (another canary operation?): nothing changed; re-run to continue from its new state", c.Namespace(), c.Name())
	})
	if listed {
		s.Field, s.From, s.To, s.listed = "metadata.annotations."+ReleaseAnnotation+".weight", strconv.Itoa(st.From), strconv.Itoa(st.Weight), true
	}
	return nil
}

func canaryEventReason(verb string) string {
	switch verb {
	case "abort":
		return "CanaryAbort"
	case "promote":
		return "CanaryPromote"
	case "deploy":
		return "CanaryDeploy"
	}
	return "CanaryStep"
}

// canaryTracks plans the tracks to plan: scale the track that gains pods, wait until that
// many of its pods of its pod template are Ready, re-read both tracks and scale the track
// that loses pods, keeping the total. Before that scale-down it stops, with a
// *ForeignChangeError, when someone changed either track's replicas or template since the
// plan was made, and it never takes the ready pods of the component below their count at
// the start. Re-running it converges: a track already at its count is not patched again,
// and the wait returns at once when the pods are Ready.
func (p *Plan) canaryTracks(env *Env, res *Result, plan CanaryPlan, verb string, timeout time.Duration) {
	c := p.c
	grow, growTo, growName := c.Canary, plan.Canary, TrackCanary
	shrink, shrinkTo := c.Stable, plan.Stable
	if plan.Canary < desiredReplicas(c.Canary) || (plan.Canary == desiredReplicas(c.Canary) && plan.Stable > desiredReplicas(c.Stable)) {
		grow, growTo, growName = c.Stable, plan.Stable, TrackStable
		shrink, shrinkTo = c.Canary, plan.Canary
	}
	// The ready count this operation must keep: the ready pods at its start, at most the
	// total it keeps (a resumed step may find both tracks scaled up).
	startReady := min(readyReplicas(c.Stable)+readyReplicas(c.Canary), plan.Total)
	shrinkPlanned := shrink.DeepCopy() // what the scale-down was planned on
	if desiredReplicas(grow) != growTo {
		p.add(Step{
			Action: StepWrite, Object: "deployment/" + grow.Name, Field: "spec.replicas",
			From: strconv.Itoa(int(desiredReplicas(grow))), To: strconv.Itoa(int(growTo)), Precondition: scaleUpPrecondition, listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				ch, err := scaleDeployment(ctx, env, grow, growTo, verb)
				if err != nil {
					return nil, fmt.Errorf("%w (%s)", err, appliedSoFar(res))
				}
				return ch, nil
			},
		})
	}
	if growTo > 0 {
		p.wait("deployment/"+grow.Name, fmt.Sprintf("%d ready pods of its pod template", growTo), func(ctx context.Context) error {
			env.report("waiting for %s deployment/%s to have %d ready pods before scaling deployment/%s to %d", growName, grow.Name, growTo, shrink.Name, shrinkTo)
			if _, err := WaitForReady(ctx, env, grow, growTo, timeout); err != nil {
				return fmt.Errorf("%w; %s, deployment/%s not scaled down: re-run to complete the step or abort", err, appliedSoFar(res), shrink.Name)
			}
			return nil
		})
	}
	if desiredReplicas(shrink) == shrinkTo {
		return
	}
	cut, skip := shrink, false
	p.check("deployment/"+shrink.Name, fmt.Sprintf("deployment/%s has %d replicas and deployment/%s %d of the planned template, and the scale-down leaves at least the %d ready pods of the start", grow.Name, growTo, shrink.Name, desiredReplicas(shrink), startReady), func(ctx context.Context) error {
		_, now, err := reread(ctx, env, c, grow.Name, shrink.Name)
		if err != nil {
			return err
		}
		stopped := fmt.Sprintf("%s, deployment/%s not scaled down; check who changed it, then re-run to continue from the new state, or abort", appliedSoFar(res), shrink.Name)
		if err := checkUnchanged(grow, now[grow.Name], growTo); err != nil {
			err.(*ForeignChangeError).Done = stopped
			return err
		}
		if now[shrink.Name] != nil && desiredReplicas(now[shrink.Name]) == shrinkTo && templateDigest(&now[shrink.Name].Spec.Template) == templateDigest(&shrinkPlanned.Spec.Template) {
			*shrink, skip = *now[shrink.Name], true // already where this step takes it (another run of the same step)
			return nil
		}
		if err := checkUnchanged(shrinkPlanned, now[shrink.Name], desiredReplicas(shrinkPlanned)); err != nil {
			err.(*ForeignChangeError).Done = stopped
			return err
		}
		// The wait saw growTo Ready pods of the template; the Deployment's status may lag it.
		growReady := max(readyReplicas(now[grow.Name]), growTo)
		after := growReady + min(readyReplicas(now[shrink.Name]), shrinkTo)
		if after < startReady {
			return fmt.Errorf("scaling deployment/%s to %d would leave %d ready pods, fewer than the %d ready when this %s started (deployment/%s has %d ready of %d): stopped; %s", shrink.Name, shrinkTo, after, startReady, verb, grow.Name, growReady, growTo, stopped)
		}
		cut = now[shrink.Name]
		return nil
	})
	p.add(Step{
		Action: StepWrite, Object: "deployment/" + shrink.Name, Field: "spec.replicas",
		From: strconv.Itoa(int(desiredReplicas(shrink))), To: strconv.Itoa(int(shrinkTo)),
		Precondition: fmt.Sprintf("metadata.generation %d (or as the check before it re-read it)", shrink.Generation), listed: true, dry: true,
		do: func(ctx context.Context) (*Change, error) {
			if skip {
				return nil, nil
			}
			ch, err := scaleGuarded(ctx, env, cut, shrinkTo, verb, "Scaled")
			if err != nil {
				return nil, fmt.Errorf("%w (%s)", err, appliedSoFar(res))
			}
			if env.Writer.Live() {
				*shrink = *cut
			}
			return ch, nil
		},
	})
}

// canaryDone plans the end of a canary operation: the step done (canaryStepDone), or with
// retired set, the canary retired (clearCanaryState).
func (p *Plan) canaryDone(env *Env, st *canaryState, retired Phase) {
	what := fmt.Sprintf("canary at %d %%, no operation in progress, the health baseline", st.Weight)
	if retired != "" {
		what = string(retired) + ", weight 0"
	}
	p.add(Step{Action: StepFinish, Object: "service/" + p.c.Name(), Field: "metadata.annotations." + ReleaseAnnotation, To: what,
		Precondition: "resourceVersion as this run last wrote it (re-read and written again while the record still holds this operation)",
		do: func(ctx context.Context) (*Change, error) {
			if retired != "" {
				return nil, clearCanaryState(ctx, env, p.c, retired)
			}
			return nil, finishCanaryStep(ctx, env, p.c, st)
		}})
}

// finishCanaryStep marks the recorded step done (the weight set, its place in the steps,
// each track's identity and template) and stores the health baseline for the next step:
// the canary pods' restart counts now, and now as the time after which Warning events count.
func finishCanaryStep(ctx context.Context, env *Env, c *Component, st *canaryState) error {
	if !env.Writer.Live() {
		return nil
	}
	cur, err := c.Release()
	if err != nil {
		return err
	}
	rec := cur.clone()
	started := cur.Operation
	rec.Strategy, rec.Phase, rec.Operation = Canary, PhaseCanary, nil
	w := st.Weight
	rec.Weight, rec.Step = &w, 0
	if steps, err := CanarySteps(c, nil); err == nil {
		for i, s := range steps {
			if s == w {
				rec.Step = i + 1
			}
		}
	}
	base := &CanaryBaseline{Since: env.now().UTC().Truncate(time.Second), Restarts: map[string]int32{}}
	if desiredReplicas(c.Canary) > 0 {
		pods, err := listDeploymentPods(ctx, env, c.Canary)
		if err != nil {
			return err
		}
		for i := range pods {
			base.Restarts[pods[i].Name] = podRestarts(&pods[i])
		}
	}
	rec.Health = base
	rec.recordWorkload(env, TrackStable, c.Stable, "")
	rec.recordWorkload(env, TrackCanary, c.Canary, "")
	return finishRelease(ctx, env, c, rec, started)
}

// clearCanaryState records the canary retired (promote, abort): weight 0, no operation in
// progress, no baseline.
func clearCanaryState(ctx context.Context, env *Env, c *Component, phase Phase) error {
	if !env.Writer.Live() {
		return nil
	}
	cur, err := c.Release()
	if err != nil {
		return err
	}
	rec := cur.clone()
	started := cur.Operation
	zero := 0
	rec.Strategy, rec.Phase, rec.Operation, rec.Weight, rec.Step, rec.Health = Canary, phase, nil, &zero, 0, nil
	rec.recordWorkload(env, TrackStable, c.Stable, "")
	rec.recordWorkload(env, TrackCanary, c.Canary, "")
	return finishRelease(ctx, env, c, rec, started)
}
