package troubleshoot

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
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

// typedSpec is one paged LIST of a typed kind whose items keep only what the analyzers read
// (managedFields and last-applied dropped as each page arrives, see trim.go).
func typedSpec[L metav1.ListInterface, T any](kind string, list pages.ListFunc[L], items func(L) []T, meta func(*T) *metav1.ObjectMeta, into *[]T) listSpec {
	return spec(kind, metav1.ListOptions{}, list, items, into, func(o *T) { pages.TrimMeta(meta(o)) })
}

// moreSpecs are the LISTs of moreObjects: one paged LIST per kind, like every other.
func (s *snapshot) moreSpecs(kube kubernetes.Interface, ns string, k kinds) []listSpec {
	var specs []listSpec
	if k.workloads {
		apps, batch := kube.AppsV1(), kube.BatchV1()
		specs = append(specs,
			typedSpec("statefulsets", apps.StatefulSets(ns).List, func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items }, func(o *appsv1.StatefulSet) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.statefulSets),
			typedSpec("daemonsets", apps.DaemonSets(ns).List, func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items }, func(o *appsv1.DaemonSet) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.daemonSets),
			typedSpec("jobs", batch.Jobs(ns).List, func(l *batchv1.JobList) []batchv1.Job { return l.Items }, func(o *batchv1.Job) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.jobs),
			typedSpec("cronjobs", batch.CronJobs(ns).List, func(l *batchv1.CronJobList) []batchv1.CronJob { return l.Items }, func(o *batchv1.CronJob) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.cronJobs),
			typedSpec("horizontalpodautoscalers", kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List, func(l *autoscalingv2.HorizontalPodAutoscalerList) []autoscalingv2.HorizontalPodAutoscaler {
				return l.Items
			}, func(o *autoscalingv2.HorizontalPodAutoscaler) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.hpas))
	}
	if k.services {
		net := kube.NetworkingV1()
		specs = append(specs,
			typedSpec("ingresses", net.Ingresses(ns).List, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items }, func(o *networkingv1.Ingress) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.ingresses),
			typedSpec("ingressclasses", net.IngressClasses().List, func(l *networkingv1.IngressClassList) []networkingv1.IngressClass { return l.Items }, func(o *networkingv1.IngressClass) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.ingressClasses),
			typedSpec("networkpolicies", net.NetworkPolicies(ns).List, func(l *networkingv1.NetworkPolicyList) []networkingv1.NetworkPolicy { return l.Items }, func(o *networkingv1.NetworkPolicy) *metav1.ObjectMeta { return &o.ObjectMeta }, &s.netpols))
	}
	return specs
}
