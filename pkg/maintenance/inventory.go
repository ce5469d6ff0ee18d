package maintenance

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// NodeSelection names the nodes a verb acts on: explicit names, or a label selector.
type NodeSelection struct {
	// Nodes are node names; every one must exist.
	Nodes []string `json:"nodes,omitempty"`
	// Selector is a node label selector (kubectl's -l); used when Nodes is empty.
	Selector string `json:"selector,omitempty"`
}

// inventory is what one planning pass reads from the API: one LIST each of nodes, pods and
// PodDisruptionBudgets, never a GET per object.
type inventory struct {
	nodes    []corev1.Node // every node of the cluster
	selected []string      // the selected node names, in the order given (or sorted)
	pods     []corev1.Pod  // every pod of the cluster
	pdbs     []policyv1.PodDisruptionBudget
	// rsOwners maps a ReplicaSet's UID to its Deployment ("Deployment/name"), so that plans
	// judge availability per Deployment; nil when ReplicaSets could not be listed.
	rsOwners map[types.UID]string
	// podsRV and pdbsRV are the resourceVersions of the lists; watches start from them so
	// that nothing between the list and the watch is missed.
	podsRV, pdbsRV string
}

// loadInventory lists nodes, then pods and PodDisruptionBudgets. An unknown node fails
// before anything else is read.
func loadInventory(ctx context.Context, client kubernetes.Interface, sel NodeSelection, withPDBs bool) (*inventory, error) {
	inv := &inventory{}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	inv.nodes = nodes.Items
	if inv.selected, err = selectNodes(inv.nodes, sel); err != nil {
		return nil, err
	}
	// One cluster-wide list serves both the pods to move and the capacity of the nodes that
	// would receive them; a list per node would cost a request per node and still miss the
	// capacity side.
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	inv.pods, inv.podsRV = pods.Items, pods.ResourceVersion
	if withPDBs {
		inv.rsOwners = listRSOwners(ctx, client)
		pdbs, err := client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list poddisruptionbudgets: %w", err)
		}
		inv.pdbs, inv.pdbsRV = pdbs.Items, pdbs.ResourceVersion
	}
	return inv, nil
}

// listRSOwners reads which Deployment owns each ReplicaSet (one LIST). Without permission
// the plan judges per ReplicaSet, as before; nothing else depends on it.
func listRSOwners(ctx context.Context, client kubernetes.Interface) map[types.UID]string {
	l, err := client.AppsV1().ReplicaSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	owners := map[types.UID]string{}
	for i := range l.Items {
		if ref := metav1.GetControllerOf(&l.Items[i]); ref != nil && ref.Kind == "Deployment" {
			owners[l.Items[i].UID] = "Deployment/" + ref.Name
		}
	}
	return owners
}

// selectNodes resolves a NodeSelection against the listed nodes.
func selectNodes(nodes []corev1.Node, sel NodeSelection) ([]string, error) {
	if len(sel.Nodes) > 0 {
		known := make(map[string]bool, len(nodes))
		for i := range nodes {
			known[nodes[i].Name] = true
		}
		var missing []string
		seen := map[string]bool{}
		var names []string
		for _, n := range sel.Nodes {
			if !known[n] {
				missing = append(missing, n)
				continue
			}
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("node %s not found: nothing changed (`kubectl get nodes` lists the nodes)", quoteJoin(missing))
		}
		return names, nil
	}
	selector, err := labels.Parse(sel.Selector)
	if err != nil {
		return nil, fmt.Errorf("invalid node selector %q: %w", sel.Selector, err)
	}
	if selector.Empty() {
		return nil, fmt.Errorf("no node given: name one or more nodes, or use -l SELECTOR")
	}
	var names []string
	for i := range nodes {
		if selector.Matches(labels.Set(nodes[i].Labels)) {
			names = append(names, nodes[i].Name)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no node matches selector %q: nothing changed (`kubectl get nodes -l %s` shows the same)", sel.Selector, sel.Selector)
	}
	sort.Strings(names)
	return names, nil
}

func (inv *inventory) node(name string) *corev1.Node {
	for i := range inv.nodes {
		if inv.nodes[i].Name == name {
			return &inv.nodes[i]
		}
	}
	return nil
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// podKey is namespace/name, the way kubectl names pods across namespaces.
func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
