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

// moreSpecs are the LISTs of moreObjects: one paged LIST per kind, like every other.
func (s *snapshot) moreSpecs(kube kubernetes.Interface, ns string, k kinds) []listSpec {
	var specs []listSpec
	if k.workloads {
		apps, batch := kube.AppsV1(), kube.BatchV1()
		specs = append(specs,
			listSpec{kind: "statefulsets",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return apps.StatefulSets(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.statefulSets = append(s.statefulSets, *o.(*appsv1.StatefulSet)) }},
			listSpec{kind: "daemonsets",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return apps.DaemonSets(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.daemonSets = append(s.daemonSets, *o.(*appsv1.DaemonSet)) }},
			listSpec{kind: "jobs",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return batch.Jobs(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.jobs = append(s.jobs, *o.(*batchv1.Job)) }},
			listSpec{kind: "cronjobs",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return batch.CronJobs(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.cronJobs = append(s.cronJobs, *o.(*batchv1.CronJob)) }},
			listSpec{kind: "horizontalpodautoscalers",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, o)
				},
				add: func(o runtime.Object) {
					s.hpas = append(s.hpas, *o.(*autoscalingv2.HorizontalPodAutoscaler))
				}},
		)
	}
	if k.services {
		net := kube.NetworkingV1()
		specs = append(specs,
			listSpec{kind: "ingresses",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return net.Ingresses(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.ingresses = append(s.ingresses, *o.(*networkingv1.Ingress)) }},
			listSpec{kind: "ingressclasses",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return net.IngressClasses().List(ctx, o)
				},
				add: func(o runtime.Object) {
					s.ingressClasses = append(s.ingressClasses, *o.(*networkingv1.IngressClass))
				}},
			listSpec{kind: "networkpolicies",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return net.NetworkPolicies(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.netpols = append(s.netpols, *o.(*networkingv1.NetworkPolicy)) }},
		)
	}
	return specs
}
