package troubleshoot

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// SchedulingReason is one reason of a FailedScheduling message, with the number of nodes
// it applies to, e.g. {3, "Insufficient cpu"}.
type SchedulingReason struct {
	Nodes  int    `json:"nodes"`
	Reason string `json:"reason"`
}

var schedItem = regexp.MustCompile(`^(\d+) (.+)$`)

// ParseFailedScheduling splits the scheduler's message ("0/3 nodes are available: 1
// Insufficient cpu, 2 node(s) had untolerated taint {k: v}. preemption: ...") into its
// per-node reasons; messages without counts (e.g. `persistentvolumeclaim "x" not found`)
// come back as one reason with Nodes 0.
func ParseFailedScheduling(msg string) (total int, reasons []SchedulingReason) {
	msg = strings.TrimSpace(msg)
	if i := strings.Index(msg, " preemption:"); i >= 0 {
		msg = msg[:i]
	}
	head, body, ok := strings.Cut(msg, " nodes are available: ")
	if !ok {
		return 0, []SchedulingReason{{Reason: strings.TrimSuffix(msg, ".")}}
	}
	if _, n, ok := strings.Cut(head, "/"); ok {
		total, _ = strconv.Atoi(n)
	}
	body = strings.TrimSuffix(strings.TrimSpace(body), ".")
	// Items are separated by ", " but taints print as {key: value}: split outside braces.
	depth, start := 0, 0
	var items []string
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				items = append(items, body[start:i])
				start = i + 1
			}
		}
	}
	items = append(items, body[start:])
	for _, it := range items {
		it = strings.TrimSpace(it)
		if m := schedItem.FindStringSubmatch(it); m != nil {
			n, _ := strconv.Atoi(m[1])
			reasons = append(reasons, SchedulingReason{Nodes: n, Reason: m[2]})
		} else if it != "" {
			reasons = append(reasons, SchedulingReason{Reason: it})
		}
	}
	return total, reasons
}

// schedulingCategory maps a scheduler reason to a finding category.
func schedulingCategory(reason string) Category {
	r := strings.ToLower(reason)
	switch {
	case strings.HasPrefix(r, "insufficient") || strings.Contains(r, "too many pods"):
		return CategoryInsufficient
	case strings.Contains(r, "untolerated taint") || strings.Contains(r, "were unschedulable"):
		return CategoryUntoleratedTaint
	case strings.Contains(r, "node affinity/selector") || strings.Contains(r, "node affinity"):
		return CategoryNodeAffinity
	case strings.Contains(r, "topology spread"):
		return CategoryTopologySpread
	case strings.Contains(r, "persistentvolumeclaim") || strings.Contains(r, "persistent volume") || strings.Contains(r, "volume node affinity") || strings.Contains(r, "unbound"):
		return CategoryUnboundPVC
	}
	return CategoryUnschedulable
}

// unschedulable turns a Pending pod's FailedScheduling into structured per-node reasons,
// checked against the node list: taints, selector and affinity, and the resource fit
// (requested vs allocatable vs already requested by the pods on the node).
func (a *analysis) unschedulable(fd *Finding, p *corev1.Pod) {
	msg := fd.Failure.Message
	total, reasons := ParseFailedScheduling(msg)
	// Nodes the pod's selector/affinity excludes are excluded on purpose: when some node does
	// match it, what blocks the pod is on those nodes (a taint, capacity), not the selector.
	affinityIntended := a.affinityMatchesSomeNode(p)
	best := SchedulingReason{}
	for _, r := range reasons {
		fd.Details = append(fd.Details, schedReasonLine(r, total))
		// The reason that rules out most nodes is the one to fix first; a volume problem
		// rules out every node by itself.
		switch schedulingCategory(r.Reason) {
		case CategoryUnboundPVC:
			r.Nodes = 1 << 30
		case CategoryNodeAffinity:
			if affinityIntended {
				r.Nodes = -1
			} else {
				r.Nodes = 1 << 29 // no node matches: nothing else can be fixed first
			}
		}
		if r.Nodes > best.Nodes || best.Reason == "" {
			best = r
		}
	}
	fd.Category = schedulingCategory(best.Reason)
	if fd.Category == CategoryUnschedulable {
		fd.Category = CategoryUnschedulable
	}
	ns := p.Namespace
	// PVCs: every claim of the pod that does not exist or is not bound.
	for ix := range p.Spec.Volumes {
		v := &p.Spec.Volumes[ix]
		if v.PersistentVolumeClaim == nil {
			continue
		}
		problem, fix := a.pvcProblem(ns, v.PersistentVolumeClaim.ClaimName)
		if problem != "" {
			fd.Category = CategoryUnboundPVC
			fd.Details = append(fd.Details, problem)
			fd.Fix = append(fd.Fix, fix...)
			fd.Evidence.Events = append(fd.Evidence.Events, a.events("PersistentVolumeClaim", ns, v.PersistentVolumeClaim.ClaimName)...)
		}
	}
	if a.s.has("nodes") && len(a.s.nodes) > 0 {
		fd.Details = append(fd.Details, a.perNode(p)...)
	} else if a.s.has("nodes") {
		fd.Details = append(fd.Details, "the cluster has no nodes")
	}
	wl := workloadArg(fd.Object)
	switch fd.Category {
	case CategoryInsufficient:
		if fd.Object.Kind == "Pod" {
			fd.Fix = append(fd.Fix, "recreate the pod with requests that fit a node's free capacity (pod resources are immutable)")
		} else {
			fd.Fix = append(fd.Fix, fmt.Sprintf("lower the requests to what a node has free: kubectl set resources %s --requests=cpu=<cpu>,memory=<memory>%s", wl, nsFlag(ns)))
		}
		fd.Fix = append(fd.Fix, "or add capacity: more or larger nodes, or fewer replicas elsewhere")
	case CategoryUntoleratedTaint:
		fd.Fix = append(fd.Fix, fmt.Sprintf("add a matching toleration (%stolerations of %s), or remove the taint: kubectl taint nodes <node> <key>-", specPath(fd.Object), wl))
	case CategoryNodeAffinity:
		fd.Fix = append(fd.Fix, fmt.Sprintf("fix %snodeSelector/affinity of %s, or label a node: kubectl label node <node> <key>=<value>", specPath(fd.Object), wl))
	case CategoryTopologySpread:
		fd.Fix = append(fd.Fix, fmt.Sprintf("relax topologySpreadConstraints of %s (maxSkew, or whenUnsatisfiable: ScheduleAnyway), or add nodes in the missing topology domains", wl))
	case CategoryUnschedulable:
		fd.Fix = append(fd.Fix, fmt.Sprintf("kubectl describe pod %s%s  # read the scheduler's message above", p.Name, nsFlag(ns)))
	}
	if fd.Category == CategoryTopologySpread {
		for _, c := range p.Spec.TopologySpreadConstraints {
			fd.Details = append(fd.Details, fmt.Sprintf("topologySpreadConstraint: topologyKey %s, maxSkew %d, whenUnsatisfiable %s", c.TopologyKey, c.MaxSkew, c.WhenUnsatisfiable))
		}
	}
	fd.Cause = strings.Replace(fd.Cause, "pod cannot be scheduled: ", "pod cannot be scheduled ("+string(fd.Category)+"): ", 1)
}

// specPath is where a pod spec field lives in the finding's object.
func specPath(o ObjectRef) string {
	if o.Kind == "Pod" {
		return "spec."
	}
	return "spec.template.spec."
}

func schedReasonLine(r SchedulingReason, total int) string {
	if r.Nodes == 0 {
		return "scheduler: " + r.Reason
	}
	return fmt.Sprintf("scheduler: %d of %d nodes: %s", r.Nodes, total, r.Reason)
}

// affinityMatchesSomeNode reports whether the pod's node selector and required node
// affinity match at least one node of the listed nodes.
func (a *analysis) affinityMatchesSomeNode(p *corev1.Pod) bool {
	aff := nodeaffinity.GetRequiredNodeAffinity(p)
	for i := range a.s.nodes {
		if ok, _ := aff.Match(&a.s.nodes[i]); ok {
			return true
		}
	}
	return false
}

// perNode checks the pod against every node and says, per node, why it does not fit.
func (a *analysis) perNode(p *corev1.Pod) []string {
	req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
	used := a.nodeRequests()
	aff := nodeaffinity.GetRequiredNodeAffinity(p)
	logger := klog.Background()
	nodes := make([]*corev1.Node, 0, len(a.s.nodes))
	for i := range a.s.nodes {
		nodes = append(nodes, &a.s.nodes[i])
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var lines []string
	fits := 0
	for _, n := range nodes {
		var why []string
		if n.Spec.Unschedulable {
			why = append(why, "cordoned (spec.unschedulable)")
		}
		noSched := func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}
		if t, bad := schedcorev1.FindMatchingUntoleratedTaint(logger, n.Spec.Taints, p.Spec.Tolerations, noSched, true); bad {
			why = append(why, fmt.Sprintf("untolerated taint %s", taintString(t)))
		}
		if ok, _ := aff.Match(n); !ok {
			why = append(why, "node selector/affinity does not match"+selectorDiff(p.Spec.NodeSelector, n.Labels))
		}
		u := used[n.Name]
		for _, rn := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			want, ok := req[rn]
			if !ok || want.IsZero() {
				continue
			}
			alloc := n.Status.Allocatable[rn]
			already := u.requests[rn]
			free := alloc.DeepCopy()
			free.Sub(already)
			if want.Cmp(free) > 0 {
				why = append(why, fmt.Sprintf("insufficient %s: pod requests %s, node allocatable %s, already requested %s (free %s)%s",
					rn, qty(want, rn), qty(alloc, rn), qty(already, rn), qty(free, rn), u.partialNote()))
			}
		}
		if maxPods, ok := n.Status.Allocatable[corev1.ResourcePods]; ok && int64(u.pods) >= maxPods.Value() && maxPods.Value() > 0 {
			why = append(why, fmt.Sprintf("too many pods: %d of %d", u.pods, maxPods.Value()))
		}
		if len(why) == 0 {
			fits++
			continue
		}
		if len(lines) < maxDetailLines {
			lines = append(lines, fmt.Sprintf("node %s: %s", n.Name, strings.Join(why, "; ")))
		}
	}
	if hidden := len(nodes) - fits - len(lines); hidden > 0 {
		lines = append(lines, fmt.Sprintf("… and %d more nodes", hidden))
	}
	if fits > 0 && len(lines) > 0 {
		lines = append(lines, fmt.Sprintf("%d node(s) pass the taint, selector and resource checks", fits))
	}
	return lines
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return fmt.Sprintf("%s:%s", t.Key, t.Effect)
	}
	return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
}

func selectorDiff(sel, nodeLabels map[string]string) string {
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		if got, ok := nodeLabels[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("wants %s=%s, node has no %s", k, sel[k], k))
		} else if got != sel[k] {
			diffs = append(diffs, fmt.Sprintf("wants %s=%s, node has %s=%s", k, sel[k], k, got))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return " (" + strings.Join(diffs, ", ") + ")"
}

func qty(q resource.Quantity, rn corev1.ResourceName) string {
	if rn == corev1.ResourceCPU {
		return fmt.Sprintf("%dm", q.MilliValue())
	}
	if q.Value() >= 1<<20 {
		return fmt.Sprintf("%dMi", q.Value()>>20)
	}
	return q.String()
}

type nodeUsage struct {
	requests corev1.ResourceList
	pods     int
	partial  bool
}

func (u nodeUsage) partialNote() string {
	if u.partial {
		return " (already requested counts only this namespace's pods: listing all pods was not allowed)"
	}
	return ""
}

// nodeRequests sums the requests of the non-terminal pods on every node. A namespace
// snapshot does not see other namespaces' pods, so the first time a fit is computed, one
// LIST of the cluster's non-terminal pods is made (RBAC permitting).
func (a *analysis) nodeRequests() map[string]nodeUsage {
	// Once per run: every unschedulable group asks, and each sum walks every pod.
	if a.usage == nil {
		a.usage = a.sumNodeRequests()
	}
	return a.usage
}

func (a *analysis) sumNodeRequests() map[string]nodeUsage {
	n := len(a.s.pods)
	pod := func(i int) *corev1.Pod { return a.s.pods[i].pod() }
	partial := false
	if a.s.namespace != "" {
		if !a.clusterRead {
			a.clusterRead = true
			var err error
			a.clusterPods, err = a.listClusterPods()
			if err != nil {
				a.clusterPods = nil
			}
		}
		if a.clusterPods != nil {
			n, pod = len(a.clusterPods), func(i int) *corev1.Pod { return &a.clusterPods[i] }
		} else {
			partial = true
		}
	}
	out := map[string]nodeUsage{}
	for i := range n {
		p := pod(i)
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		u := out[p.Spec.NodeName]
		if u.requests == nil {
			u.requests = corev1.ResourceList{}
		}
		for rn, q := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			cur := u.requests[rn]
			cur.Add(q)
			u.requests[rn] = cur
		}
		u.pods++
		u.partial = partial
		out[p.Spec.NodeName] = u
	}
	for k, u := range out {
		u.partial = partial
		out[k] = u
	}
	return out
}

func (a *analysis) listClusterPods() ([]corev1.Pod, error) {
	var pods []corev1.Pod
	opts := metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed", Limit: PageSize}
	for {
		a.s.requests.Add(1)
		list, err := a.client.CoreV1().Pods("").List(a.ctx, opts)
		if err != nil {
			return nil, err
		}
		pods = append(pods, list.Items...)
		if list.Continue == "" {
			return pods, nil
		}
		opts.Continue = list.Continue
	}
}

// pvcProblem explains why a claim a pod needs is missing or unbound, and how to fix it.
func (a *analysis) pvcProblem(ns, name string) (string, []string) {
	if !a.s.has("persistentvolumeclaims") {
		return "", nil
	}
	var pvc *corev1.PersistentVolumeClaim
	for i := range a.s.pvcs {
		if a.s.pvcs[i].Namespace == ns && a.s.pvcs[i].Name == name {
			pvc = &a.s.pvcs[i]
		}
	}
	if pvc == nil {
		return fmt.Sprintf("persistentvolumeclaim %q does not exist", name), []string{fmt.Sprintf("create PersistentVolumeClaim %s%s, or fix the claimName in the pod template", name, nsFlag(ns))}
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		return "", nil
	}
	reqSize := pvc.Spec.Resources.Requests.Storage()
	className, classSet := "", false
	if pvc.Spec.StorageClassName != nil {
		className, classSet = *pvc.Spec.StorageClassName, true
	}
	if !classSet && a.s.has("storageclasses") {
		if d := a.defaultClass(); d != "" {
			className = d
		}
	}
	prefix := fmt.Sprintf("persistentvolumeclaim %q is %s", name, orDefault(string(pvc.Status.Phase), "Pending"))
	switch {
	case className == "" && !classSet && a.s.has("storageclasses"):
		if a.matchingPV(pvc, "") {
			return prefix + ": no StorageClass and no default StorageClass; a matching PersistentVolume exists but is not bound yet", nil
		}
		return prefix + fmt.Sprintf(": no storageClassName, no default StorageClass, and no Available PersistentVolume matches (%s, %v)", reqSize.String(), pvc.Spec.AccessModes),
			[]string{"set spec.storageClassName to an existing StorageClass (kubectl get storageclass), or mark one default, or create a PersistentVolume that matches"}
	case className == "":
		if a.s.has("persistentvolumes") && !a.matchingPV(pvc, "") {
			return prefix + fmt.Sprintf(": storageClassName \"\" (static binding) and no Available PersistentVolume matches (%s, %v)", reqSize.String(), pvc.Spec.AccessModes),
				[]string{"create a PersistentVolume with storageClassName \"\", capacity ≥ the request and the same access mode"}
		}
		return prefix, nil
	}
	if !a.s.has("storageclasses") {
		return prefix + fmt.Sprintf(" (StorageClass %s; StorageClasses could not be read)", className), nil
	}
	var sc bool
	var mode string
	var provisioner string
	for i := range a.s.classes {
		if c := &a.s.classes[i]; c.Name == className {
			sc = true
			provisioner = c.Provisioner
			if c.VolumeBindingMode != nil {
				mode = string(*c.VolumeBindingMode)
			}
		}
	}
	if !sc {
		return prefix + fmt.Sprintf(": StorageClass %q does not exist", className),
			[]string{fmt.Sprintf("use an existing StorageClass (kubectl get storageclass) in the claim, or create StorageClass %s", className)}
	}
	if provisioner == "kubernetes.io/no-provisioner" && a.s.has("persistentvolumes") && !a.matchingPV(pvc, className) {
		return prefix + fmt.Sprintf(": StorageClass %s has no provisioner and no Available PersistentVolume of that class matches (%s, %v)", className, reqSize.String(), pvc.Spec.AccessModes),
			[]string{fmt.Sprintf("create a PersistentVolume with storageClassName %s, capacity ≥ %s and access modes %v", className, reqSize.String(), pvc.Spec.AccessModes)}
	}
	if mode == "WaitForFirstConsumer" {
		return prefix + fmt.Sprintf(": StorageClass %s binds on WaitForFirstConsumer: the volume is provisioned only once a pod using it is scheduled, so the pod's other scheduling reasons decide", className), nil
	}
	return prefix + fmt.Sprintf(": StorageClass %s (provisioner %s) has not provisioned a volume; see the claim's events", className, provisioner),
		[]string{fmt.Sprintf("kubectl describe pvc %s%s", name, nsFlag(ns))}
}

func (a *analysis) defaultClass() string {
	for i := range a.s.classes {
		c := &a.s.classes[i]
		if c.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" || c.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true" {
			return c.Name
		}
	}
	return ""
}

// matchingPV reports whether an Available PersistentVolume of the class could bind the claim.
func (a *analysis) matchingPV(pvc *corev1.PersistentVolumeClaim, class string) bool {
	want := pvc.Spec.Resources.Requests.Storage()
	for i := range a.s.pvs {
		pv := &a.s.pvs[i]
		if pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.StorageClassName != class {
			continue
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		if capacity.Cmp(*want) < 0 {
			continue
		}
		modes := map[corev1.PersistentVolumeAccessMode]bool{}
		for _, m := range pv.Spec.AccessModes {
			modes[m] = true
		}
		ok := true
		for _, m := range pvc.Spec.AccessModes {
			ok = ok && modes[m]
		}
		if ok {
			return true
		}
	}
	return false
}
