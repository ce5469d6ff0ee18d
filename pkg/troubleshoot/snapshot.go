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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
)

// PageSize is the page size of every LIST diagnose makes (see pages.Size).
const PageSize = pages.Size

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

	pods            []podRecord              // see records.go
	events          map[string][]eventRecord // by eventKey, see records.go
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

// trimPages is false only in the test that checks trimming changes no finding.
var trimPages = true

// listSpec is one paged LIST: its kind name (for reports and the request count) and the
// read, which appends every page's items to the snapshot's slice of that kind.
type listSpec struct {
	kind string
	read func(ctx context.Context) (requests int, err error)
}

// spec builds the listSpec of a typed kind: pages of PageSize items, each item trimmed as
// its page arrives (see trim.go), appended to into.
func spec[L metav1.ListInterface, T any](kind string, opts metav1.ListOptions, list pages.ListFunc[L], items func(L) []T, into *[]T, trim func(*T)) listSpec {
	if !trimPages {
		trim = nil
	}
	return listSpec{kind: kind, read: func(ctx context.Context) (int, error) {
		return pages.Read(ctx, opts, list, items, into, trim)
	}}
}

// take builds a snapshot with one paged LIST per kind, all in parallel. A LIST refused with
// Forbidden (or a kind the server does not serve) is recorded in skipped, not fatal: diagnose
// says what it could not check instead of failing.
func take(ctx context.Context, kube kubernetes.Interface, meta metadata.Interface, ns string, podSelector string, k kinds) (*snapshot, error) {
	s := &snapshot{namespace: ns, known: map[string]bool{}}
	core, apps := kube.CoreV1(), kube.AppsV1()
	none := metav1.ListOptions{}
	specs := []listSpec{
		s.podsSpec(core.Pods(ns).List, podSelector),
		s.eventsSpec(core.Events(ns).List),
		spec("nodes", none, core.Nodes().List,
			func(l *corev1.NodeList) []corev1.Node { return l.Items }, &s.nodes, trimNode),
	}
	if k.services {
		specs = append(specs, spec("services", none, core.Services(ns).List,
			func(l *corev1.ServiceList) []corev1.Service { return l.Items }, &s.services, trimService))
	}
	if k.endpointSlices {
		specs = append(specs, spec("endpointslices", none, kube.DiscoveryV1().EndpointSlices(ns).List,
			func(l *discoveryv1.EndpointSliceList) []discoveryv1.EndpointSlice { return l.Items }, &s.slices, trimSlice))
	}
	if k.storage {
		specs = append(specs,
			spec("persistentvolumeclaims", none, core.PersistentVolumeClaims(ns).List,
				func(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim { return l.Items }, &s.pvcs, trimPVC),
			spec("persistentvolumes", none, core.PersistentVolumes().List,
				func(l *corev1.PersistentVolumeList) []corev1.PersistentVolume { return l.Items }, &s.pvs, trimPV),
			spec("storageclasses", none, kube.StorageV1().StorageClasses().List,
				func(l *storagev1.StorageClassList) []storagev1.StorageClass { return l.Items }, &s.classes, trimStorageClass),
		)
	}
	if k.workloads {
		specs = append(specs,
			spec("replicasets", none, apps.ReplicaSets(ns).List,
				func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items }, &s.replicaSets, trimReplicaSet),
			spec("deployments", none, apps.Deployments(ns).List,
				func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }, &s.deployments, trimDeployment),
			spec("poddisruptionbudgets", none, kube.PolicyV1().PodDisruptionBudgets(ns).List,
				func(l *policyv1.PodDisruptionBudgetList) []policyv1.PodDisruptionBudget { return l.Items }, &s.pdbs, trimPDB),
			spec("resourcequotas", none, core.ResourceQuotas(ns).List,
				func(l *corev1.ResourceQuotaList) []corev1.ResourceQuota { return l.Items }, &s.quotas, trimQuota),
			spec("serviceaccounts", none, core.ServiceAccounts(ns).List,
				func(l *corev1.ServiceAccountList) []corev1.ServiceAccount { return l.Items }, &s.serviceAccounts, trimServiceAccount),
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

// metadataSpec lists ConfigMaps or Secrets as metadata only; their managedFields are kept
// (diagnose reads key names from them).
func metadataSpec(kind string, meta metadata.Interface, gvr schema.GroupVersionResource, ns string, into *[]metav1.PartialObjectMetadata) listSpec {
	return spec(kind, metav1.ListOptions{}, meta.Resource(gvr).Namespace(ns).List,
		func(l *metav1.PartialObjectMetadataList) []metav1.PartialObjectMetadata { return l.Items }, into, trimConfigMeta)
}

// list runs one kind's paged LIST. Each spec owns its slice, so no lock is needed for the
// items themselves.
func (s *snapshot) list(ctx context.Context, spec *listSpec) error {
	n, err := spec.read(ctx)
	s.requests.Add(int64(n))
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
