package strategy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
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

// workloadInformers are the StatefulSet, DaemonSet and ControllerRevision informers of
// `status --watch`.
type workloadInformers struct {
	sts appsinformers.StatefulSetInformer
	ds  appsinformers.DaemonSetInformer
	crs appsinformers.ControllerRevisionInformer
}

func watchWorkloads(factory informers.SharedInformerFactory) *workloadInformers {
	apps := factory.Apps().V1()
	return &workloadInformers{sts: apps.StatefulSets(), ds: apps.DaemonSets(), crs: apps.ControllerRevisions()}
}

func (w *workloadInformers) informers() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{w.sts.Informer(), w.ds.Informer(), w.crs.Informer()}
}

// fill copies the listers' StatefulSets, DaemonSets and ControllerRevisions into inv, by
// name as a LIST returns them.
func (w *workloadInformers) fill(inv *StatusInventory) {
	s, _ := w.sts.Lister().StatefulSets(inv.Namespace).List(labels.Everything())
	for _, o := range s {
		inv.StatefulSets = append(inv.StatefulSets, *o)
	}
	d, _ := w.ds.Lister().DaemonSets(inv.Namespace).List(labels.Everything())
	for _, o := range d {
		inv.DaemonSets = append(inv.DaemonSets, *o)
	}
	c, _ := w.crs.Lister().ControllerRevisions(inv.Namespace).List(labels.Everything())
	for _, o := range c {
		inv.ControllerRevisions = append(inv.ControllerRevisions, *o)
	}
	sort.Slice(inv.StatefulSets, func(i, j int) bool { return inv.StatefulSets[i].Name < inv.StatefulSets[j].Name })
	sort.Slice(inv.DaemonSets, func(i, j int) bool { return inv.DaemonSets[i].Name < inv.DaemonSets[j].Name })
	// Without the nodes (a cluster-scoped watch), a DaemonSet's pods are grouped by node.
	if len(inv.DaemonSets) > 0 && inv.Nodes == nil {
		inv.NodesErr = errNodesNotWatched
	}
}

var errNodesNotWatched = errors.New("status --watch does not watch nodes")
