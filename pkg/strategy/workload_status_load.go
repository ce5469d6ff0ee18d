package strategy

import (
	"errors"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/tools/cache"
)

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
