package strategy

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// StatusList is the -o json|yaml schema of `status -A`: one StatusReport per namespace
// that has components, in namespace order.
type StatusList struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespaces is how many namespaces were read (items only for those with components).
	Namespaces int            `json:"namespaces"`
	Items      []StatusReport `json:"items"`
	// Requests is the number of API requests the read took.
	Requests int `json:"requests"`
}

// statusReads are the paged reads of a status inventory, one LIST per kind per page.
type statusReads struct {
	services    []corev1.Service
	deployments []appsv1.Deployment
	pods        []corev1.Pod
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	namespaces  []corev1.Namespace
	// statefulSets and daemonSets are read with the rest; controllerRevisions (the
	// DaemonSets' revisions) and nodes (their pools) only when there is a DaemonSet.
	statefulSets        []appsv1.StatefulSet
	daemonSets          []appsv1.DaemonSet
	controllerRevisions []appsv1.ControllerRevision
	nodes               []corev1.Node
	hpaErr              error
	nsErr               error
	nodesErr            error
	requests            int
}

func trimService(o *corev1.Service)                       { pages.TrimMeta(&o.ObjectMeta) }
func trimDeployment(o *appsv1.Deployment)                 { pages.TrimMeta(&o.ObjectMeta) }
func trimHPA(o *autoscalingv2.HorizontalPodAutoscaler)    { pages.TrimMeta(&o.ObjectMeta) }
func trimNamespace(o *corev1.Namespace)                   { pages.TrimMeta(&o.ObjectMeta) }
func serviceItems(l *corev1.ServiceList) []corev1.Service { return l.Items }
func deploymentItems(l *appsv1.DeploymentList) []appsv1.Deployment {
	return l.Items
}
func podItems(l *corev1.PodList) []corev1.Pod { return l.Items }
func hpaItems(l *autoscalingv2.HorizontalPodAutoscalerList) []autoscalingv2.HorizontalPodAutoscaler {
	return l.Items
}
func trimStatefulSet(o *appsv1.StatefulSet) { pages.TrimMeta(&o.ObjectMeta) }
func trimDaemonSet(o *appsv1.DaemonSet)     { pages.TrimMeta(&o.ObjectMeta) }

// trimRevision keeps what status reads of a ControllerRevision: its owner, revision number
// and hash label, not the template it stores.
func trimRevision(o *appsv1.ControllerRevision) {
	pages.TrimMeta(&o.ObjectMeta)
	o.Data = runtime.RawExtension{}
}

// trimPod keeps what status reads of a pod. A ready pod with nothing wrong (ClassifyPod finds
// nothing: at scale, nearly every pod) is cut, as its page arrives, to what status reads of
// it: its identity, labels and owners (grouping by selector, ReplicaSet and controller), its
// node (DaemonSet pools), phase and Ready condition (counted ready, never listed). A pod
// that is not ready, terminating or failing is kept whole (apart from managedFields): its
// row says why, from its containers' states and conditions.
func trimPod(o *corev1.Pod) {
	pages.TrimMeta(&o.ObjectMeta)
	if o.DeletionTimestamp != nil || podNotReadyReason(o) != "" {
		return
	}
	var ready corev1.PodCondition
	for _, c := range o.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready = corev1.PodCondition{Type: c.Type, Status: c.Status}
		}
	}
	*o = corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: o.Name, Namespace: o.Namespace, UID: o.UID, Labels: o.Labels,
			OwnerReferences: o.OwnerReferences, CreationTimestamp: o.CreationTimestamp,
		},
		Spec:   corev1.PodSpec{NodeName: o.Spec.NodeName},
		Status: corev1.PodStatus{Phase: o.Status.Phase, Conditions: []corev1.PodCondition{ready}},
	}
}

func trimNode(o *corev1.Node) {
	pages.TrimMeta(&o.ObjectMeta)
	o.Status.Images = nil
}

// statusRead is one paged LIST of readStatus.
type statusRead struct {
	what string
	run  func() (int, error)
	soft *error // nil: an error fails the read
}

// readStatus pages Services, Deployments, StatefulSets, DaemonSets, Pods and HPAs of
// namespace ("" = all) in parallel, and with all, the Namespaces; when there is a DaemonSet,
// then its ControllerRevisions and the Nodes (in parallel). Forbidden HPAs, Namespaces or
// Nodes degrade the report; any other read that fails fails it, naming the read.
func readStatus(ctx context.Context, client kubernetes.Interface, namespace string, all bool) (*statusReads, error) {
	r := &statusReads{}
	where := "in " + namespace
	if namespace == "" {
		where = "in all namespaces"
	}
	none := metav1.ListOptions{}
	reads := []statusRead{
		{"services", func() (int, error) {
			return pages.Read(ctx, none, client.CoreV1().Services(namespace).List, serviceItems, &r.services, trimService)
		}, nil},
		{"deployments", func() (int, error) {
			return pages.Read(ctx, none, client.AppsV1().Deployments(namespace).List, deploymentItems, &r.deployments, trimDeployment)
		}, nil},
		{"statefulsets", func() (int, error) {
			return pages.Read(ctx, none, client.AppsV1().StatefulSets(namespace).List,
				func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items }, &r.statefulSets, trimStatefulSet)
		}, nil},
		{"daemonsets", func() (int, error) {
			return pages.Read(ctx, none, client.AppsV1().DaemonSets(namespace).List,
				func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items }, &r.daemonSets, trimDaemonSet)
		}, nil},
		{"pods", func() (int, error) {
			return pages.Read(ctx, none, client.CoreV1().Pods(namespace).List, podItems, &r.pods, trimPod)
		}, nil},
		{"horizontalpodautoscalers", func() (int, error) {
			return pages.Read(ctx, none, client.AutoscalingV2().HorizontalPodAutoscalers(namespace).List, hpaItems, &r.hpas, trimHPA)
		}, &r.hpaErr},
	}
	if all {
		reads = append(reads, statusRead{"namespaces", func() (int, error) {
			return pages.Read(ctx, none, client.CoreV1().Namespaces().List,
				func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items }, &r.namespaces, trimNamespace)
		}, &r.nsErr})
	}
	if err := r.run(reads, where); err != nil {
		return nil, err
	}
	if len(r.daemonSets) == 0 {
		return r, nil
	}
	more := []statusRead{
		{"controllerrevisions", func() (int, error) {
			return pages.Read(ctx, none, client.AppsV1().ControllerRevisions(namespace).List,
				func(l *appsv1.ControllerRevisionList) []appsv1.ControllerRevision { return l.Items }, &r.controllerRevisions, trimRevision)
		}, nil},
		{"nodes", func() (int, error) {
			return pages.Read(ctx, none, client.CoreV1().Nodes().List,
				func(l *corev1.NodeList) []corev1.Node { return l.Items }, &r.nodes, trimNode)
		}, &r.nodesErr},
	}
	if err := r.run(more, where); err != nil {
		return nil, err
	}
	return r, nil
}

// run makes the reads in parallel and counts their requests; the first failed read that is
// not soft is the error.
func (r *statusReads) run(reads []statusRead, where string) error {
	errs := make([]error, len(reads))
	counts := make([]int, len(reads))
	done := make(chan int, len(reads))
	for i := range reads {
		go func() {
			counts[i], errs[i] = reads[i].run()
			done <- i
		}()
	}
	for range reads {
		<-done
	}
	for i, rd := range reads {
		r.requests += counts[i]
		switch {
		case errs[i] == nil:
		case rd.soft != nil:
			*rd.soft = errs[i]
		default:
			return fmt.Errorf("list %s %s: %w", rd.what, where, errs[i])
		}
	}
	return nil
}

// LoadStatusAll reads every namespace for `status -A`: Services, Deployments, StatefulSets,
// DaemonSets, Pods, HorizontalPodAutoscalers and Namespaces (and, with DaemonSets, their
// ControllerRevisions and the Nodes), one paged LIST per kind, in parallel, and returns
// one inventory per namespace that has Services, in namespace order. A forbidden namespace
// or HPA read degrades the reports instead of failing them.
func LoadStatusAll(ctx context.Context, client kubernetes.Interface) (*StatusAll, error) {
	r, err := readStatus(ctx, client, "", true)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	byNS := map[string]*StatusInventory{}
	inv := func(ns string) *StatusInventory {
		if v := byNS[ns]; v != nil {
			return v
		}
		v := &StatusInventory{Inventory: Inventory{Namespace: ns}, fetchedAt: now, HPAErr: r.hpaErr, NSErr: r.nsErr}
		byNS[ns] = v
		return v
	}
	// Only namespaces with Services can have components; the others get no inventory.
	for _, run := range groupRuns(r.services, func(o *corev1.Service) string { return o.Namespace }) {
		inv(run.ns).Services = r.services[run.from:run.to]
	}
	for _, run := range groupRuns(r.deployments, func(o *appsv1.Deployment) string { return o.Namespace }) {
		if v := byNS[run.ns]; v != nil {
			v.Deployments = r.deployments[run.from:run.to]
		}
	}
	for _, run := range groupRuns(r.pods, func(o *corev1.Pod) string { return o.Namespace }) {
		if v := byNS[run.ns]; v != nil {
			v.Pods = r.pods[run.from:run.to]
		}
	}
	for _, run := range groupRuns(r.hpas, func(o *autoscalingv2.HorizontalPodAutoscaler) string { return o.Namespace }) {
		if v := byNS[run.ns]; v != nil {
			v.HPAs = r.hpas[run.from:run.to]
		}
	}
	for _, run := range groupRuns(r.statefulSets, func(o *appsv1.StatefulSet) string { return o.Namespace }) {
		if v := byNS[run.ns]; v != nil {
			v.StatefulSets = r.statefulSets[run.from:run.to]
		}
	}
	for _, run := range groupRuns(r.daemonSets, func(o *appsv1.DaemonSet) string { return o.Namespace }) {
		if v := byNS[run.ns]; v != nil {
			v.DaemonSets = r.daemonSets[run.from:run.to]
			v.Nodes, v.NodesErr = r.nodes, r.nodesErr
		}
	}
	for _, run := range groupRuns(r.controllerRevisions, func(o *appsv1.ControllerRevision) string { return o.Namespace }) {
		if v := byNS[run.ns]; v != nil {
			v.ControllerRevisions = r.controllerRevisions[run.from:run.to]
		}
	}
	nsObjs := map[string]*corev1.Namespace{}
	for i := range r.namespaces {
		nsObjs[r.namespaces[i].Name] = &r.namespaces[i]
	}
	out := make([]*StatusInventory, 0, len(byNS))
	for name, v := range byNS {
		if r.nsErr == nil {
			v.NS = nsObjs[name]
			if v.NS == nil { // created after the Namespace list was read
				v.NSErr = apierrors.NewNotFound(corev1.Resource("namespaces"), name)
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	namespaces := len(r.namespaces)
	if r.nsErr != nil {
		namespaces = len(out)
	}
	return &StatusAll{Inventories: out, Namespaces: namespaces, Requests: r.requests}, nil
}

// StatusAll is what LoadStatusAll read.
type StatusAll struct {
	// Inventories are those of the namespaces with Services, in namespace order.
	Inventories []*StatusInventory
	// Namespaces is how many namespaces exist (or, when they cannot be listed, have Services).
	Namespaces int
	// Requests is the number of LIST requests made.
	Requests int
}

// run is a stretch of a slice whose items share a namespace.
type run struct {
	ns       string
	from, to int
}

// groupRuns sorts items by namespace (stable: the apiserver returns them in namespace
// and name order already, so this is normally a check) and returns the runs.
func groupRuns[T any](items []T, ns func(*T) string) []run {
	if !sort.SliceIsSorted(items, func(i, j int) bool { return ns(&items[i]) < ns(&items[j]) }) {
		sort.SliceStable(items, func(i, j int) bool { return ns(&items[i]) < ns(&items[j]) })
	}
	var out []run
	for i := range items {
		n := ns(&items[i])
		if len(out) == 0 || out[len(out)-1].ns != n {
			out = append(out, run{ns: n, from: i})
		}
		out[len(out)-1].to = i + 1
	}
	return out
}

// BuildStatusAll is BuildStatus for every inventory: the namespaces with components.
func BuildStatusAll(all *StatusAll, keys Keys, now time.Time) (*StatusList, error) {
	tm := report.TypeMeta("StatusReportList")
	list := &StatusList{APIVersion: tm.APIVersion, Kind: tm.Kind, Namespaces: all.Namespaces, Requests: all.Requests, Items: []StatusReport{}}
	for _, inv := range all.Inventories {
		rep, err := BuildStatus(inv, "", keys, now)
		if err != nil {
			return nil, err
		}
		if len(rep.Components) > 0 {
			list.Items = append(list.Items, *rep)
		}
	}
	return list, nil
}

// workloadsInto gives a one-namespace inventory the StatefulSets, DaemonSets, their
// ControllerRevisions and the nodes read.
func (r *statusReads) workloadsInto(inv *StatusInventory) {
	inv.StatefulSets, inv.DaemonSets, inv.ControllerRevisions = r.statefulSets, r.daemonSets, r.controllerRevisions
	inv.Nodes, inv.NodesErr = r.nodes, r.nodesErr
}
