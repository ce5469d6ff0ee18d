package strategy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// The strategies of components whose workload is not a Deployment (PRODUCT.md §1).
const (
	// StatefulSetStrategy is a Service reaching one StatefulSet: rolling, or a canary by
	// updateStrategy.rollingUpdate.partition (the highest ordinals move first).
	StatefulSetStrategy Kind = "statefulset"
	// DaemonSetStrategy is a Service reaching one DaemonSet: rolling only.
	DaemonSetStrategy Kind = "daemonset"
)

// IsWorkload reports whether a component's strategy is a StatefulSet's or a DaemonSet's:
// the verbs hand those to the workload functions of this package.
func IsWorkload(c *Component) bool {
	return c != nil && (c.Strategy == StatefulSetStrategy || c.Strategy == DaemonSetStrategy)
}

// WorkloadKinds are the strategies of IsWorkload, for the verbs' lists of accepted strategies.
func WorkloadKinds() []Kind { return []Kind{StatefulSetStrategy, DaemonSetStrategy} }

// workloads are a namespace's StatefulSets and DaemonSets, listed once each.
type workloads struct {
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
}

// listWorkloads lists the namespace's StatefulSets and DaemonSets in parallel (one LIST each).
func listWorkloads(ctx context.Context, client kubernetes.Interface, namespace string) (workloads, error) {
	var out workloads
	var wg sync.WaitGroup
	var stsErr, dsErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		l, err := client.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			stsErr = fmt.Errorf("list statefulsets in %s: %w", namespace, err)
			return
		}
		out.StatefulSets = l.Items
	}()
	go func() {
		defer wg.Done()
		l, err := client.AppsV1().DaemonSets(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			dsErr = fmt.Errorf("list daemonsets in %s: %w", namespace, err)
			return
		}
		out.DaemonSets = l.Items
	}()
	wg.Wait()
	if stsErr != nil {
		return out, stsErr
	}
	return out, dsErr
}

// loadWorkloads completes a loaded component whose Service reaches no Deployment: it lists
// the StatefulSets and DaemonSets (two LISTs, in parallel) and recognises them. A Service
// that reaches a Deployment keeps its Deployment strategy and costs no extra request. A
// LIST that fails (forbidden included) is an error naming it: what the Service fronts is
// then unknown, and no verb may act on (or report) a guess.
func loadWorkloads(ctx context.Context, client kubernetes.Interface, c *Component) error {
	if len(c.Deployments) > 0 || len(c.Service.Spec.Selector) == 0 {
		return nil
	}
	w, err := listWorkloads(ctx, client, c.Namespace())
	if apierrors.IsForbidden(errors.Unwrap(err)) {
		return fmt.Errorf("component %s: service %s/%s reaches no deployment and what else it fronts cannot be read: %w; grant list on statefulsets and daemonsets (deploy/rbac/) — nothing was changed", c.Name(), c.Namespace(), c.Name(), err)
	}
	if err != nil {
		return err
	}
	recogniseWorkloads(c, w.StatefulSets, w.DaemonSets)
	return nil
}

// recogniseWorkloads adds the StatefulSets and DaemonSets whose pod template the Service's
// selector matches, and, when the Service reaches no Deployment and exactly one of them,
// makes the component that workload's strategy. Several workloads, or a mix with
// Deployments, keep the component unknown (or its Deployment strategy): status still shows
// each of them.
func recogniseWorkloads(c *Component, statefulSets []appsv1.StatefulSet, daemonSets []appsv1.DaemonSet) {
	if len(c.Service.Spec.Selector) == 0 {
		return
	}
	sel := labels.SelectorFromSet(c.Service.Spec.Selector)
	c.StatefulSets, c.DaemonSets = nil, nil
	for i := range statefulSets {
		if sel.Matches(labels.Set(statefulSets[i].Spec.Template.Labels)) {
			c.StatefulSets = append(c.StatefulSets, &statefulSets[i])
		}
	}
	for i := range daemonSets {
		if sel.Matches(labels.Set(daemonSets[i].Spec.Template.Labels)) {
			c.DaemonSets = append(c.DaemonSets, &daemonSets[i])
		}
	}
	sort.Slice(c.StatefulSets, func(i, j int) bool { return c.StatefulSets[i].Name < c.StatefulSets[j].Name })
	sort.Slice(c.DaemonSets, func(i, j int) bool { return c.DaemonSets[i].Name < c.DaemonSets[j].Name })
	if len(c.Deployments) > 0 {
		return
	}
	switch {
	case len(c.StatefulSets) == 1 && len(c.DaemonSets) == 0:
		c.Strategy = StatefulSetStrategy
		c.ColorKey, c.LiveColor, c.Colors, c.TrackKey = "", "", nil, ""
	case len(c.DaemonSets) == 1 && len(c.StatefulSets) == 0:
		c.Strategy = DaemonSetStrategy
		c.ColorKey, c.LiveColor, c.Colors, c.TrackKey = "", "", nil, ""
	}
}

// hasWorkloads reports whether the component reaches any workload at all.
func (c *Component) hasWorkloads() bool {
	return len(c.Deployments)+len(c.StatefulSets)+len(c.DaemonSets) > 0
}

// StatefulSet is the single StatefulSet of a statefulset component (nil otherwise).
func (c *Component) StatefulSet() *appsv1.StatefulSet {
	if c.Strategy != StatefulSetStrategy || len(c.StatefulSets) != 1 {
		return nil
	}
	return c.StatefulSets[0]
}

// DaemonSet is the single DaemonSet of a daemonset component (nil otherwise).
func (c *Component) DaemonSet() *appsv1.DaemonSet {
	if c.Strategy != DaemonSetStrategy || len(c.DaemonSets) != 1 {
		return nil
	}
	return c.DaemonSets[0]
}

// workloadRef is "statefulset/NAME" or "daemonset/NAME": how results name the object.
func workloadRef(kind, name string) string { return strings.ToLower(kind) + "/" + name }

// stsReplicas is a StatefulSet's desired replicas (the API default 1 when unset).
func stsReplicas(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// stsPartition is the StatefulSet's rolling-update partition (0 when unset).
func stsPartition(s *appsv1.StatefulSet) int32 {
	ru := s.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.Partition == nil {
		return 0
	}
	return *ru.Partition
}

// stsMaxUnavailable is the StatefulSet's rolling-update maxUnavailable as text ("1" when
// unset, which is what the controller does).
func stsMaxUnavailable(s *appsv1.StatefulSet) string {
	ru := s.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return "1"
	}
	return ru.MaxUnavailable.String()
}

// stsPolicyText states how the StatefulSet replaces pods: its pod management policy and
// maxUnavailable.
func stsPolicyText(s *appsv1.StatefulSet) string {
	policy := s.Spec.PodManagementPolicy
	if policy == "" {
		policy = appsv1.OrderedReadyPodManagement
	}
	return fmt.Sprintf("%s, maxUnavailable %s", policy, stsMaxUnavailable(s))
}

// podOrdinal is the ordinal of a StatefulSet pod (NAME-N), -1 when the name does not say.
func podOrdinal(set, pod string) int {
	rest, ok := strings.CutPrefix(pod, set+"-")
	if !ok {
		return -1
	}
	n := 0
	for _, r := range rest {
		if r < '0' || r > '9' {
			return -1
		}
		n = n*10 + int(r-'0')
	}
	if rest == "" {
		return -1
	}
	return n
}

// ownedPods filters pods to those controlled by the object with uid (not terminating when
// live is set).
func ownedPods(pods []corev1.Pod, uid string, live bool) []corev1.Pod {
	var out []corev1.Pod
	for i := range pods {
		p := &pods[i]
		if live && p.DeletionTimestamp != nil {
			continue
		}
		for _, ref := range p.OwnerReferences {
			if ref.Controller != nil && *ref.Controller && string(ref.UID) == uid {
				out = append(out, *p)
				break
			}
		}
	}
	return out
}

// listSelectorPods lists the pods a workload's selector matches (one LIST).
func listSelectorPods(ctx context.Context, env *Env, ns, what string, selector *metav1.LabelSelector) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("%s selector: %w", what, err)
	}
	list, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", what, err)
	}
	return list.Items, nil
}
