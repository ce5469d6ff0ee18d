package strategy

import (
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// WorkloadStatus is one StatefulSet or DaemonSet of a component in `status`.
type WorkloadStatus struct {
	// Kind is StatefulSet or DaemonSet.
	Kind   string           `json:"kind"`
	Name   string           `json:"name"`
	Images []ContainerImage `json:"images"`
	// Desired is the StatefulSet's replicas or the DaemonSet's desiredNumberScheduled.
	Desired int32 `json:"desired"`
	// Current counts the pods on the current (old) revision, Updated those on the update
	// revision.
	Current   int32 `json:"current"`
	Updated   int32 `json:"updated"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
	// CurrentRevision and UpdateRevision are ControllerRevision names (the same when no
	// rollout is under way).
	CurrentRevision string `json:"currentRevision,omitempty"`
	UpdateRevision  string `json:"updateRevision,omitempty"`
	// UpdateStrategy is RollingUpdate or OnDelete; Partition and MaxUnavailable its settings.
	UpdateStrategy string `json:"updateStrategy"`
	Partition      *int32 `json:"partition,omitempty"`
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
	// PodManagementPolicy is the StatefulSet's OrderedReady or Parallel.
	PodManagementPolicy string `json:"podManagementPolicy,omitempty"`
	RolloutDone         bool   `json:"rolloutComplete"`
	Rollout             string `json:"rollout"`
	// Release is the release recorded on the Service (feastflow.dev/workload-state).
	Release *WorkloadRelease `json:"release,omitempty"`
	// Pools are a DaemonSet's pods per node pool.
	Pools         []PoolStatus     `json:"pools,omitempty"`
	NotReady      []PodNotReady    `json:"notReady,omitempty"`
	LastOperation *audit.Operation `json:"lastOperation,omitempty"`
}

// WorkloadRelease is the recorded release of a StatefulSet or DaemonSet component.
type WorkloadRelease struct {
	Phase string `json:"phase"`
	Verb  string `json:"verb"`
	// Weight is the percentage of pods on the new revision that was set.
	Weight       int    `json:"weight"`
	Partition    int32  `json:"partition"`
	FromRevision string `json:"fromRevision,omitempty"`
	Images       string `json:"images,omitempty"`
	Paused       bool   `json:"paused,omitempty"`
}

// PoolStatus is a DaemonSet's pods in one node pool.
type PoolStatus struct {
	Pool    string `json:"pool"`
	Nodes   int    `json:"nodes"`
	Updated int    `json:"updated"`
	Ready   int    `json:"ready"`
	// Failing names the nodes whose pod is not ready, with the reason.
	Failing []string `json:"failing,omitempty"`
}

// NodePoolLabels are the node labels that name a node pool, first match wins; a node
// without any is grouped by its zone (topology.kubernetes.io/zone), else "default".
var NodePoolLabels = []string{
	"node.kubernetes.io/pool",
	"cloud.google.com/gke-nodepool",
	"eks.amazonaws.com/nodegroup",
	"kubernetes.azure.com/agentpool",
	"karpenter.sh/nodepool",
	"agentpool",
}

// nodePool is the pool a node belongs to.
func nodePool(n *corev1.Node) string {
	if n == nil {
		return "unknown"
	}
	for _, k := range NodePoolLabels {
		if v := n.Labels[k]; v != "" {
			return v
		}
	}
	if z := n.Labels[corev1.LabelTopologyZone]; z != "" {
		return "zone " + z
	}
	return "default"
}

// workloadStatuses are the StatefulSets and DaemonSets of a component in `status`.
func workloadStatuses(c *Component, inv *StatusInventory) []WorkloadStatus {
	var out []WorkloadStatus
	st := readWorkloadState(c)
	for _, s := range c.StatefulSets {
		ws := statefulSetStatus(s, ownedPods(inv.Pods, string(s.UID), false))
		if st != nil && st.Kind == kindStatefulSet && st.Name == s.Name {
			ws.Release = st.release()
		}
		out = append(out, ws)
	}
	nodes := map[string]*corev1.Node{}
	for i := range inv.Nodes {
		nodes[inv.Nodes[i].Name] = &inv.Nodes[i]
	}
	for _, d := range c.DaemonSets {
		ws := daemonSetStatus(d, ownedPods(inv.Pods, string(d.UID), false), inv.ControllerRevisions, nodes, inv.NodesErr == nil)
		if st != nil && st.Kind == kindDaemonSet && st.Name == d.Name {
			ws.Release = st.release()
		}
		out = append(out, ws)
	}
	return out
}

func statefulSetStatus(s *appsv1.StatefulSet, pods []corev1.Pod) WorkloadStatus {
	ws := WorkloadStatus{
		Kind: kindStatefulSet, Name: s.Name, Images: TemplateImages(&s.Spec.Template),
		Desired: stsReplicas(s), Current: s.Status.CurrentReplicas, Updated: s.Status.UpdatedReplicas,
		Ready: s.Status.ReadyReplicas, Available: s.Status.AvailableReplicas,
		CurrentRevision: s.Status.CurrentRevision, UpdateRevision: s.Status.UpdateRevision,
		UpdateStrategy: string(s.Spec.UpdateStrategy.Type), PodManagementPolicy: string(s.Spec.PodManagementPolicy),
	}
	if ws.UpdateStrategy == "" {
		ws.UpdateStrategy = string(appsv1.RollingUpdateStatefulSetStrategyType)
	}
	if ws.PodManagementPolicy == "" {
		ws.PodManagementPolicy = string(appsv1.OrderedReadyPodManagement)
	}
	if s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		p := stsPartition(s)
		ws.Partition = &p
		ws.MaxUnavailable = stsMaxUnavailable(s)
	}
	ws.Rollout, ws.RolloutDone = viewerStatus("StatefulSet", s)
	if op, ok := audit.ParseOperation(s.Annotations); ok {
		ws.LastOperation = &op
	}
	ws.NotReady = notReadyPods(pods)
	return ws
}

func daemonSetStatus(d *appsv1.DaemonSet, pods []corev1.Pod, revisions []appsv1.ControllerRevision, nodes map[string]*corev1.Node, haveNodes bool) WorkloadStatus {
	ws := WorkloadStatus{
		Kind: kindDaemonSet, Name: d.Name, Images: TemplateImages(&d.Spec.Template),
		Desired: d.Status.DesiredNumberScheduled, Updated: d.Status.UpdatedNumberScheduled,
		Current: d.Status.CurrentNumberScheduled - d.Status.UpdatedNumberScheduled,
		Ready:   d.Status.NumberReady, Available: d.Status.NumberAvailable,
		UpdateStrategy: string(d.Spec.UpdateStrategy.Type),
	}
	if ws.Current < 0 {
		ws.Current = 0
	}
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		ws.MaxUnavailable = ru.MaxUnavailable.String()
	}
	cur, upd := daemonSetRevisions(d, revisions, pods)
	if cur != nil {
		ws.CurrentRevision = cur.Name
	}
	if upd != nil {
		ws.UpdateRevision = upd.Name
	}
	ws.Rollout, ws.RolloutDone = viewerStatus("DaemonSet", d)
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		ws.Rollout = "OnDelete: pods are replaced only when deleted"
		ws.RolloutDone = ws.Updated >= ws.Desired
	}
	if op, ok := audit.ParseOperation(d.Annotations); ok {
		ws.LastOperation = &op
	}
	ws.NotReady = notReadyPods(pods)
	updHash := ""
	if upd != nil {
		updHash = upd.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	}
	pools := map[string]*PoolStatus{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		name := "node " + orDefault(p.Spec.NodeName, "<unscheduled>")
		if haveNodes {
			name = nodePool(nodes[p.Spec.NodeName])
		}
		ps := pools[name]
		if ps == nil {
			ps = &PoolStatus{Pool: name}
			pools[name] = ps
		}
		ps.Nodes++
		if updHash != "" && p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == updHash {
			ps.Updated++
		}
		if podutils.IsPodReady(p) {
			ps.Ready++
		} else {
			why := podNotReadyReason(p)
			if f := troubleshoot.ClassifyPod(p); f != nil {
				why = f.String()
			}
			ps.Failing = append(ps.Failing, orDefault(p.Spec.NodeName, p.Name)+": "+why)
		}
	}
	for _, ps := range pools {
		sort.Strings(ps.Failing)
		ws.Pools = append(ws.Pools, *ps)
	}
	sort.Slice(ws.Pools, func(i, j int) bool { return ws.Pools[i].Pool < ws.Pools[j].Pool })
	return ws
}

// daemonSetRevisions finds a DaemonSet's update revision (its highest ControllerRevision)
// and current revision (the highest one that pods not yet updated run; the update revision
// when every pod is updated).
func daemonSetRevisions(d *appsv1.DaemonSet, revisions []appsv1.ControllerRevision, pods []corev1.Pod) (current, update *appsv1.ControllerRevision) {
	var own []*appsv1.ControllerRevision
	for i := range revisions {
		for _, ref := range revisions[i].OwnerReferences {
			if ref.Controller != nil && *ref.Controller && ref.UID == d.UID {
				own = append(own, &revisions[i])
			}
		}
	}
	if len(own) == 0 {
		return nil, nil
	}
	sort.Slice(own, func(i, j int) bool { return own[i].Revision < own[j].Revision })
	update = own[len(own)-1]
	hashes := map[string]bool{}
	for i := range pods {
		if pods[i].DeletionTimestamp == nil {
			hashes[pods[i].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
		}
	}
	current = update
	for i := len(own) - 2; i >= 0; i-- {
		if hashes[own[i].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			current = own[i]
			break
		}
	}
	return current, update
}

// viewerStatus asks k8s.io/kubectl's status viewer (the code behind `kubectl rollout
// status`) where a StatefulSet's or DaemonSet's rollout stands.
func viewerStatus(kind string, obj runtime.Object) (string, bool) {
	viewer, err := polymorphichelpers.StatusViewerFor(schema.GroupKind{Group: "apps", Kind: kind})
	if err != nil {
		return err.Error(), false
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err.Error(), false
	}
	msg, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
	if err != nil {
		return err.Error(), done
	}
	msg = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(msg), "..."))
	if done {
		return "complete: " + msg, true
	}
	return msg, false
}

// notReadyPods are the pods that are not ready, with the reason.
func notReadyPods(pods []corev1.Pod) []PodNotReady {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var out []PodNotReady
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		if why := podNotReadyReason(p); why != "" {
			nr := PodNotReady{Pod: p.Name, Reason: why}
			if f := troubleshoot.ClassifyPod(p); f != nil {
				nr.Detail = f.String()
			}
			out = append(out, nr)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
