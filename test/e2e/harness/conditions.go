package harness

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// PodReady reports whether a pod is Ready and not terminating.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DescribePod is a one-line summary of a pod's state, for failure messages.
func DescribePod(p *corev1.Pod) string {
	var reasons []string
	all := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for i := range all {
		cs := &all[i]
		switch {
		case cs.State.Waiting != nil:
			reasons = append(reasons, cs.Name+"="+cs.State.Waiting.Reason)
		case cs.State.Terminated != nil:
			reasons = append(reasons, cs.Name+"="+cs.State.Terminated.Reason)
		}
	}
	return fmt.Sprintf("%s node=%s phase=%s ready=%t %s", p.Name, p.Spec.NodeName, p.Status.Phase, PodReady(p), strings.Join(reasons, " "))
}

// WaitForRollout waits until Deployment ns/name is fully rolled out: the controller saw the
// latest spec and every replica is updated, ready and available, with no old pod left.
func (h *H) WaitForRollout(ns, name string) *appsv1.Deployment {
	h.T.Helper()
	var got *appsv1.Deployment
	WaitFor(context.Background(), h.Deployments(ns), "rollout of deployment "+ns+"/"+name, func(ds []*appsv1.Deployment) (bool, error) {
		for _, d := range ds {
			if d.Name != name {
				continue
			}
			want := ptrOr(d.Spec.Replicas, 1)
			s := d.Status
			got = d
			return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.ReadyReplicas == want &&
				s.AvailableReplicas == want && s.Replicas == want, nil
		}
		return false, nil
	})
	return got
}

// WaitForPodsReady waits until exactly n pods of ns match selector, all Ready.
func (h *H) WaitForPodsReady(ns, selector string, n int) []*corev1.Pod {
	h.T.Helper()
	return WaitFor(context.Background(), h.Pods(ns, selector), fmt.Sprintf("%d ready pods %q in %s", n, selector, ns), func(ps []*corev1.Pod) (bool, error) {
		if len(ps) != n {
			return false, nil
		}
		for _, p := range ps {
			if !PodReady(p) {
				return false, nil
			}
		}
		return true, nil
	})
}

// WaitForPod waits until pod ns/name exists and cond holds for it.
func (h *H) WaitForPod(ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	h.T.Helper()
	var got *corev1.Pod
	WaitFor(context.Background(), h.Pods(ns, ""), "pod "+ns+"/"+name+" "+what, func(ps []*corev1.Pod) (bool, error) {
		for _, p := range ps {
			if p.Name == name {
				got = p
				return cond(p), nil
			}
		}
		return false, nil
	})
	return got
}

// WaitForPVCBound waits until claim ns/name is Bound.
func (h *H) WaitForPVCBound(ns, name string) *corev1.PersistentVolumeClaim {
	h.T.Helper()
	var got *corev1.PersistentVolumeClaim
	WaitFor(context.Background(), h.PersistentVolumeClaims(ns), "claim "+ns+"/"+name+" Bound", func(cs []*corev1.PersistentVolumeClaim) (bool, error) {
		for _, c := range cs {
			if c.Name == name {
				got = c
				return c.Status.Phase == corev1.ClaimBound, nil
			}
		}
		return false, nil
	})
	return got
}
