package localcluster

import (
	"context"
	"fmt"
	"strconv"

	"golang.org/x/sync/errgroup"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Node conventions.
const (
	nodeAnnotation   = "kwok.x-k8s.io/node"
	managedNodeLabel = "localcluster.feastflow.dev/managed"
	// StorageClassName is the cluster's default StorageClass, provisioned by a kwok stage.
	StorageClassName  = "standard"
	volumeProvisioner = "kwok.x-k8s.io/volume"
)

// nodeCreateWorkers is how many node creations run at once: 5,000 nodes take ~10 s.
const nodeCreateWorkers = 32

var zones = []string{"zone-a", "zone-b", "zone-c"}

// nodeName returns the name of simulated node i.
func nodeName(i int) string { return "kwok-node-" + strconv.Itoa(i) }

// renderNode returns simulated node i.
func renderNode(c Config, i int) (*corev1.Node, error) {
	cpu, err := resource.ParseQuantity(c.NodeCPU)
	if err != nil {
		return nil, fmt.Errorf("node cpu %q: %w", c.NodeCPU, err)
	}
	mem, err := resource.ParseQuantity(c.NodeMemory)
	if err != nil {
		return nil, fmt.Errorf("node memory %q: %w", c.NodeMemory, err)
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:              cpu,
		corev1.ResourceMemory:           mem,
		corev1.ResourcePods:             *resource.NewQuantity(int64(c.NodePods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	name := nodeName(i)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"topology.kubernetes.io/region": "local",
				"topology.kubernetes.io/zone":   zones[i%len(zones)],
				"type":                          "kwok",
				managedNodeLabel:                "true",
			},
			Annotations: map[string]string{
				nodeAnnotation:                 "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}, nil
}

// ensureNodes creates the simulated nodes that are missing and deletes managed nodes beyond
// the configured count (left by an earlier run with more nodes).
func ensureNodes(ctx context.Context, cs kubernetes.Interface, c Config) error {
	existing, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: managedNodeLabel + "=true"})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	have := map[string]bool{}
	for i := range existing.Items {
		have[existing.Items[i].Name] = true
	}
	want := map[string]bool{}
	var missing []*corev1.Node
	for i := range c.Nodes {
		node, err := renderNode(c, i)
		if err != nil {
			return err
		}
		want[node.Name] = true
		if !have[node.Name] {
			missing = append(missing, node)
		}
	}
	// Thousands of nodes: create them in parallel (one POST each; there is no bulk create).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(nodeCreateWorkers)
	for _, node := range missing {
		g.Go(func() error {
			if _, err := cs.CoreV1().Nodes().Create(gctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create node %s: %w", node.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for name := range have {
		if !want[name] {
			if err := cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete node %s: %w", name, err)
			}
		}
	}
	return nil
}

// deleteNodeLeases removes the node Leases of a previous kwok: a new kwok only takes over a
// node once its Lease has expired (40 s), and would leave its pods alone until then.
func deleteNodeLeases(ctx context.Context, cs kubernetes.Interface) error {
	err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node leases: %w", err)
	}
	return nil
}

// ensureStorageClass creates the default StorageClass; see stages/volume.yaml.
func ensureStorageClass(ctx context.Context, cs kubernetes.Interface) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       volumeProvisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
	_, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", StorageClassName, err)
	}
	return nil
}
