package troubleshoot

import (
	corev1 "k8s.io/api/core/v1"
)

// podIndex finds pods without scanning the whole snapshot: by namespace, and by the
// label pairs that Service selectors use. Lists keep the snapshot's order, so a rule gets
// the same pods in the same order as from a scan. Built on first use.
type podIndex struct {
	byNS map[string][]*corev1.Pod
	// byLabel maps namespace, key and value to the pods carrying that label; only keys
	// some Service selects on are indexed.
	byLabel map[labelKey][]*corev1.Pod
}

type labelKey struct{ ns, key, value string }

func (a *analysis) index() *podIndex {
	if a.pods != nil {
		return a.pods
	}
	keys := map[string]bool{}
	for i := range a.s.services {
		for k := range a.s.services[i].Spec.Selector {
			keys[k] = true
		}
	}
	ix := &podIndex{byNS: map[string][]*corev1.Pod{}, byLabel: map[labelKey][]*corev1.Pod{}}
	for i := range a.s.pods {
		p := &a.s.pods[i]
		ix.byNS[p.Namespace] = append(ix.byNS[p.Namespace], p)
		for k, v := range p.Labels {
			if keys[k] {
				lk := labelKey{p.Namespace, k, v}
				ix.byLabel[lk] = append(ix.byLabel[lk], p)
			}
		}
	}
	a.pods = ix
	return ix
}

// podsIn returns the pods of a namespace, in snapshot order.
func (a *analysis) podsIn(ns string) []*corev1.Pod { return a.index().byNS[ns] }

// podsSelected returns the pods of a namespace that an equality selector (a Service's)
// selects, in snapshot order: the shortest of the selector's label lists, filtered by the
// other terms. An empty selector selects nothing.
func (a *analysis) podsSelected(ns string, selector map[string]string) []*corev1.Pod {
	if len(selector) == 0 {
		return nil
	}
	ix := a.index()
	var shortest []*corev1.Pod
	first := true
	for k, v := range selector {
		l := ix.byLabel[labelKey{ns, k, v}]
		if first || len(l) < len(shortest) {
			shortest, first = l, false
		}
	}
	var out []*corev1.Pod
	for _, p := range shortest {
		if selects(selector, p.Labels) {
			out = append(out, p)
		}
	}
	return out
}
