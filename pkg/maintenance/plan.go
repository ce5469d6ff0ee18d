package maintenance

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// PlanOptions select the nodes and the overrides a drain would run with.
type PlanOptions struct {
	NodeSelection `json:",inline"`
	// IgnoreDaemonSets leaves DaemonSet pods in place instead of refusing (kubectl's flag).
	IgnoreDaemonSets bool `json:"ignoreDaemonSets,omitempty"`
	// DeleteEmptyDirData allows evicting pods with emptyDir volumes, whose data is lost.
	DeleteEmptyDirData bool `json:"deleteEmptyDirData,omitempty"`
	// Force allows evicting pods that no controller will re-create.
	Force bool `json:"force,omitempty"`
}

// PodAction is what a drain does with a pod.
type PodAction string

// The pod actions.
const (
	// ActionEvict: the pod is evicted through the Eviction API (possibly paced by a PDB).
	ActionEvict PodAction = "evict"
	// ActionSkip: the pod stays (DaemonSet pods with --ignore-daemonsets, mirror pods).
	ActionSkip PodAction = "skip"
	// ActionRefuse: a drain refuses to start because of this pod (the reason names the flag).
	ActionRefuse PodAction = "refuse"
	// ActionWait: the pod is already terminating; a drain only waits for it.
	ActionWait PodAction = "wait"
)

// Reason codes of a pod's plan; a pod can carry several.
const (
	ReasonBlockedByPDB  = "BlockedByPDB"
	ReasonPacedByPDB    = "PacedByPDB"
	ReasonMultiplePDBs  = "MultiplePDBs"
	ReasonUnmanaged     = "Unmanaged"
	ReasonEmptyDir      = "EmptyDir"
	ReasonDaemonSet     = "DaemonSet"
	ReasonMirrorPod     = "MirrorPod"
	ReasonSingleReplica = "SingleReplica"
	ReasonAllReplicas   = "AllReplicasOnNodes"
	ReasonTerminating   = "Terminating"
	ReasonFinished      = "Finished"
	ReasonNoFit         = "NoFit"
	// ReasonDrainSkip and ReasonWaitCompleted are Cluster API's drain controls (pod label
	// cluster.x-k8s.io/drain); ReasonNodeExcluded its node annotation exclude-node-draining.
	ReasonDrainSkip     = "DrainLabelSkip"
	ReasonWaitCompleted = "DrainLabelWaitCompleted"
	ReasonNodeExcluded  = "NodeExcludedFromDraining"
)

// Cluster API's drain controls, honoured as its Machine controller does: a pod labelled
// skip is left alone, one labelled wait-completed is not evicted but waited for until it
// finishes, and a node annotated exclude-node-draining is not drained at all.
const (
	LabelCAPIDrain             = "cluster.x-k8s.io/drain"
	CAPIDrainSkip              = "skip"
	CAPIDrainWaitCompleted     = "wait-completed"
	AnnotationCAPIExcludeDrain = "machine.cluster.x-k8s.io/exclude-node-draining"
)

// Reason explains one aspect of a pod's plan.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Refuses is set when this reason alone makes a drain refuse to start.
	Refuses bool `json:"refuses,omitempty"`
}

// PodPlan is what a drain would do with one pod, and why.
type PodPlan struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Node      string `json:"node"`
	// Owner is Kind/name of the controller, empty for unmanaged pods.
	Owner   string    `json:"owner,omitempty"`
	Action  PodAction `json:"action"`
	Reasons []Reason  `json:"reasons,omitempty"`
	// PDBs are the namespace/name of the PodDisruptionBudgets selecting the pod.
	PDBs []string `json:"pdbs,omitempty"`
	// Workload is the Deployment (through its ReplicaSet), StatefulSet or other controller
	// the pod serves: what availability is judged by.
	Workload string `json:"workload,omitempty"`
	// Downtime is set when evicting the pod leaves its workload with no Ready pod.
	Downtime bool `json:"downtime,omitempty"`

	ownerUID string
	pod      *corev1.Pod
}

// Key is namespace/name.
func (p *PodPlan) Key() string { return p.Namespace + "/" + p.Name }

// has reports whether the pod carries the reason code.
func (p *PodPlan) has(code string) bool {
	for _, r := range p.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// NodePlan is the plan of one node.
type NodePlan struct {
	Name          string `json:"name"`
	Unschedulable bool   `json:"unschedulable"`
	// Excluded says why the node is not drained at all (Cluster API's exclude-node-draining).
	Excluded string    `json:"excluded,omitempty"`
	Pods     []PodPlan `json:"pods"`
}

// PDBStatus are the numbers of a PodDisruptionBudget that governs evictions.
type PDBStatus struct {
	Namespace          string `json:"namespace"`
	Name               string `json:"name"`
	CurrentHealthy     int32  `json:"currentHealthy"`
	DesiredHealthy     int32  `json:"desiredHealthy"`
	DisruptionsAllowed int32  `json:"disruptionsAllowed"`
	ExpectedPods       int32  `json:"expectedPods"`
	// PodsToEvict is how many of its pods the drain evicts.
	PodsToEvict int `json:"podsToEvict"`
}

// Key is namespace/name.
func (s PDBStatus) Key() string { return s.Namespace + "/" + s.Name }

// Numbers is the PDB's state as one phrase, the way the drain reports it.
func (s PDBStatus) Numbers() string {
	return fmt.Sprintf("needs %d healthy, has %d (currentHealthy %d, desiredHealthy %d, disruptionsAllowed %d, expectedPods %d)",
		s.DesiredHealthy, s.CurrentHealthy, s.CurrentHealthy, s.DesiredHealthy, s.DisruptionsAllowed, s.ExpectedPods)
}

// Verdict sums a plan up.
type Verdict string

// The verdicts, from best to worst.
const (
	VerdictSafe     Verdict = "Safe"
	VerdictDowntime Verdict = "WillCauseDowntime"
	VerdictBlock    Verdict = "WillBlock"
)

// Human is the verdict in words.
func (v Verdict) Human() string {
	switch v {
	case VerdictSafe:
		return "safe"
	case VerdictDowntime:
		return "will cause downtime"
	case VerdictBlock:
		return "will block"
	}
	return string(v)
}

// DrainPlan is what draining the selected nodes would do: per pod, per PDB, capacity,
// verdict. (The type cannot share the name of the Plan function.)
type DrainPlan struct {
	metav1.TypeMeta `json:",inline"`
	Options         PlanOptions `json:"options"`
	Nodes           []NodePlan  `json:"nodes"`
	PDBs            []PDBStatus `json:"pdbs,omitempty"`
	Capacity        Capacity    `json:"capacity"`
	Verdict         Verdict     `json:"verdict"`
	// Problems are one line each: what blocks the drain or costs availability.
	Problems []string `json:"problems,omitempty"`

	inv *inventory
}

// Plan reads the cluster (one LIST each of nodes, pods and PodDisruptionBudgets) and
// returns what draining the selected nodes would do. It writes nothing.
func Plan(ctx context.Context, client kubernetes.Interface, opts PlanOptions) (*DrainPlan, error) {
	inv, err := loadInventory(ctx, client, opts.NodeSelection, true)
	if err != nil {
		return nil, err
	}
	p := buildPlan(inv, opts)
	if err := explainStatefulSetPods(ctx, client, p); err != nil {
		return nil, err
	}
	return p, nil
}

func buildPlan(inv *inventory, opts PlanOptions) *DrainPlan {
	p := &DrainPlan{TypeMeta: report.TypeMeta("DrainPlan"), Options: opts, inv: inv}
	draining := map[string]bool{}
	for _, n := range inv.selected {
		draining[n] = true
	}
	pdbs := newPDBIndex(inv.pdbs)
	workloads := countWorkloads(inv.pods, draining, inv.rsOwners)

	byNode := map[string][]*corev1.Pod{}
	for i := range inv.pods {
		pod := &inv.pods[i]
		if draining[pod.Spec.NodeName] {
			byNode[pod.Spec.NodeName] = append(byNode[pod.Spec.NodeName], pod)
		}
	}
	pdbUse := map[string]*PDBStatus{}
	for _, name := range inv.selected {
		node := inv.node(name)
		np := NodePlan{Name: name, Unschedulable: node.Spec.Unschedulable, Pods: []PodPlan{}}
		if v, ok := node.Annotations[AnnotationCAPIExcludeDrain]; ok {
			np.Excluded = fmt.Sprintf("excluded from draining by annotation %s=%q: not cordoned, no pod evicted", AnnotationCAPIExcludeDrain, v)
		}
		pods := byNode[name]
		sort.Slice(pods, func(i, j int) bool { return podKey(pods[i]) < podKey(pods[j]) })
		for _, pod := range pods {
			pp := classify(pod, opts)
			if np.Excluded != "" {
				pp = PodPlan{Namespace: pod.Namespace, Name: pod.Name, Node: name, Owner: pp.Owner, Action: ActionSkip, pod: pod,
					Reasons: []Reason{{Code: ReasonNodeExcluded, Message: "its node is excluded from draining (" + AnnotationCAPIExcludeDrain + ")"}}}
				np.Pods = append(np.Pods, pp)
				continue
			}
			pp.PDBs = pdbs.match(pod)
			if pp.Action == ActionEvict && !pp.has(ReasonFinished) {
				for _, key := range pp.PDBs {
					st, ok := pdbUse[key]
					if !ok {
						s := pdbs.status(key)
						st = &s
						pdbUse[key] = st
					}
					st.PodsToEvict++
				}
				judgePDBs(&pp, pdbs)
				key, name := workloadOf(pod, inv.rsOwners)
				pp.Workload = name
				judgeReplicas(&pp, workloads, key)
			}
			np.Pods = append(np.Pods, pp)
		}
		p.Nodes = append(p.Nodes, np)
	}
	for _, st := range pdbUse {
		p.PDBs = append(p.PDBs, *st)
	}
	sort.Slice(p.PDBs, func(i, j int) bool { return p.PDBs[i].Key() < p.PDBs[j].Key() })
	p.Capacity = planCapacity(inv, draining, p.Nodes)
	p.judge()
	return p
}

// classify mirrors kubectl's drain filters (k8s.io/kubectl/pkg/drain/filters.go), which are
// private and keep only the last reason; here every reason is kept. A DaemonSet pod is
// recognised by its controller reference alone: kubectl GETs the DaemonSet of every such pod
// to spot orphans, which costs a request per pod.
func classify(pod *corev1.Pod, opts PlanOptions) PodPlan {
	pp := PodPlan{Namespace: pod.Namespace, Name: pod.Name, Node: pod.Spec.NodeName, Action: ActionEvict, pod: pod}
	ref := metav1.GetControllerOf(pod)
	if ref != nil {
		pp.Owner, pp.ownerUID = ref.Kind+"/"+ref.Name, string(ref.UID)
	}
	add := func(code, msg string) { pp.Reasons = append(pp.Reasons, Reason{Code: code, Message: msg}) }
	refuse := func(code, msg string) {
		pp.Reasons = append(pp.Reasons, Reason{Code: code, Message: msg, Refuses: true})
		pp.Action = ActionRefuse
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		add(ReasonMirrorPod, "mirror pod of a static pod: the kubelet owns it, it stays")
		pp.Action = ActionSkip
		return pp
	}
	if pod.DeletionTimestamp != nil {
		add(ReasonTerminating, "already terminating: waited for")
		pp.Action = ActionWait
		return pp
	}
	finishedPhase := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	switch pod.Labels[LabelCAPIDrain] {
	case CAPIDrainSkip:
		add(ReasonDrainSkip, "label "+LabelCAPIDrain+"=skip: not evicted, it stays")
		pp.Action = ActionSkip
		return pp
	case CAPIDrainWaitCompleted:
		if !finishedPhase {
			add(ReasonWaitCompleted, "label "+LabelCAPIDrain+"=wait-completed: not evicted; the drain waits until it completes")
			pp.Action = ActionWait
			return pp
		}
	}
	finished := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if finished {
		// kubectl removes finished pods whatever their kind; they hold no capacity and no PDB counts them.
		add(ReasonFinished, "finished ("+string(pod.Status.Phase)+"): removed")
		return pp
	}
	if ref != nil && ref.Kind == "DaemonSet" && ref.APIVersion == "apps/v1" {
		if opts.IgnoreDaemonSets {
			add(ReasonDaemonSet, "DaemonSet pod: ignored (--ignore-daemonsets), it stays")
			pp.Action = ActionSkip
		} else {
			refuse(ReasonDaemonSet, "DaemonSet-managed pod (use --ignore-daemonsets to ignore)")
		}
		return pp
	}
	if hasEmptyDir(pod) {
		if opts.DeleteEmptyDirData {
			add(ReasonEmptyDir, "emptyDir data is deleted (--delete-emptydir-data)")
		} else {
			refuse(ReasonEmptyDir, "pod with local storage (use --delete-emptydir-data to override)")
		}
	}
	if ref == nil {
		if opts.Force {
			add(ReasonUnmanaged, "declares no controller: deleted for good (--force)")
		} else {
			refuse(ReasonUnmanaged, "pod that declares no controller (use --force to override)")
		}
	}
	return pp
}

func hasEmptyDir(pod *corev1.Pod) bool {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].EmptyDir != nil {
			return true
		}
	}
	return false
}

// judgePDBs records how the PodDisruptionBudgets over a pod govern its eviction. The
// eviction subresource refuses a pod selected by more than one PDB with a 500 on every
// attempt, so that pod can never be evicted: it is refused up front.
func judgePDBs(pp *PodPlan, pdbs *pdbIndex) {
	switch len(pp.PDBs) {
	case 0:
		return
	case 1:
	default:
		pp.Reasons = append(pp.Reasons, Reason{Code: ReasonMultiplePDBs, Message: fmt.Sprintf(
			"selected by %d poddisruptionbudgets (%s): the Eviction API refuses it forever; change their selectors so that at most one selects the pod",
			len(pp.PDBs), strings.Join(pp.PDBs, ", ")), Refuses: true})
		pp.Action = ActionRefuse
		return
	}
	st := pdbs.status(pp.PDBs[0])
	// The Eviction API lets a pod that is not Ready go without spending a disruption when the
	// PDB says AlwaysAllow, or (IfHealthyBudget, the default) when the budget is met anyway.
	if b := pdbs.byKey[pp.PDBs[0]]; b != nil && !podutils.IsPodReady(pp.pod) {
		always := b.Spec.UnhealthyPodEvictionPolicy != nil && *b.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow
		if always || st.CurrentHealthy >= st.DesiredHealthy {
			pp.Reasons = append(pp.Reasons, Reason{Code: ReasonPacedByPDB, Message: fmt.Sprintf(
				"not Ready: poddisruptionbudget %s lets it go without spending a disruption", st.Key())})
			return
		}
	}
	if st.DisruptionsAllowed > 0 {
		pp.Reasons = append(pp.Reasons, Reason{Code: ReasonPacedByPDB, Message: fmt.Sprintf(
			"paced by poddisruptionbudget %s: %d disruption(s) allowed now", st.Key(), st.DisruptionsAllowed)})
		return
	}
	msg := fmt.Sprintf("blocked by poddisruptionbudget %s: %s", st.Key(), st.Numbers())
	if st.DesiredHealthy >= st.ExpectedPods && st.ExpectedPods > 0 {
		msg += "; it can never allow a disruption: lower minAvailable or raise maxUnavailable, or scale the workload up"
	}
	pp.Reasons = append(pp.Reasons, Reason{Code: ReasonBlockedByPDB, Message: msg})
}

// workloadCount counts a workload's live pods: all, Ready, and those on the draining nodes.
type workloadCount struct{ total, draining, ready, readyDraining int }

// workloadOf names the workload a pod serves: the Deployment of its ReplicaSet (read from the
// ReplicaSets' owner references), else its controller (StatefulSet, ReplicaSet without a
// Deployment, Job…). A failed new ReplicaSet and the old one are one Deployment.
func workloadOf(pod *corev1.Pod, rsOwners map[types.UID]string) (key, name string) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "", ""
	}
	if ref.Kind == "ReplicaSet" {
		if d, ok := rsOwners[ref.UID]; ok {
			return pod.Namespace + "/" + d, d
		}
	}
	return string(ref.UID), ref.Kind + "/" + ref.Name
}

func countWorkloads(pods []corev1.Pod, draining map[string]bool, rsOwners map[types.UID]string) map[string]*workloadCount {
	counts := map[string]*workloadCount{}
	for i := range pods {
		pod := &pods[i]
		key, _ := workloadOf(pod, rsOwners)
		if key == "" || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		c := counts[key]
		if c == nil {
			c = &workloadCount{}
			counts[key] = c
		}
		c.total++
		ready := podutils.IsPodReady(pod)
		if ready {
			c.ready++
		}
		if draining[pod.Spec.NodeName] {
			c.draining++
			if ready {
				c.readyDraining++
			}
		}
	}
	return counts
}

// judgeReplicas flags evictions that leave a workload with no Ready pod: its only Ready
// replica, or every Ready replica on the nodes being drained with no PDB to pace them. A pod
// that is not Ready serves nothing, so evicting it costs no availability (a never-ready pod
// of a failed new ReplicaSet is not "the only replica" while the old pods serve). A PDB that
// blocks or paces the eviction turns downtime into waiting, so only unprotected pods count.
func judgeReplicas(pp *PodPlan, workloads map[string]*workloadCount, key string) {
	if key == "" || len(pp.PDBs) > 0 || !podutils.IsPodReady(pp.pod) {
		return
	}
	c := workloads[key]
	switch {
	case c == nil:
		return
	case c.total == 1:
		pp.Reasons = append(pp.Reasons, Reason{Code: ReasonSingleReplica, Message: "the only replica of " + pp.Workload + ": its workload is down until the replacement is ready (scale up, or add a PodDisruptionBudget to make the drain wait instead)"})
		pp.Downtime = true
	case c.ready == 1:
		pp.Reasons = append(pp.Reasons, Reason{Code: ReasonSingleReplica, Message: fmt.Sprintf("the only Ready replica of %s (%d more not Ready): its workload is down until the replacement is ready (fix the unready pods, scale up, or add a PodDisruptionBudget)", pp.Workload, c.total-1)})
		pp.Downtime = true
	case c.readyDraining == c.ready:
		pp.Reasons = append(pp.Reasons, Reason{Code: ReasonAllReplicas, Message: fmt.Sprintf("all %d Ready replicas of %s are on the drained nodes and no PodDisruptionBudget paces their eviction: the workload goes down", c.ready, pp.Workload)})
		pp.Downtime = true
	}
}

// judge sets the verdict and the problems.
func (p *DrainPlan) judge() {
	p.Verdict = VerdictSafe
	worsen := func(v Verdict) {
		if v == VerdictBlock || (v == VerdictDowntime && p.Verdict == VerdictSafe) {
			p.Verdict = v
		}
	}
	blockedBy := map[string][]string{}
	var blockedOrder []string
	type down struct {
		first, msg string
		pods       int
	}
	downtime := map[string]*down{} // one line per workload
	var downtimeOrder []string
	for _, np := range p.Nodes {
		for i := range np.Pods {
			pp := &np.Pods[i]
			for _, r := range pp.Reasons {
				switch r.Code {
				case ReasonBlockedByPDB:
					if _, ok := blockedBy[pp.PDBs[0]]; !ok {
						blockedOrder = append(blockedOrder, pp.PDBs[0])
					}
					blockedBy[pp.PDBs[0]] = append(blockedBy[pp.PDBs[0]], pp.Key())
					worsen(VerdictBlock)
				case ReasonSingleReplica, ReasonAllReplicas:
					owner := pp.Namespace + "/" + pp.Workload
					if _, ok := downtime[owner]; !ok {
						downtimeOrder = append(downtimeOrder, owner)
						downtime[owner] = &down{first: pp.Key(), msg: r.Message}
					}
					downtime[owner].pods++
					worsen(VerdictDowntime)
				}
			}
		}
	}
	for _, owner := range downtimeOrder {
		d := downtime[owner]
		pods := "pod " + d.first
		if d.pods > 1 {
			pods = fmt.Sprintf("pods %s and %d more", d.first, d.pods-1)
		}
		p.Problems = append(p.Problems, fmt.Sprintf("downtime: %s: %s", pods, d.msg))
	}
	for _, key := range blockedOrder {
		for _, st := range p.PDBs {
			if st.Key() == key {
				p.Problems = append(p.Problems, fmt.Sprintf("blocked: poddisruptionbudget %s %s: %s cannot be evicted now", key, st.Numbers(), strings.Join(blockedBy[key], ", ")))
			}
		}
	}
	if refusal := p.Refusal(); refusal != "" {
		p.Problems = append(p.Problems, refusal)
		worsen(VerdictBlock)
	}
	if !p.Capacity.Fits {
		p.Problems = append(p.Problems, "capacity: "+p.Capacity.Summary)
		worsen(VerdictDowntime)
	}
}

// refusalGroups are kubectl's wording for what makes a drain fail for sure, with the fix.
var refusalGroups = []struct{ code, text string }{
	{ReasonDaemonSet, "DaemonSet-managed pods (use --ignore-daemonsets to ignore)"},
	{ReasonEmptyDir, "pods with local storage (use --delete-emptydir-data to override)"},
	{ReasonUnmanaged, "pods that declare no controller (use --force to override)"},
	{ReasonMultiplePDBs, "pods selected by more than one poddisruptionbudget (the Eviction API refuses them forever; make at most one PDB select each pod)"},
}

// Refusal is the one-line reason a drain refuses to start, naming the pods and the fix; empty
// when nothing refuses.
func (p *DrainPlan) Refusal() string {
	var parts []string
	for _, g := range refusalGroups {
		var pods []string
		for _, np := range p.Nodes {
			for i := range np.Pods {
				pp := &np.Pods[i]
				if pp.Action != ActionRefuse {
					continue
				}
				for _, r := range pp.Reasons {
					if r.Code != g.code || !r.Refuses {
						continue
					}
					if g.code == ReasonMultiplePDBs {
						pods = append(pods, pp.Key()+" ("+strings.Join(pp.PDBs, ", ")+")")
					} else {
						pods = append(pods, pp.Key())
					}
				}
			}
		}
		if len(pods) > 0 {
			parts = append(parts, g.text+": "+strings.Join(pods, ", "))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("cannot drain node %s: %s", strings.Join(p.nodeNames(), ", "), strings.Join(parts, "; "))
}

func (p *DrainPlan) nodeNames() []string {
	names := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		names[i] = n.Name
	}
	return names
}

// ToEvict returns the pods of a node that a drain evicts.
func (np *NodePlan) ToEvict() []*PodPlan {
	var out []*PodPlan
	for i := range np.Pods {
		if np.Pods[i].Action == ActionEvict {
			out = append(out, &np.Pods[i])
		}
	}
	return out
}
