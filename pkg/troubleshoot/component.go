package troubleshoot

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Keys of the app model (PRODUCT.md §1) that troubleshooting reads.
const (
	// DefaultColorKey is the blue-green color label key when the Service does not override it.
	DefaultColorKey = "version"
	// ColorKeyAnnotation overrides the color key on a Service.
	ColorKeyAnnotation = "feastflow.dev/color-key"
)

// ColorKey returns the blue-green color key of a Service.
func ColorKey(svc *corev1.Service) string {
	if k := svc.Annotations[ColorKeyAnnotation]; k != "" {
		return k
	}
	return DefaultColorKey
}

// ReachableDeployments returns the Deployments of svc's namespace that its selector can
// reach: those whose pod template carries every selector label, or, for a blue-green
// Service, every label but the color key (the idle color is part of the component too).
// This is troubleshooting's small view of a component; pkg/strategy owns the full model.
func ReachableDeployments(svc *corev1.Service, deployments []appsv1.Deployment) []*appsv1.Deployment {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	colorKey := ColorKey(svc)
	base := map[string]string{}
	for k, v := range svc.Spec.Selector {
		if k != colorKey {
			base[k] = v
		}
	}
	_, blueGreen := svc.Spec.Selector[colorKey]
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	baseSel := labels.SelectorFromSet(base)
	var out []*appsv1.Deployment
	for i := range deployments {
		d := &deployments[i]
		if d.Namespace != svc.Namespace {
			continue
		}
		tl := labels.Set(d.Spec.Template.Labels)
		if sel.Matches(tl) || (blueGreen && len(base) > 0 && baseSel.Matches(tl) && tl[colorKey] != "") {
			out = append(out, d)
		}
	}
	return out
}

// selects reports whether a Service selector selects a label set (an empty selector
// selects nothing: such a Service has manually managed endpoints).
func selects(selector, podLabels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := podLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
