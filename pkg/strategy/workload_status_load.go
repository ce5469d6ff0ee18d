package strategy

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// loadStatusWorkloads adds to a status inventory the namespace's StatefulSets, DaemonSets
// and ControllerRevisions (one LIST each, in parallel with the caller's), and, when there
// is a DaemonSet, the nodes (for its pools). A forbidden node list degrades the pools to
// node names; the other reads are required.
func loadStatusWorkloads(ctx context.Context, client kubernetes.Interface, inv *StatusInventory) error {
	var wg sync.WaitGroup
	var wErr, crErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		w, err := listWorkloads(ctx, client, inv.Namespace)
		inv.StatefulSets, inv.DaemonSets, wErr = w.StatefulSets, w.DaemonSets, err
	}()
	go func() {
		defer wg.Done()
		l, err := client.AppsV1().ControllerRevisions(inv.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			crErr = fmt.Errorf("list controllerrevisions in %s: %w", inv.Namespace, err)
			return
		}
		inv.ControllerRevisions = l.Items
	}()
	wg.Wait()
	if wErr != nil {
		return wErr
	}
	if crErr != nil {
		return crErr
	}
	if len(inv.DaemonSets) > 0 {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			inv.NodesErr = err
			return nil
		}
		inv.Nodes = l.Items
	}
	return nil
}
