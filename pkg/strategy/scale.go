package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// ScaleOptions tune Scale.
type ScaleOptions struct {
	// Replicas is the new capacity of the component: the Deployment (rolling), the live
	// color (blue-green) or the canary total (canary).
	Replicas int32
}

// scaleTarget is one Deployment Scale sets and its replicas.
type scaleTarget struct {
	d        *appsv1.Deployment
	replicas int32
}

// Scale sets a component's capacity, strategy-aware: rolling and recreate scale their
// Deployment; blue-green scales the live color and every idle color that is up (so a
// switch never lands on a smaller fleet); canary scales the total and keeps the weight.
// It refuses to fight a HorizontalPodAutoscaler that manages one of those Deployments.
func Scale(ctx context.Context, env *Env, c *Component, opts ScaleOptions) (*Result, error) {
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("invalid replicas %d: must be 0 or more", opts.Replicas)
	}
	res := newRolloutResult("ScaleResult", "scale", c, env)
	r := releaserFor(c)
	if r == nil {
		return nil, WrongStrategyError(c, scaleKinds...)
	}
	targets, note, err := r.scaleTargets(c, opts.Replicas)
	if err != nil {
		return nil, err
	}
	res.Message = note

	var deps []*appsv1.Deployment
	var changing []scaleTarget
	for _, t := range targets {
		if desiredReplicas(t.d) != t.replicas {
			changing = append(changing, t)
			deps = append(deps, t.d)
		}
	}
	if len(changing) == 0 {
		res.Message = joinSentences(fmt.Sprintf("%s already has %d replicas: nothing to change", c.Name(), opts.Replicas), res.Message)
		return res, nil
	}
	hpas, err := autoscalersFor(ctx, env, c.Namespace(), deps)
	if err != nil {
		return nil, err
	}
	if len(hpas) > 0 {
		var plan []string
		for _, t := range changing {
			plan = append(plan, fmt.Sprintf("deployment/%s %d→%d", t.d.Name, desiredReplicas(t.d), t.replicas))
		}
		return nil, fightingHPAError(hpas, "scale", strings.Join(plan, ", "), fmt.Sprintf("change its range instead (kubectl feastflow autoscale %s --min %d --max M ...), or delete it (kubectl delete hpa %s -n %s) and scale", c.Name(), opts.Replicas, hpas[0].Name, c.Namespace()))
	}
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow scale %s --replicas %d`", c.Name(), opts.Replicas))
	for _, t := range changing {
		p.scale(env, t.d, t.replicas, "scale")
	}
	if err := env.apply(ctx, res, p); err != nil {
		res.Message = appliedSoFar(res)
		return res, err
	}
	res.Message = joinSentences(env.tell(fmt.Sprintf("scaled %s to %d replicas", c.Name(), opts.Replicas), fmt.Sprintf("would scale %s to %d replicas", c.Name(), opts.Replicas)), res.Message)
	return res, nil
}

// AutoscaleOptions tune Autoscale: the range and the utilisation targets of the HPA.
type AutoscaleOptions struct {
	Min, Max int32
	// CPUPercent and MemoryPercent are average utilisation targets; 0 leaves a metric out.
	CPUPercent, MemoryPercent int32
}

// Validate checks the options (no I/O).
func (o AutoscaleOptions) Validate() error {
	switch {
	case o.Min < 1:
		return fmt.Errorf("invalid --min %d: must be at least 1", o.Min)
	case o.Max < o.Min:
		return fmt.Errorf("invalid --max %d: must be at least --min (%d)", o.Max, o.Min)
	case o.CPUPercent < 0 || o.MemoryPercent < 0:
		return fmt.Errorf("invalid utilisation target: percentages must be positive")
	case o.CPUPercent == 0 && o.MemoryPercent == 0:
		return fmt.Errorf("no metric: give --cpu-percent and/or --memory-percent")
	}
	return nil
}

// Autoscale creates or updates the component's autoscaling/v2 HorizontalPodAutoscaler
// (named after the component) so that it targets the Deployment that serves traffic: the
// single Deployment, the live color or the stable track. An HPA that already targets one
// of the component's Deployments is reused whatever its name.
func Autoscale(ctx context.Context, env *Env, c *Component, opts AutoscaleOptions) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	target := c.ServingDeployment()
	if target == nil {
		return nil, fmt.Errorf("component %s (%s) has no deployment serving traffic to autoscale", c.Name(), c.Strategy)
	}
	r := releaserFor(c)
	if r == nil {
		return nil, WrongStrategyError(c, scaleKinds...)
	}
	if err := r.refuseAutoscale(c); err != nil {
		return nil, err
	}
	res := newRolloutResult("AutoscaleResult", "autoscale", c, env)
	hpas, err := autoscalersFor(ctx, env, c.Namespace(), c.Deployments)
	if err != nil {
		return nil, err
	}
	spec := hpaSpec(target.Name, opts)
	to := hpaSummary(spec)
	var existing *autoscalingv2.HorizontalPodAutoscaler
	for i := range hpas {
		if existing == nil || hpas[i].Name == c.Name() {
			existing = &hpas[i]
		}
	}
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow autoscale %s`", c.Name()))
	if existing == nil {
		op := env.Writer.Operation("autoscale", "", to)
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
			ObjectMeta: metav1.ObjectMeta{
				Name: c.Name(), Namespace: c.Namespace(),
				Labels:      map[string]string{"app.kubernetes.io/managed-by": audit.FieldManager},
				Annotations: map[string]string{audit.LastOperationAnnotation: op.Annotation()},
			},
			Spec: spec,
		}
		p.add(Step{Action: StepWrite, Object: "horizontalpodautoscaler/" + c.Name(), Field: "spec", To: to, Precondition: "it does not exist (create)", listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				created, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(c.Namespace()).Create(ctx, hpa, env.Writer.CreateOptions())
				if err != nil {
					return nil, fmt.Errorf("create horizontalpodautoscaler %s/%s: %w", c.Namespace(), c.Name(), err)
				}
				env.event(ctx, "HorizontalPodAutoscaler", "autoscaling/v2", created, "Autoscale", op)
				r.autoscaled(ctx, env, c)
				return &Change{Object: "horizontalpodautoscaler/" + c.Name(), Field: "spec", To: to}, nil
			}})
		if err := env.apply(ctx, res, p); err != nil {
			return nil, err
		}
		res.Message = env.tell(fmt.Sprintf("created horizontalpodautoscaler/%s for deployment/%s: %s", c.Name(), target.Name, to), fmt.Sprintf("would create horizontalpodautoscaler/%s for deployment/%s: %s", c.Name(), target.Name, to))
		return res, nil
	}
	from := hpaSummary(existing.Spec)
	if from == to {
		res.Message = fmt.Sprintf("horizontalpodautoscaler/%s already targets deployment/%s with %s: nothing to change", existing.Name, target.Name, to)
		return res, nil
	}
	op := env.Writer.Operation("autoscale", from, to)
	body := audit.AnnotationPatch(op, nil)
	body["spec"] = spec
	body["metadata"].(map[string]any)["resourceVersion"] = existing.ResourceVersion
	patch, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	p.add(Step{Action: StepWrite, Object: "horizontalpodautoscaler/" + existing.Name, Field: "spec", From: from, To: to, Precondition: "resourceVersion " + existing.ResourceVersion, listed: true, dry: true,
		do: func(ctx context.Context) (*Change, error) {
			updated, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(c.Namespace()).Patch(ctx, existing.Name, types.MergePatchType, patch, env.Writer.PatchOptions())
			if err != nil {
				return nil, fmt.Errorf("patch horizontalpodautoscaler %s/%s: %w", c.Namespace(), existing.Name, err)
			}
			env.event(ctx, "HorizontalPodAutoscaler", "autoscaling/v2", updated, "Autoscale", op)
			r.autoscaled(ctx, env, c)
			return &Change{Object: "horizontalpodautoscaler/" + existing.Name, Field: "spec", From: from, To: to}, nil
		}})
	if err := env.apply(ctx, res, p); err != nil {
		return nil, err
	}
	res.Message = env.tell(fmt.Sprintf("updated horizontalpodautoscaler/%s: %s", existing.Name, to), fmt.Sprintf("would update horizontalpodautoscaler/%s: %s", existing.Name, to))
	return res, nil
}

func hpaSpec(deployment string, opts AutoscaleOptions) autoscalingv2.HorizontalPodAutoscalerSpec {
	spec := autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment},
		MinReplicas:    &opts.Min,
		MaxReplicas:    opts.Max,
	}
	add := func(name string, pct int32) {
		if pct <= 0 {
			return
		}
		p := pct
		spec.Metrics = append(spec.Metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceName(name),
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &p},
			},
		})
	}
	add("cpu", opts.CPUPercent)
	add("memory", opts.MemoryPercent)
	return spec
}

// hpaSummary is a one-line description of an HPA spec, also used to compare two specs.
func hpaSummary(spec autoscalingv2.HorizontalPodAutoscalerSpec) string {
	lowest := int32(1)
	if spec.MinReplicas != nil {
		lowest = *spec.MinReplicas
	}
	parts := []string{fmt.Sprintf("deployment/%s min=%d max=%d", spec.ScaleTargetRef.Name, lowest, spec.MaxReplicas)}
	for _, m := range spec.Metrics {
		if m.Resource != nil && m.Resource.Target.AverageUtilization != nil {
			parts = append(parts, fmt.Sprintf("%s=%d%%", m.Resource.Name, *m.Resource.Target.AverageUtilization))
		}
	}
	return strings.Join(parts, " ")
}

// autoscalersFor lists (one LIST) the namespace's HPAs that scale one of deps.
func autoscalersFor(ctx context.Context, env *Env, namespace string, deps []*appsv1.Deployment) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	if len(deps) == 0 {
		return nil, nil
	}
	list, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list horizontalpodautoscalers in %s: %w", namespace, err)
	}
	names := map[string]bool{}
	for _, d := range deps {
		if d != nil {
			names[d.Name] = true
		}
	}
	var out []autoscalingv2.HorizontalPodAutoscaler
	for i := range list.Items {
		ref := list.Items[i].Spec.ScaleTargetRef
		if ref.Kind == "Deployment" && names[ref.Name] {
			out = append(out, list.Items[i])
		}
	}
	return out, nil
}

// fightingHPAError explains why a verb refuses to change replicas that an HPA manages:
// the HPA would undo the change within its sync period (15 s by default).
func fightingHPAError(hpas []autoscalingv2.HorizontalPodAutoscaler, verb, plan, fix string) error {
	h := hpas[0]
	lowest := int32(1)
	if h.Spec.MinReplicas != nil {
		lowest = *h.Spec.MinReplicas
	}
	return fmt.Errorf("horizontalpodautoscaler/%s manages deployment/%s (min %d, max %d): %s would set %s and the HPA would override it within seconds; nothing changed: %s",
		h.Name, h.Spec.ScaleTargetRef.Name, lowest, h.Spec.MaxReplicas, verb, plan, fix)
}

// scaleDeployment sets d's replicas with a merge patch that records the operation in the
// same request, then records an Event. It sends nothing when the count is already right
// or in a client dry run; the returned Change is nil when nothing needed to change.
func scaleDeployment(ctx context.Context, env *Env, d *appsv1.Deployment, replicas int32, verb string) (*Change, error) {
	from := desiredReplicas(d)
	if from == replicas {
		return nil, nil
	}
	op := env.Writer.Operation(verb, "replicas="+strconv.Itoa(int(from)), "replicas="+strconv.Itoa(int(replicas)))
	body := audit.AnnotationPatch(op, nil)
	body["spec"] = map[string]any{"replicas": replicas}
	ch := &Change{Object: "deployment/" + d.Name, Field: "spec.replicas", From: strconv.Itoa(int(from)), To: strconv.Itoa(int(replicas))}
	env.report("scaling deployment/%s from %d to %d replicas", d.Name, from, replicas)
	if err := writeDeployment(ctx, env, d, types.MergePatchType, body, "Scaled", op); err != nil {
		return nil, err
	}
	d.Spec.Replicas = &replicas
	return ch, nil
}

// writeDeployment sends a patch to d (nothing in a client dry run), updates d in place
// from the answer and records an Event with reason.
func writeDeployment(ctx context.Context, env *Env, d *appsv1.Deployment, pt types.PatchType, body any, reason string, op audit.Operation) error {
	updated, err := env.patchDeployment(ctx, d, pt, body)
	if err != nil || updated == nil {
		return err
	}
	if env.Writer.Live() {
		*d = *updated
	}
	env.event(ctx, "Deployment", "apps/v1", updated, reason, op)
	return nil
}

// event records an Event best effort: a failure is reported as progress, never returned.
func (e *Env) event(ctx context.Context, kind, apiVersion string, obj metav1.Object, reason string, op audit.Operation) {
	if err := e.Writer.Event(ctx, e.Client, audit.Ref(kind, apiVersion, obj), "Normal", reason, op); err != nil {
		e.report("warning: %v", err)
	}
}

func newRolloutResult(kind, op string, c *Component, env *Env) *Result {
	r := newResult(kind, c, op, env)
	return &r
}

// addChange appends a change (nil: none) to r and, unless it is a dry run, marks it changed.
func addChange(r *Result, ch *Change) {
	if ch == nil {
		return
	}
	r.Changes = append(r.Changes, *ch)
	r.Changed = r.DryRun == ""
}

// appliedSoFar describes the writes made before an error, for the error path's message.
func appliedSoFar(r *Result) string {
	if len(r.Changes) == 0 {
		return "nothing changed"
	}
	parts := make([]string, len(r.Changes))
	for i, ch := range r.Changes {
		parts[i] = fmt.Sprintf("%s %s %s→%s", ch.Object, ch.Field, ch.From, ch.To)
	}
	return "changed so far: " + strings.Join(parts, ", ")
}

func joinSentences(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// RetargetAutoscaler moves the HPAs that scale from onto to (a blue-green switch moves the
// component's HPA with the traffic), in one merge patch per HPA preconditioned on its
// resourceVersion, with the last-operation record. It returns the changes (none when no
// HPA targets from); nothing is sent in a client dry run.
func RetargetAutoscaler(ctx context.Context, env *Env, from, to *appsv1.Deployment, verb string) ([]Change, error) {
	hpas, err := autoscalersFor(ctx, env, from.Namespace, []*appsv1.Deployment{from})
	if err != nil {
		return nil, err
	}
	return retargetAutoscalers(ctx, env, hpas, from, to, verb)
}

// retargetAutoscalers moves those of hpas that scale from onto to.
func retargetAutoscalers(ctx context.Context, env *Env, hpas []autoscalingv2.HorizontalPodAutoscaler, from, to *appsv1.Deployment, verb string) ([]Change, error) {
	var changes []Change
	for i := range hpas {
		h := &hpas[i]
		if ref := h.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != from.Name {
			continue
		}
		op := env.Writer.Operation(verb, "deployment/"+from.Name, "deployment/"+to.Name)
		body := audit.AnnotationPatch(op, nil)
		body["metadata"].(map[string]any)["resourceVersion"] = h.ResourceVersion
		body["spec"] = map[string]any{"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": to.Name}}
		changes = append(changes, Change{Object: "horizontalpodautoscaler/" + h.Name, Field: "spec.scaleTargetRef.name", From: from.Name, To: to.Name})
		if env.Writer.Client() {
			continue
		}
		patch, err := json.Marshal(body)
		if err != nil {
			return changes, fmt.Errorf("encode patch: %w", err)
		}
		out, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(h.Namespace).Patch(ctx, h.Name, types.MergePatchType, patch, env.Writer.PatchOptions())
		if err != nil {
			return changes[:len(changes)-1], writeError("patch", "horizontalpodautoscaler", h.Namespace, h.Name, err)
		}
		env.event(ctx, "HorizontalPodAutoscaler", "autoscaling/v2", out, "Retargeted", op)
	}
	return changes, nil
}
