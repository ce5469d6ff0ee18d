package troubleshoot

import (
	corev1 "k8s.io/api/core/v1"
)

// podIndex finds pods without scanning the whole snapshot: by namespace, and by the
// label pairs that Service selectors use. Lists keep the snapshot's order, so a rule gets
// the same pods in the same order as from a scan. Built on first use.
type podIndex struct {
	byNS map[string][]int // indexes in the snapshot's pods
	// byLabel maps namespace, key and value to the pods carrying that label; only keys
	// some Service selects on are indexed.
	byLabel map[labelKey][]int
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
	ix := &podIndex{byNS: map[string][]int{}, byLabel: map[labelKey][]int{}}
	for i := range a.s.pods {
		r := &a.s.pods[i]
		ns := r.namespace()
		ix.byNS[ns] = append(ix.byNS[ns], i)
		for k, v := range r.labels() {
			if keys[k] {
				lk := labelKey{ns, k, v}
				ix.byLabel[lk] = append(ix.byLabel[lk], i)
			}
		}
	}
	a.pods = ix
	return ix
}

// podsIn returns the pods of a namespace, in snapshot order.
func (a *analysis) podsIn(ns string) []*corev1.Pod {
	ixs := a.index().byNS[ns]
	out := make([]*corev1.Pod, len(ixs))
	for j, i := range ixs {
		out[j] = a.s.pods[i].pod()
	}
	return out
}

// podByKey returns the pod ns/name of the snapshot, or nil.
func (a *analysis) podByKey(ns, name string) *corev1.Pod {
	if i, ok := a.podsByKey[podKey{ns, name}]; ok {
		return a.s.pods[i].pod()
	}
	return nil
}

// podsSelected returns the pods of a namespace that an equality selector (a Service's)
// selects, in snapshot order: the shortest of the selector's label lists, filtered by the
// other terms. An empty selector selects nothing.
func (a *analysis) podsSelected(ns string, selector map[string]string) []*corev1.Pod {
	if len(selector) == 0 {
		return nil
	}
	ix := a.index()
	var shortest []int
	first := true
	for k, v := range selector {
		l := ix.byLabel[labelKey{ns, k, v}]
		if first || len(l) < len(shortest) {
			shortest, first = l, false
		}
	}
	var out []*corev1.Pod
	for _, i := range shortest {
		if selects(selector, a.s.pods[i].labels()) {
			out = append(out, a.s.pods[i].pod())
		}
	}
	return out
}
