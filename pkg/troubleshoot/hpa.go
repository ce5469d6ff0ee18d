package troubleshoot

import (
	"fmt"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// Categories of the HorizontalPodAutoscaler analyzer.
const (
	CategoryHPACannotScale   Category = "HPACannotScale"
	CategoryHPAAtMax         Category = "HPAPinnedAtMax"
	CategoryHPATargetMissing Category = "HPATargetMissing"
	CategoryHPANoRequests    Category = "HPATargetWithoutRequests"
)

// hpaRules reads each HPA's conditions as the controller wrote them: ScalingActive or
// AbleToScale False with the reason (metrics unavailable is the common one), pinned at
// maxReplicas, a scale target that does not exist, and utilization targets on pods that
// request nothing (the HPA cannot compute a percentage of nothing).
func (a *analysis) hpaRules() {
	for i := range a.s.hpas {
		h := &a.s.hpas[i]
		ns := h.Namespace
		ref := ObjectRef{Kind: "HorizontalPodAutoscaler", Namespace: ns, Name: h.Name}
		target := h.Spec.ScaleTargetRef
		targetArg := strings.ToLower(target.Kind) + "/" + target.Name
		spec, exists, known := a.scaleTarget(ns, target.Kind, target.Name)
		if known && !exists {
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryHPATargetMissing, Object: ref,
				Cause:    fmt.Sprintf("horizontalpodautoscaler %s scales %s, which does not exist: nothing is autoscaled", h.Name, targetArg),
				Evidence: Evidence{Events: a.events("HorizontalPodAutoscaler", ns, h.Name)},
				Fix:      []string{fmt.Sprintf(`kubectl patch hpa %s%s --type=merge -p '{"spec":{"scaleTargetRef":{"name":"<workload>"}}}'  # or delete it: kubectl delete hpa %s%s`, h.Name, nsFlag(ns), h.Name, nsFlag(ns))},
			})
			continue
		}
		noReq := a.hpaWithoutRequests(h, spec)
		if len(noReq) > 0 {
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryHPANoRequests, Object: ref,
				Cause:    fmt.Sprintf("horizontalpodautoscaler %s targets utilization of %s, but containers of %s request none: the HPA cannot compute a percentage and never scales", h.Name, strings.Join(noReq, ", "), targetArg),
				Evidence: Evidence{Status: hpaConditionLines(h), Events: a.events("HorizontalPodAutoscaler", ns, h.Name)},
				Fix:      []string{fmt.Sprintf("kubectl set resources %s%s --requests=%s", targetArg, nsFlag(ns), requestsArg(noReq))},
			})
		}
		for _, c := range h.Status.Conditions {
			if c.Status != corev1.ConditionFalse || (c.Type != autoscalingv2.ScalingActive && c.Type != autoscalingv2.AbleToScale) {
				continue
			}
			if len(noReq) > 0 && strings.Contains(c.Message, "missing request") {
				continue // the finding above names the cause
			}
			fd := Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryHPACannotScale, Object: ref,
				Cause:    fmt.Sprintf("horizontalpodautoscaler %s cannot scale %s: %s=False %s: %s", h.Name, targetArg, c.Type, c.Reason, oneLine(c.Message)),
				Evidence: Evidence{Status: hpaConditionLines(h), Events: a.events("HorizontalPodAutoscaler", ns, h.Name)},
			}
			switch {
			case strings.Contains(c.Reason, "Metric") || strings.Contains(c.Message, "metrics API"):
				fd.Details = append(fd.Details, "the resource metrics API (metrics-server) does not answer: the HPA keeps the current replica count")
				fd.Fix = []string{"kubectl get apiservice v1beta1.metrics.k8s.io  # install or repair metrics-server; `kubectl top pods" + nsFlag(ns) + "` must work"}
			default:
				fd.Fix = []string{fmt.Sprintf("kubectl describe hpa %s%s", h.Name, nsFlag(ns))}
			}
			a.add(fd)
		}
		if h.Status.CurrentReplicas >= h.Spec.MaxReplicas && h.Status.DesiredReplicas >= h.Spec.MaxReplicas && h.Spec.MaxReplicas > 0 {
			limited := ""
			for _, c := range h.Status.Conditions {
				if c.Type == autoscalingv2.ScalingLimited && c.Status == corev1.ConditionTrue {
					limited = fmt.Sprintf("ScalingLimited=True %s: %s", c.Reason, oneLine(c.Message))
				}
			}
			fd := Finding{Severity: SeverityWarning, Confidence: ConfidenceMedium, Impact: ImpactDegraded, Category: CategoryHPAAtMax, Object: ref,
				Cause:    fmt.Sprintf("horizontalpodautoscaler %s is pinned at maxReplicas %d: demand may exceed what %s can serve", h.Name, h.Spec.MaxReplicas, targetArg),
				Evidence: Evidence{Status: hpaConditionLines(h), Events: a.events("HorizontalPodAutoscaler", ns, h.Name)},
				Fix:      []string{fmt.Sprintf(`kubectl patch hpa %s%s --type=merge -p '{"spec":{"maxReplicas":%d}}'  # if the cluster has room`, h.Name, nsFlag(ns), h.Spec.MaxReplicas*2)},
			}
			if limited != "" {
				fd.Details = append(fd.Details, limited)
			}
			a.add(fd)
		}
	}
}

// scaleTarget finds the pod template of an HPA's target; known is false when its kind
// could not be listed (or is not one diagnose reads).
func (a *analysis) scaleTarget(ns, kind, name string) (spec *corev1.PodSpec, exists, known bool) {
	switch kind {
	case "Deployment":
		if d := a.deployByKey[key(ns, name)]; d != nil {
			return &d.Spec.Template.Spec, true, true
		}
		return nil, false, a.s.has("deployments")
	case "StatefulSet":
		for i := range a.s.statefulSets {
			if s := &a.s.statefulSets[i]; s.Namespace == ns && s.Name == name {
				return &s.Spec.Template.Spec, true, true
			}
		}
		return nil, false, a.s.has("statefulsets")
	case "ReplicaSet":
		if rs := a.rsByKey[key(ns, name)]; rs != nil {
			return &rs.Spec.Template.Spec, true, true
		}
		return nil, false, a.s.has("replicasets")
	}
	return nil, false, false
}

// hpaWithoutRequests names the resources the HPA targets by utilization that some container
// of the target does not request.
func (a *analysis) hpaWithoutRequests(h *autoscalingv2.HorizontalPodAutoscaler, spec *corev1.PodSpec) []string {
	if spec == nil {
		return nil
	}
	var out []string
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
			continue
		}
		rn := m.Resource.Name
		for ix := range spec.Containers {
			if _, ok := spec.Containers[ix].Resources.Requests[rn]; !ok {
				if !contains(out, string(rn)) {
					out = append(out, string(rn))
				}
			}
		}
	}
	return out
}

func requestsArg(res []string) string {
	var parts []string
	for _, r := range res {
		switch r {
		case "cpu":
			parts = append(parts, "cpu=100m")
		case "memory":
			parts = append(parts, "memory=128Mi")
		default:
			parts = append(parts, r+"=<amount>")
		}
	}
	return strings.Join(parts, ",")
}

func hpaConditionLines(h *autoscalingv2.HorizontalPodAutoscaler) []string {
	out := []string{fmt.Sprintf("replicas current %d, desired %d, min %d, max %d", h.Status.CurrentReplicas, h.Status.DesiredReplicas, replicas(h.Spec.MinReplicas), h.Spec.MaxReplicas)}
	for _, c := range h.Status.Conditions {
		out = append(out, fmt.Sprintf("condition %s=%s %s", c.Type, c.Status, c.Reason))
	}
	return out
}
