package troubleshoot

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// moreObjects are the kinds the workload, ingress, autoscaling and network analyzers read,
// kept apart from the core snapshot so that both can change without touching each other.
type moreObjects struct {
	statefulSets   []appsv1.StatefulSet
	daemonSets     []appsv1.DaemonSet
	jobs           []batchv1.Job
	cronJobs       []batchv1.CronJob
	ingresses      []networkingv1.Ingress
	ingressClasses []networkingv1.IngressClass
	hpas           []autoscalingv2.HorizontalPodAutoscaler
	netpols        []networkingv1.NetworkPolicy
}

// typedSpec is one LIST of a typed client appended item by item to into.
func typedSpec[L runtime.Object, T any](kind string, list func(ctx context.Context, o metav1.ListOptions) (L, error), into *[]T) listSpec {
	return listSpec{kind: kind,
		page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, o) },
		add:  func(o runtime.Object) { *into = append(*into, *any(o).(*T)) }}
}

// moreSpecs are the LISTs of moreObjects: one paged LIST per kind, like every other.
func (s *snapshot) moreSpecs(kube kubernetes.Interface, ns string, k kinds) []listSpec {
	var specs []listSpec
	if k.workloads {
		apps, batch := kube.AppsV1(), kube.BatchV1()
		specs = append(specs,
			typedSpec("statefulsets", apps.StatefulSets(ns).List, &s.statefulSets),
			typedSpec("daemonsets", apps.DaemonSets(ns).List, &s.daemonSets),
			typedSpec("jobs", batch.Jobs(ns).List, &s.jobs),
			typedSpec("cronjobs", batch.CronJobs(ns).List, &s.cronJobs),
			typedSpec("horizontalpodautoscalers", kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List, &s.hpas))
	}
	if k.services {
		net := kube.NetworkingV1()
		specs = append(specs,
			typedSpec("ingresses", net.Ingresses(ns).List, &s.ingresses),
			typedSpec("ingressclasses", net.IngressClasses().List, &s.ingressClasses),
			typedSpec("networkpolicies", net.NetworkPolicies(ns).List, &s.netpols))
	}
	return specs
}
