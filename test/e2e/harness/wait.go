package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// DefaultWait bounds a wait whose context has no deadline.
const DefaultWait = 60 * time.Second

// Source is a set of objects of one kind to wait on: a list followed by a watch.
type Source[T runtime.Object] struct {
	h        *H
	lw       cache.ListerWatcher
	example  T
	describe func(T) string
}

func newSource[T runtime.Object](h *H, getter cache.Getter, resource, ns string, example T, describe func(T) string, modify func(*metav1.ListOptions)) Source[T] {
	if modify == nil {
		modify = func(*metav1.ListOptions) {}
	}
	return Source[T]{h: h, lw: cache.NewFilteredListWatchFromClient(getter, resource, ns, modify), example: example, describe: describe}
}

func withLabels(selector string) func(*metav1.ListOptions) {
	return func(o *metav1.ListOptions) { o.LabelSelector = selector }
}

// Pods is the pods of ns matching a label selector ("" for all).
func (h *H) Pods(ns, selector string) Source[*corev1.Pod] {
	return newSource(h, h.Client.CoreV1().RESTClient(), "pods", ns, &corev1.Pod{}, DescribePod, withLabels(selector))
}

// Deployments is the Deployments of ns.
func (h *H) Deployments(ns string) Source[*appsv1.Deployment] {
	return newSource(h, h.Client.AppsV1().RESTClient(), "deployments", ns, &appsv1.Deployment{}, func(d *appsv1.Deployment) string {
		return fmt.Sprintf("%s replicas=%d updated=%d ready=%d available=%d total=%d", d.Name, ptrOr(d.Spec.Replicas, 1),
			d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.Replicas)
	}, nil)
}

// ReplicaSets is the ReplicaSets of ns matching a label selector ("" for all).
func (h *H) ReplicaSets(ns, selector string) Source[*appsv1.ReplicaSet] {
	return newSource(h, h.Client.AppsV1().RESTClient(), "replicasets", ns, &appsv1.ReplicaSet{}, func(r *appsv1.ReplicaSet) string {
		return fmt.Sprintf("%s replicas=%d ready=%d available=%d", r.Name, ptrOr(r.Spec.Replicas, 1), r.Status.ReadyReplicas, r.Status.AvailableReplicas)
	}, withLabels(selector))
}

// Services is the Services of ns.
func (h *H) Services(ns string) Source[*corev1.Service] {
	return newSource(h, h.Client.CoreV1().RESTClient(), "services", ns, &corev1.Service{}, func(s *corev1.Service) string {
		return fmt.Sprintf("%s selector=%v", s.Name, s.Spec.Selector)
	}, nil)
}

// PodDisruptionBudgets is the PodDisruptionBudgets of ns.
func (h *H) PodDisruptionBudgets(ns string) Source[*policyv1.PodDisruptionBudget] {
	return newSource(h, h.Client.PolicyV1().RESTClient(), "poddisruptionbudgets", ns, &policyv1.PodDisruptionBudget{}, func(b *policyv1.PodDisruptionBudget) string {
		return fmt.Sprintf("%s observedGeneration=%d healthy=%d desired=%d allowed=%d", b.Name, b.Status.ObservedGeneration,
			b.Status.CurrentHealthy, b.Status.DesiredHealthy, b.Status.DisruptionsAllowed)
	}, nil)
}

// PersistentVolumeClaims is the claims of ns.
func (h *H) PersistentVolumeClaims(ns string) Source[*corev1.PersistentVolumeClaim] {
	return newSource(h, h.Client.CoreV1().RESTClient(), "persistentvolumeclaims", ns, &corev1.PersistentVolumeClaim{}, func(c *corev1.PersistentVolumeClaim) string {
		return fmt.Sprintf("%s phase=%s volume=%s", c.Name, c.Status.Phase, c.Spec.VolumeName)
	}, nil)
}

// EndpointSlices is the EndpointSlices of a Service.
func (h *H) EndpointSlices(ns, service string) Source[*discoveryv1.EndpointSlice] {
	return newSource(h, h.Client.DiscoveryV1().RESTClient(), "endpointslices", ns, &discoveryv1.EndpointSlice{}, func(s *discoveryv1.EndpointSlice) string {
		return fmt.Sprintf("%s endpoints=%d", s.Name, len(s.Endpoints))
	}, withLabels(discoveryv1.LabelServiceName+"="+service))
}

// Events is the events of ns whose involved object has the given name ("" for all).
func (h *H) Events(ns, involvedName string) Source[*corev1.Event] {
	modify := func(*metav1.ListOptions) {}
	if involvedName != "" {
		modify = func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("involvedObject.name", involvedName).String()
		}
	}
	return newSource(h, h.Client.CoreV1().RESTClient(), "events", ns, &corev1.Event{}, func(e *corev1.Event) string {
		return fmt.Sprintf("%s %s %s: %s", e.InvolvedObject.Name, e.Type, e.Reason, e.Message)
	}, modify)
}

// ServiceAccounts is the ServiceAccounts of ns.
func (h *H) ServiceAccounts(ns string) Source[*corev1.ServiceAccount] {
	return newSource(h, h.Client.CoreV1().RESTClient(), "serviceaccounts", ns, &corev1.ServiceAccount{}, func(s *corev1.ServiceAccount) string { return s.Name }, nil)
}

// Nodes is the cluster's nodes.
func (h *H) Nodes() Source[*corev1.Node] {
	return newSource(h, h.Client.CoreV1().RESTClient(), "nodes", "", &corev1.Node{}, func(n *corev1.Node) string {
		return fmt.Sprintf("%s unschedulable=%t", n.Name, n.Spec.Unschedulable)
	}, nil)
}

// WaitFor lists and then watches src, calling cond with all current objects (sorted by
// namespace/name) after the initial list and after every change, until cond returns true.
// It fails the test when cond errs or ctx ends (DefaultWait when ctx has no deadline), naming
// what it waited for and the last objects seen. It returns those objects.
func WaitFor[T runtime.Object](ctx context.Context, src Source[T], what string, cond func([]T) (bool, error)) []T {
	src.h.T.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	items := map[string]T{}
	var last []T
	check := func() (bool, error) {
		keys := make([]string, 0, len(items))
		for k := range items {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		last = last[:0]
		for _, k := range keys {
			last = append(last, items[k])
		}
		return cond(last)
	}
	_, err := watchtools.UntilWithSync(ctx, src.lw, src.example, func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			if t, ok := o.(T); ok {
				items[objectKey(t)] = t
			}
		}
		return check()
	}, func(ev watch.Event) (bool, error) {
		t, ok := ev.Object.(T)
		if !ok {
			return false, nil
		}
		switch ev.Type {
		case watch.Added, watch.Modified:
			items[objectKey(ev.Object)] = t
		case watch.Deleted:
			delete(items, objectKey(ev.Object))
		}
		return check()
	})
	if err != nil {
		lines := make([]string, 0, len(last))
		for _, o := range last {
			lines = append(lines, "  "+src.describe(o))
		}
		src.h.T.Fatalf("wait for %s: %v; last seen (%d):\n%s", what, err, len(last), strings.Join(lines, "\n"))
	}
	return last
}

func objectKey(o runtime.Object) string {
	m, err := metaAccessor(o)
	if err != nil {
		return fmt.Sprintf("%p", o)
	}
	return m.GetNamespace() + "/" + m.GetName()
}

func metaAccessor(o runtime.Object) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	return m, nil
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
