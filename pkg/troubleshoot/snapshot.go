package troubleshoot

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/pager"
)

// PageSize is the page size of every LIST diagnose makes: large enough that a namespace of
// a few thousand pods takes a handful of requests, small enough that the apiserver never
// builds one huge response.
const PageSize = 500

var (
	secretsGVR    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// kinds selects which lists a snapshot makes.
type kinds struct {
	services, endpointSlices, storage, workloads, config bool
}

var allKinds = kinds{services: true, endpointSlices: true, storage: true, workloads: true, config: true}

// snapshot is everything diagnose reads, each kind listed once.
type snapshot struct {
	namespace string // "" = all namespaces

	pods            []corev1.Pod
	events          []corev1.Event
	services        []corev1.Service
	slices          []discoveryv1.EndpointSlice
	nodes           []corev1.Node
	pvcs            []corev1.PersistentVolumeClaim
	pvs             []corev1.PersistentVolume
	classes         []storagev1.StorageClass
	replicaSets     []appsv1.ReplicaSet
	deployments     []appsv1.Deployment
	pdbs            []policyv1.PodDisruptionBudget
	quotas          []corev1.ResourceQuota
	serviceAccounts []corev1.ServiceAccount
	// ConfigMaps and Secrets are metadata only: a Secret's data never reaches this process.
	configMaps []metav1.PartialObjectMetadata
	secrets    []metav1.PartialObjectMetadata
	moreObjects

	// known records which kinds were read; a kind that could not be read (RBAC) is not
	// evidence of absence.
	known   map[string]bool
	skipped []string

	requests atomic.Int64
	mu       sync.Mutex
}

func (s *snapshot) has(kind string) bool { return s.known[kind] }

// listSpec is one LIST: its kind name (for reports and the request count) and the paged call.
type listSpec struct {
	kind string
	page func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	add  func(obj runtime.Object)
	opts metav1.ListOptions
}

// take builds a snapshot with one paged LIST per kind, all in parallel. A LIST refused with
// Forbidden (or a kind the server does not serve) is recorded in skipped, not fatal: diagnose
// says what it could not check instead of failing.
func take(ctx context.Context, kube kubernetes.Interface, meta metadata.Interface, ns string, podSelector string, k kinds) (*snapshot, error) {
	s := &snapshot{namespace: ns, known: map[string]bool{}}
	core := kube.CoreV1()
	specs := []listSpec{
		{kind: "pods", opts: metav1.ListOptions{FieldSelector: podSelector},
			page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return core.Pods(ns).List(ctx, o)
			},
			add: func(o runtime.Object) { s.pods = append(s.pods, *o.(*corev1.Pod)) }},
		{kind: "events",
			page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return core.Events(ns).List(ctx, o)
			},
			add: func(o runtime.Object) { s.events = append(s.events, *o.(*corev1.Event)) }},
		{kind: "nodes",
			page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return core.Nodes().List(ctx, o)
			},
			add: func(o runtime.Object) { s.nodes = append(s.nodes, *o.(*corev1.Node)) }},
	}
	if k.services {
		specs = append(specs, listSpec{kind: "services",
			page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return core.Services(ns).List(ctx, o)
			},
			add: func(o runtime.Object) { s.services = append(s.services, *o.(*corev1.Service)) }})
	}
	if k.endpointSlices {
		specs = append(specs, listSpec{kind: "endpointslices",
			page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return kube.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
			},
			add: func(o runtime.Object) { s.slices = append(s.slices, *o.(*discoveryv1.EndpointSlice)) }})
	}
	if k.storage {
		specs = append(specs,
			listSpec{kind: "persistentvolumeclaims",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return core.PersistentVolumeClaims(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.pvcs = append(s.pvcs, *o.(*corev1.PersistentVolumeClaim)) }},
			listSpec{kind: "persistentvolumes",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return core.PersistentVolumes().List(ctx, o)
				},
				add: func(o runtime.Object) { s.pvs = append(s.pvs, *o.(*corev1.PersistentVolume)) }},
			listSpec{kind: "storageclasses",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return kube.StorageV1().StorageClasses().List(ctx, o)
				},
				add: func(o runtime.Object) { s.classes = append(s.classes, *o.(*storagev1.StorageClass)) }},
		)
	}
	if k.workloads {
		specs = append(specs,
			listSpec{kind: "replicasets",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return kube.AppsV1().ReplicaSets(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.replicaSets = append(s.replicaSets, *o.(*appsv1.ReplicaSet)) }},
			listSpec{kind: "deployments",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return kube.AppsV1().Deployments(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.deployments = append(s.deployments, *o.(*appsv1.Deployment)) }},
			listSpec{kind: "poddisruptionbudgets",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return kube.PolicyV1().PodDisruptionBudgets(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.pdbs = append(s.pdbs, *o.(*policyv1.PodDisruptionBudget)) }},
			listSpec{kind: "resourcequotas",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return core.ResourceQuotas(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.quotas = append(s.quotas, *o.(*corev1.ResourceQuota)) }},
			listSpec{kind: "serviceaccounts",
				page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					return core.ServiceAccounts(ns).List(ctx, o)
				},
				add: func(o runtime.Object) { s.serviceAccounts = append(s.serviceAccounts, *o.(*corev1.ServiceAccount)) }},
		)
	}
	if k.config {
		if meta != nil {
			specs = append(specs,
				metadataSpec("configmaps", meta, configMapsGVR, ns, &s.configMaps),
				metadataSpec("secrets", meta, secretsGVR, ns, &s.secrets))
		} else {
			s.skipped = append(s.skipped, "configmaps and secrets: no metadata client")
		}
	}

	specs = append(specs, s.moreSpecs(kube, ns, k)...)

	g, gctx := errgroup.WithContext(ctx)
	for ix := range specs {
		spec := &specs[ix]
		g.Go(func() error { return s.list(gctx, spec) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return s, nil
}

func metadataSpec(kind string, meta metadata.Interface, gvr schema.GroupVersionResource, ns string, into *[]metav1.PartialObjectMetadata) listSpec {
	return listSpec{kind: kind,
		page: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return meta.Resource(gvr).Namespace(ns).List(ctx, o)
		},
		add: func(o runtime.Object) { *into = append(*into, *o.(*metav1.PartialObjectMetadata)) }}
}

// list runs one paged LIST. Items are appended from the pager's goroutine one at a time;
// each spec owns its slice, so no lock is needed for the items themselves.
func (s *snapshot) list(ctx context.Context, spec *listSpec) error {
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		s.requests.Add(1)
		return spec.page(ctx, o)
	})
	p.PageSize = PageSize
	err := p.EachListItem(ctx, spec.opts, func(obj runtime.Object) error {
		spec.add(obj)
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.known[spec.kind] = true
		return nil
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
		s.skipped = append(s.skipped, fmt.Sprintf("%s: %s", spec.kind, apierrors.ReasonForError(err)))
		return nil
	}
	where := "in namespace " + s.namespace
	if s.namespace == "" {
		where = "in all namespaces"
	}
	return fmt.Errorf("list %s %s: %w", spec.kind, where, err)
}
