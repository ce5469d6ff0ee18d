package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// statusCoalesce groups the burst of events one change causes (a rollout updates the
// Deployment, its ReplicaSet and every pod) into one re-render.
const statusCoalesce = 150 * time.Millisecond

// WatchStatus emits the status report, then a new one each time a Service, Deployment,
// Pod or HorizontalPodAutoscaler of the namespace changes what it shows (informers: one
// LIST and one WATCH per kind, no polling). It returns when ctx ends or emit fails.
func WatchStatus(ctx context.Context, client kubernetes.Interface, namespace, component string, keys Keys, emit func(*StatusReport) error) error {
	ns, nsErr := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	svcs := factory.Core().V1().Services()
	deps := factory.Apps().V1().Deployments()
	pods := factory.Core().V1().Pods()
	hpas := factory.Autoscaling().V2().HorizontalPodAutoscalers()
	wl := watchWorkloads(factory)
	changed := make(chan struct{}, 1)
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal(changed) },
		UpdateFunc: func(any, any) { signal(changed) },
		DeleteFunc: func(any) { signal(changed) },
	}
	for _, inf := range append([]cache.SharedIndexInformer{svcs.Informer(), deps.Informer(), pods.Informer(), hpas.Informer()}, wl.informers()...) {
		if _, err := inf.AddEventHandler(notify); err != nil {
			return fmt.Errorf("watch namespace %s: %w", namespace, err)
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("watch %v in namespace %s: the cache did not sync", typ, namespace)
		}
	}
	last := ""
	for {
		if ctx.Err() != nil {
			return nil
		}
		inv := &StatusInventory{Inventory: Inventory{Namespace: namespace}, NS: ns, NSErr: nsErr}
		s, _ := svcs.Lister().Services(namespace).List(labels.Everything())
		for _, o := range s {
			inv.Services = append(inv.Services, *o)
		}
		d, _ := deps.Lister().Deployments(namespace).List(labels.Everything())
		for _, o := range d {
			inv.Deployments = append(inv.Deployments, *o)
		}
		p, _ := pods.Lister().Pods(namespace).List(labels.Everything())
		for _, o := range p {
			inv.Pods = append(inv.Pods, *o)
		}
		h, _ := hpas.Lister().HorizontalPodAutoscalers(namespace).List(labels.Everything())
		for _, o := range h {
			inv.HPAs = append(inv.HPAs, *o)
		}
		wl.fill(inv)
		sortInventory(inv)
		rep, err := BuildStatus(inv, component, keys, time.Now())
		if err != nil {
			return err
		}
		if b, _ := json.Marshal(rep); string(b) != last {
			last = string(b)
			if err := emit(rep); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statusCoalesce):
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sortInventory orders lister output (a map walk) by name, as a LIST returns it.
func sortInventory(inv *StatusInventory) {
	sortByName(inv.Services, func(o corev1.Service) string { return o.Name })
	sortByName(inv.Deployments, func(o appsv1.Deployment) string { return o.Name })
	sortByName(inv.Pods, func(o corev1.Pod) string { return o.Name })
	sortByName(inv.HPAs, func(o autoscalingv2.HorizontalPodAutoscaler) string { return o.Name })
}

func sortByName[T any](s []T, name func(T) string) {
	sort.Slice(s, func(i, j int) bool { return name(s[i]) < name(s[j]) })
}
