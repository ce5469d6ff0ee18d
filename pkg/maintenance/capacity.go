package maintenance

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	schedulinghelper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Capacity is whether the pods a drain evicts fit on the nodes that stay schedulable.
type Capacity struct {
	Fits bool `json:"fits"`
	// Summary is one sentence for people.
	Summary string `json:"summary"`
	// Pods is how many evicted pods a controller re-creates (and so need room).
	Pods int `json:"pods"`
	// CPU and Memory are the requests of those pods, summed.
	CPU    string `json:"cpu"`
	Memory string `json:"memory"`
	// Targets are the schedulable nodes left and their room before and after placing the pods.
	Targets  []NodeRoom `json:"targets"`
	Unplaced []Unplaced `json:"unplaced,omitempty"`
	// Limits says what the estimate does not know.
	Limits string `json:"limits"`
}

// NodeRoom is the free room of a node that stays schedulable.
type NodeRoom struct {
	Name string `json:"name"`
	// FreeCPU, FreeMemory and FreePods are allocatable minus the requests of the pods there now.
	FreeCPU    string `json:"freeCPU"`
	FreeMemory string `json:"freeMemory"`
	FreePods   int64  `json:"freePods"`
	// Placed is how many evicted pods the estimate puts there.
	Placed int `json:"placed"`
}

// Unplaced is an evicted pod that fits on no node, and why.
type Unplaced struct {
	Pod string `json:"pod"`
	Why string `json:"why"`
}

const capacityLimits = "first-fit estimate from requests, nodeSelector, required node affinity, taints and tolerations, required pod affinity and anti-affinity, and DoNotSchedule topology spread; volume zones, namespaceSelector labels and priority preemption are not simulated"

// room is a node's free room in the estimate.
type room struct {
	node      *corev1.Node
	cpu, mem  int64 // milli-CPU, bytes
	pods      int64
	placed    int
	afterCPU  int64
	afterMem  int64
	afterPods int64
}

// planCapacity places the pods that will be re-created, biggest first, on the first node that
// is schedulable, not drained, tolerated and selected, and has the room: a first-fit estimate
// of what the scheduler will find. Pods the estimate cannot place are reported with the reason
// that excluded the most nodes.
func planCapacity(inv *inventory, draining map[string]bool, nodes []NodePlan) Capacity {
	c := Capacity{Limits: capacityLimits, Targets: []NodeRoom{}}
	var rooms []*room
	byName := map[string]*room{}
	for i := range inv.nodes {
		n := &inv.nodes[i]
		if draining[n.Name] || n.Spec.Unschedulable || !nodeReady(n) {
			continue
		}
		r := &room{node: n, cpu: n.Status.Allocatable.Cpu().MilliValue(), mem: n.Status.Allocatable.Memory().Value(), pods: n.Status.Allocatable.Pods().Value()}
		rooms = append(rooms, r)
		byName[n.Name] = r
	}
	for i := range inv.pods {
		pod := &inv.pods[i]
		r := byName[pod.Spec.NodeName]
		if r == nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		req := podRequests(pod)
		r.cpu -= req.Cpu().MilliValue()
		r.mem -= req.Memory().Value()
		r.pods--
	}

	var moving []*PodPlan
	var cpu, mem int64
	for ni := range nodes {
		for pi := range nodes[ni].Pods {
			pp := &nodes[ni].Pods[pi]
			// Only pods a controller re-creates need room; DaemonSets re-create theirs on their own nodes.
			if pp.Action != ActionEvict || pp.ownerUID == "" || pp.has(ReasonFinished) {
				continue
			}
			moving = append(moving, pp)
			req := podRequests(pp.pod)
			cpu += req.Cpu().MilliValue()
			mem += req.Memory().Value()
		}
	}
	c.Pods = len(moving)
	c.CPU = resource.NewMilliQuantity(cpu, resource.DecimalSI).String()
	c.Memory = resource.NewQuantity(mem, resource.BinarySI).String()
	sort.SliceStable(moving, func(i, j int) bool {
		a, b := podRequests(moving[i].pod), podRequests(moving[j].pod)
		if a.Cpu().MilliValue() != b.Cpu().MilliValue() {
			return a.Cpu().MilliValue() > b.Cpu().MilliValue()
		}
		return a.Memory().Value() > b.Memory().Value()
	})
	for _, r := range rooms {
		r.afterCPU, r.afterMem, r.afterPods = r.cpu, r.mem, r.pods
	}
	evicted := map[*corev1.Pod]bool{}
	for ni := range nodes {
		for pi := range nodes[ni].Pods {
			if pp := &nodes[ni].Pods[pi]; pp.Action == ActionEvict {
				evicted[pp.pod] = true
			}
		}
	}
	pl := newPlacement(inv, evicted)
	for _, pp := range moving {
		req := podRequests(pp.pod)
		pc, pm := req.Cpu().MilliValue(), req.Memory().Value()
		why := map[string]int{}
		placed := false
		for _, r := range rooms {
			if reason := excludes(r.node, pp.pod); reason != "" {
				why[reason]++
				continue
			}
			var short []string
			if r.afterCPU < pc {
				short = append(short, "cpu")
			}
			if r.afterMem < pm {
				short = append(short, "memory")
			}
			if r.afterPods < 1 {
				short = append(short, "pods")
			}
			if len(short) > 0 {
				why["insufficient "+strings.Join(short, ", ")]++
				continue
			}
			if reason := pl.interPodExcludes(r.node, pp.pod); reason != "" {
				why[reason]++
				continue
			}
			pl.place(pp.pod, r.node.Name)
			r.afterCPU -= pc
			r.afterMem -= pm
			r.afterPods--
			r.placed++
			placed = true
			break
		}
		if !placed {
			c.Unplaced = append(c.Unplaced, Unplaced{Pod: pp.Key(), Why: unplacedWhy(len(rooms), why, pc, pm)})
			pp.Reasons = append(pp.Reasons, Reason{Code: ReasonNoFit, Message: "fits on no remaining node: " + c.Unplaced[len(c.Unplaced)-1].Why})
		}
	}
	for _, r := range rooms {
		c.Targets = append(c.Targets, NodeRoom{
			Name:       r.node.Name,
			FreeCPU:    resource.NewMilliQuantity(max(r.cpu, 0), resource.DecimalSI).String(),
			FreeMemory: resource.NewQuantity(max(r.mem, 0), resource.BinarySI).String(),
			FreePods:   max(r.pods, 0),
			Placed:     r.placed,
		})
	}
	c.Fits = len(c.Unplaced) == 0
	switch {
	case c.Pods == 0:
		c.Summary = "no pod needs a new node"
	case c.Fits:
		c.Summary = fmt.Sprintf("the %d re-created pod(s) (cpu %s, memory %s) fit on %d schedulable node(s)", c.Pods, c.CPU, c.Memory, len(rooms))
	case len(rooms) == 0:
		c.Summary = fmt.Sprintf("no schedulable node is left for the %d re-created pod(s): they stay Pending", c.Pods)
	default:
		c.Summary = fmt.Sprintf("%d of the %d re-created pod(s) (cpu %s, memory %s) fit on none of the %d schedulable node(s): they stay Pending", len(c.Unplaced), c.Pods, c.CPU, c.Memory, len(rooms))
	}
	return c
}

func unplacedWhy(nodes int, why map[string]int, cpu, mem int64) string {
	if nodes == 0 {
		return "no schedulable node left"
	}
	keys := make([]string, 0, len(why))
	for k := range why {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if why[keys[i]] != why[keys[j]] {
			return why[keys[i]] > why[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d node(s) %s", why[k], k)
	}
	return fmt.Sprintf("requests cpu %s, memory %s; %s",
		resource.NewMilliQuantity(cpu, resource.DecimalSI), resource.NewQuantity(mem, resource.BinarySI), strings.Join(parts, ", "))
}

// excludes returns why the scheduler would not put pod on node regardless of room, or "".
func excludes(node *corev1.Node, pod *corev1.Pod) string {
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return "do not match its node selector or affinity"
	}
	noSchedule := func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}
	if taint, bad := schedulinghelper.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, noSchedule, false); bad {
		return "have untolerated taint " + taint.Key
	}
	return ""
}

func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
