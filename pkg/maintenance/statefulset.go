package maintenance

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ReasonStatefulSet explains what happens to an evicted StatefulSet pod.
const ReasonStatefulSet = "StatefulSetPod"

// explainStatefulSetPods adds to every evicted StatefulSet pod of the plan what happens to
// it: the controller re-creates it with the same name and the same claims once it is gone,
// and a claim bound to a zonal volume can only follow the pod to a node of that zone — so
// the plan says which nodes of the zone have room (and, when none has, that the pod stays
// Pending). It reads claims and volumes (one LIST each) only when the plan has such pods.
func explainStatefulSetPods(ctx context.Context, client kubernetes.Interface, p *DrainPlan) error {
	var pods []*PodPlan
	for ni := range p.Nodes {
		for pi := range p.Nodes[ni].Pods {
			pp := &p.Nodes[ni].Pods[pi]
			if pp.Action == ActionEvict && strings.HasPrefix(pp.Owner, "StatefulSet/") && !pp.has(ReasonFinished) {
				pods = append(pods, pp)
			}
		}
	}
	if len(pods) == 0 {
		return nil
	}
	pvcs, err := client.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list persistentvolumeclaims: %w", err)
	}
	pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list persistentvolumes: %w", err)
	}
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for i := range pvcs.Items {
		claims[pvcs.Items[i].Namespace+"/"+pvcs.Items[i].Name] = &pvcs.Items[i]
	}
	volumes := map[string]*corev1.PersistentVolume{}
	for i := range pvs.Items {
		volumes[pvs.Items[i].Name] = &pvs.Items[i]
	}
	draining := map[string]bool{}
	for _, n := range p.inv.selected {
		draining[n] = true
	}
	free := freeRoom(p.inv, draining)
	for _, pp := range pods {
		var names []string
		zones := map[string]bool{}
		for _, v := range pp.pod.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			names = append(names, v.PersistentVolumeClaim.ClaimName)
			pvc := claims[pp.Namespace+"/"+v.PersistentVolumeClaim.ClaimName]
			if pvc == nil || pvc.Spec.VolumeName == "" {
				continue
			}
			if z := volumeZone(volumes[pvc.Spec.VolumeName]); z != "" {
				zones[z] = true
			}
		}
		msg := fmt.Sprintf("StatefulSet pod: re-created with the same name %s once it is gone", pp.Name)
		if len(names) > 0 {
			msg += " and re-attached to its claims " + strings.Join(names, ", ")
		}
		for _, z := range sortedSet(zones) {
			fit := free.fitting(pp.pod, z)
			if len(fit) == 0 {
				msg += fmt.Sprintf("; its volume is in zone %s and no other node of that zone has room: it stays Pending until the node is back", z)
				p.Problems = append(p.Problems, fmt.Sprintf("%s: its volume is in zone %s and no other schedulable node of that zone has room (the pod stays Pending)", pp.Key(), z))
				continue
			}
			msg += fmt.Sprintf("; its volume is in zone %s: only nodes of that zone can take it — %d have room (%s)", z, len(fit), joinFirst(fit, 3))
		}
		pp.Reasons = append(pp.Reasons, Reason{Code: ReasonStatefulSet, Message: msg})
	}
	if len(p.Problems) > 0 && p.Verdict == VerdictSafe {
		p.Verdict = VerdictDowntime
	}
	return nil
}

// volumeZone is the zone a PersistentVolume is pinned to: its node affinity on
// topology.kubernetes.io/zone, else its zone label.
func volumeZone(pv *corev1.PersistentVolume) string {
	if pv == nil {
		return ""
	}
	if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
		for _, term := range na.Required.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Key == corev1.LabelTopologyZone && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) == 1 {
					return e.Values[0]
				}
			}
		}
	}
	return pv.Labels[corev1.LabelTopologyZone]
}

// nodeRoom is what is left on the nodes that stay: allocatable minus the requests of their pods.
type nodeRoom struct {
	nodes []*corev1.Node
	cpu   map[string]int64
	mem   map[string]int64
	pods  map[string]int64
}

func freeRoom(inv *inventory, draining map[string]bool) *nodeRoom {
	r := &nodeRoom{cpu: map[string]int64{}, mem: map[string]int64{}, pods: map[string]int64{}}
	for i := range inv.nodes {
		n := &inv.nodes[i]
		if draining[n.Name] || n.Spec.Unschedulable || !nodeReady(n) {
			continue
		}
		r.nodes = append(r.nodes, n)
		r.cpu[n.Name], r.mem[n.Name], r.pods[n.Name] = n.Status.Allocatable.Cpu().MilliValue(), n.Status.Allocatable.Memory().Value(), n.Status.Allocatable.Pods().Value()
	}
	for i := range inv.pods {
		pod := &inv.pods[i]
		if _, ok := r.cpu[pod.Spec.NodeName]; !ok || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		req := podRequests(pod)
		r.cpu[pod.Spec.NodeName] -= req.Cpu().MilliValue()
		r.mem[pod.Spec.NodeName] -= req.Memory().Value()
		r.pods[pod.Spec.NodeName]--
	}
	return r
}

// fitting are the nodes of zone that tolerate the pod and have room for its requests.
func (r *nodeRoom) fitting(pod *corev1.Pod, zone string) []string {
	req := podRequests(pod)
	var out []string
	for _, n := range r.nodes {
		if n.Labels[corev1.LabelTopologyZone] != zone || excludes(n, pod) != "" {
			continue
		}
		if r.cpu[n.Name] >= req.Cpu().MilliValue() && r.mem[n.Name] >= req.Memory().Value() && r.pods[n.Name] >= 1 {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func joinFirst(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(s[:n], ", "), len(s)-n)
}
