package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// CanaryStateAnnotation on a canary Service records the step under way (written before the
// first scale operation, so that an interrupted run is completed by the next one) and,
// once a step is done, the health baseline of the canary pods (restart counts and the time
// after which Warning events count).
const CanaryStateAnnotation = "feastflow.dev/canary-state"

const (
	canaryPhaseStepping = "stepping"
	canaryPhaseDone     = "done"
)

// DefaultCanarySteps are the canary weights, in percent, when neither --steps nor the
// Service's feastflow.dev/canary-steps annotation says otherwise.
func DefaultCanarySteps() []int { return []int{10, 25, 50, 100} }

// canaryState is the JSON of CanaryStateAnnotation.
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

func readCanaryState(svc interface{ GetAnnotations() map[string]string }) *canaryState {
	raw, ok := svc.GetAnnotations()[CanaryStateAnnotation]
	if !ok {
		return nil
	}
	var st canaryState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil
	}
	return &st
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

// setWeight is the canary weight last set: the Service's annotation, or else the share of
// canary replicas in the Deployments' specs.
func setWeight(c *Component) int {
	if raw, ok := c.Service.Annotations[CanaryWeightAnnotation]; ok {
		if w, err := strconv.Atoi(strings.TrimSpace(raw)); err == nil && w >= 0 && w <= 100 {
			return w
		}
	}
	total := specReplicas(c.Stable) + specReplicas(c.Canary)
	if total == 0 || c.Canary == nil {
		return 0
	}
	return int(math.Round(float64(specReplicas(c.Canary)) * 100 / float64(total)))
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
	st := readCanaryState(c.Service)
	if st != nil && st.Phase == canaryPhaseStepping && (st.Verb == "promote" || st.Verb == "abort") {
		return nil, stepInProgressError(c, st)
	}
	if st != nil && st.Phase == canaryPhaseStepping {
		res.Resumed, res.FromWeight = true, st.From
		res.Plan, _ = planCanary(st.Total, st.Weight)
		res.Plan.Stable, res.Plan.Canary = st.Stable, st.Canary
		env.report("resuming the interrupted %s of %s to %d %% recorded on service/%s: %d canary, %d stable", st.Verb, c.Name(), st.Weight, c.Name(), st.Canary, st.Stable)
		if err := CheckWindowFor(ctx, env, c); err != nil {
			return nil, err
		}
		if err := applyCanaryPlan(ctx, env, c, &res.Result, res.Plan, st.Verb, opts.Timeout); err != nil {
			return res, err
		}
		if err := finishCanaryStep(ctx, env, c, st); err != nil {
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
			res.Plan = CanaryPlan{Weight: from, Total: specReplicas(c.Stable) + specReplicas(c.Canary), Stable: specReplicas(c.Stable), Canary: specReplicas(c.Canary)}
			return res, nil
		}
	}
	plan, err := planCanary(specReplicas(c.Stable)+specReplicas(c.Canary), target)
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", c.Name(), err)
	}
	res.Plan = plan
	if plan.Note != "" {
		env.report("%s", plan.Note)
	}
	if target == from && plan.Canary == specReplicas(c.Canary) && plan.Stable == specReplicas(c.Stable) {
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
	if err := recordCanaryState(ctx, env, c, next, fmt.Sprintf("%d%%", from), fmt.Sprintf("%d%%", target)); err != nil {
		return nil, err
	}
	addChange(&res.Result, &Change{Object: "service/" + c.Name(), Field: "metadata.annotations." + CanaryWeightAnnotation, From: strconv.Itoa(from), To: strconv.Itoa(target)})
	if err := applyCanaryPlan(ctx, env, c, &res.Result, plan, "canary-step", opts.Timeout); err != nil {
		return res, err
	}
	if err := finishCanaryStep(ctx, env, c, next); err != nil {
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
	what := fmt.Sprintf("deployment/%s %d→%d and deployment/%s %d→%d", canaryName, specReplicas(c.Canary), plan.Canary, c.Stable.Name, specReplicas(c.Stable), plan.Stable)
	return fightingHPAError(hpas, "the canary step", what, fmt.Sprintf("a canary needs fixed replica counts on both tracks: delete it for the canary (kubectl delete hpa %s -n %s) and re-create it after promote with kubectl feastflow autoscale %s", hpas[0].Name, c.Namespace(), c.Name()))
}

// recordCanaryState writes the step about to be made on the Service, with the weight and
// the last-operation record, in one merge patch preconditioned on the Service's
// resourceVersion: of two concurrent runs, the second fails here before scaling anything.
func recordCanaryState(ctx context.Context, env *Env, c *Component, st *canaryState, from, to string) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode canary state: %w", err)
	}
	state, weight := string(raw), strconv.Itoa(st.Weight)
	op := env.Writer.Operation(st.Verb, from, to)
	if st.Forced {
		op.Reason = joinSentences(op.Reason, "health gate skipped with --force")
	}
	body := audit.AnnotationPatch(op, map[string]*string{CanaryStateAnnotation: &state, CanaryWeightAnnotation: &weight})
	body["metadata"].(map[string]any)["resourceVersion"] = c.Service.ResourceVersion
	if env.Writer.Client() {
		return nil
	}
	patch, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	svc, err := env.Client.CoreV1().Services(c.Namespace()).Patch(ctx, c.Name(), types.MergePatchType, patch, env.Writer.PatchOptions())
	if apierrors.IsConflict(err) {
		return fmt.Errorf("service %s/%s changed since it was read (another canary operation?): nothing changed; re-run to continue from its new state", c.Namespace(), c.Name())
	}
	if err != nil {
		return fmt.Errorf("record canary step on service %s/%s: %w", c.Namespace(), c.Name(), err)
	}
	if env.Writer.Live() {
		c.Service = svc
	}
	env.event(ctx, "Service", "v1", svc, canaryEventReason(st.Verb), op)
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

// applyCanaryPlan scales the track that gains pods, waits until its pods are Ready, then
// scales the track that loses pods. Re-running it converges: a track already at its count
// is not patched again, and the wait returns at once when the pods are Ready.
func applyCanaryPlan(ctx context.Context, env *Env, c *Component, res *Result, plan CanaryPlan, verb string, timeout time.Duration) error {
	grow, growTo, growName := c.Canary, plan.Canary, TrackCanary
	shrink, shrinkTo := c.Stable, plan.Stable
	if plan.Canary < specReplicas(c.Canary) || (plan.Canary == specReplicas(c.Canary) && plan.Stable > specReplicas(c.Stable)) {
		grow, growTo, growName = c.Stable, plan.Stable, TrackStable
		shrink, shrinkTo = c.Canary, plan.Canary
	}
	ch, err := scaleDeployment(ctx, env, grow, growTo, verb)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, appliedSoFar(res))
	}
	addChange(res, ch)
	if growTo > 0 && env.Writer.Live() {
		env.report("waiting for %s deployment/%s to have %d ready pods before scaling deployment/%s to %d", growName, grow.Name, growTo, shrink.Name, shrinkTo)
		if _, err := WaitForDeployment(ctx, env, grow.Namespace, grow.Name, WaitOptions{Timeout: timeout, MinGeneration: grow.Generation}); err != nil {
			return fmt.Errorf("%w; %s, deployment/%s not scaled down yet: re-run to complete the step or abort", err, appliedSoFar(res), shrink.Name)
		}
	}
	ch, err = scaleDeployment(ctx, env, shrink, shrinkTo, verb)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, appliedSoFar(res))
	}
	addChange(res, ch)
	return nil
}

// finishCanaryStep marks the recorded step done and stores the health baseline for the
// next step: the canary pods' restart counts now, and now as the time after which Warning
// events count.
func finishCanaryStep(ctx context.Context, env *Env, c *Component, st *canaryState) error {
	if !env.Writer.Live() {
		return nil
	}
	done := *st
	done.Phase = canaryPhaseDone
	done.Since = env.now().UTC().Truncate(time.Second)
	done.Restarts = map[string]int32{}
	if specReplicas(c.Canary) > 0 {
		pods, err := listDeploymentPods(ctx, env, c.Canary)
		if err != nil {
			return err
		}
		for i := range pods {
			done.Restarts[pods[i].Name] = podRestarts(&pods[i])
		}
	}
	raw, err := json.Marshal(done)
	if err != nil {
		return fmt.Errorf("encode canary state: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{CanaryStateAnnotation: string(raw)}}})
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	svc, err := env.Client.CoreV1().Services(c.Namespace()).Patch(ctx, c.Name(), types.MergePatchType, patch, env.Writer.PatchOptions())
	if err != nil {
		return fmt.Errorf("record the completed step on service %s/%s: %w (the replicas are right; the next canary-step re-checks them)", c.Namespace(), c.Name(), err)
	}
	c.Service = svc
	return nil
}

// updateCanaryTotal keeps the recorded total in step with `scale`, so that the next step
// uses the new capacity.
func updateCanaryTotal(ctx context.Context, env *Env, c *Component, total int32) error {
	st := readCanaryState(c.Service)
	if st == nil || !env.Writer.Live() {
		return nil
	}
	st.Total = total
	st.Stable, st.Canary = specReplicas(c.Stable), specReplicas(c.Canary)
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode canary state: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{CanaryStateAnnotation: string(raw)}}})
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	if _, err := env.Client.CoreV1().Services(c.Namespace()).Patch(ctx, c.Name(), types.MergePatchType, patch, env.Writer.PatchOptions()); err != nil {
		return fmt.Errorf("record the new total on service %s/%s: %w", c.Namespace(), c.Name(), err)
	}
	return nil
}
