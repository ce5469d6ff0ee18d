package maintenance

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// The scheduler's inter-pod rules live in k8s.io/kubernetes (plugins InterPodAffinity and
// PodTopologySpread), which the plugin must not import; component-helpers has node affinity
// and taints only. This file re-states the hard (required / DoNotSchedule) parts of the two
// rules for the capacity estimate: what makes a node infeasible, not how nodes are scored.

// placement is where pods are in the estimate: every live pod that is not evicted (pods
// that stay on drained nodes too: DaemonSet, skipped, waited-for pods), plus the evicted
// pods the estimate has placed so far.
type placement struct {
	nodes map[string]*corev1.Node
	pods  map[string][]*corev1.Pod // node name -> pods
}

func newPlacement(inv *inventory, moving map[*corev1.Pod]bool) *placement {
	pl := &placement{nodes: map[string]*corev1.Node{}, pods: map[string][]*corev1.Pod{}}
	for i := range inv.nodes {
		pl.nodes[inv.nodes[i].Name] = &inv.nodes[i]
	}
	for i := range inv.pods {
		p := &inv.pods[i]
		if p.Spec.NodeName == "" || moving[p] || p.DeletionTimestamp != nil ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		pl.pods[p.Spec.NodeName] = append(pl.pods[p.Spec.NodeName], p)
	}
	return pl
}

func (pl *placement) place(pod *corev1.Pod, node string) {
	pl.pods[node] = append(pl.pods[node], pod)
}

// sameDomain calls fn for every pod on a node whose label key has the value node has.
func (pl *placement) sameDomain(node *corev1.Node, key string, fn func(*corev1.Pod) bool) bool {
	v, ok := node.Labels[key]
	if !ok {
		return false
	}
	for name, n := range pl.nodes {
		if n.Labels[key] != v {
			continue
		}
		if _, has := n.Labels[key]; !has {
			continue
		}
		for _, p := range pl.pods[name] {
			if fn(p) {
				return true
			}
		}
	}
	return false
}

// termMatches reports whether other is selected by the affinity term of pod.
func termMatches(pod *corev1.Pod, term *corev1.PodAffinityTerm, other *corev1.Pod) bool {
	if other.UID == pod.UID && other.Name == pod.Name && other.Namespace == pod.Namespace {
		return false
	}
	switch {
	case len(term.Namespaces) > 0:
		found := false
		for _, ns := range term.Namespaces {
			found = found || ns == other.Namespace
		}
		if !found && term.NamespaceSelector == nil {
			return false
		}
	case term.NamespaceSelector == nil:
		if other.Namespace != pod.Namespace {
			return false
		}
	}
	// A namespaceSelector would need the namespaces' labels: it is taken as "any namespace",
	// which errs towards "does not fit" for anti-affinity.
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil || term.LabelSelector == nil {
		return false
	}
	return sel.Matches(labels.Set(other.Labels))
}

// interPodExcludes returns why pod cannot go on node given the pods placed so far: its
// required pod anti-affinity, the required anti-affinity of pods already there, its required
// pod affinity, or a DoNotSchedule topology spread constraint; "" when none.
func (pl *placement) interPodExcludes(node *corev1.Node, pod *corev1.Pod) string {
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			term := &a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i]
			if pl.sameDomain(node, term.TopologyKey, func(q *corev1.Pod) bool { return termMatches(pod, term, q) }) {
				return "break its pod anti-affinity (" + term.TopologyKey + ")"
			}
		}
	}
	// Symmetry: a pod already in the domain whose anti-affinity selects this pod keeps it out.
	for name, n := range pl.nodes {
		for _, q := range pl.pods[name] {
			if q.Spec.Affinity == nil || q.Spec.Affinity.PodAntiAffinity == nil {
				continue
			}
			for i := range q.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				term := &q.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i]
				v, ok := n.Labels[term.TopologyKey]
				if ok && node.Labels[term.TopologyKey] == v && termMatches(q, term, pod) {
					if _, has := node.Labels[term.TopologyKey]; has {
						return "hold a pod whose anti-affinity excludes it (" + q.Namespace + "/" + q.Name + ")"
					}
				}
			}
		}
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAffinity != nil {
		for i := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			term := &a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i]
			if pl.sameDomain(node, term.TopologyKey, func(q *corev1.Pod) bool { return termMatches(pod, term, q) }) {
				continue
			}
			// The scheduler lets the first pod of a group that selects itself go anywhere.
			if !pl.anyMatch(pod, term) && selfMatch(pod, term) {
				continue
			}
			return "do not satisfy its pod affinity (" + term.TopologyKey + ")"
		}
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		if why := pl.spreadExcludes(node, pod, c); why != "" {
			return why
		}
	}
	return ""
}

func (pl *placement) anyMatch(pod *corev1.Pod, term *corev1.PodAffinityTerm) bool {
	for _, pods := range pl.pods {
		for _, q := range pods {
			if termMatches(pod, term, q) {
				return true
			}
		}
	}
	return false
}

func selfMatch(pod *corev1.Pod, term *corev1.PodAffinityTerm) bool {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	return err == nil && term.LabelSelector != nil && sel.Matches(labels.Set(pod.Labels))
}

// spreadExcludes applies one DoNotSchedule constraint: placing the pod in node's domain must
// keep that domain at most maxSkew above the emptiest domain. Domains are the values of the
// key on the nodes that pass the pod's node selector and required affinity (the scheduler's
// default nodeAffinityPolicy Honor; taints are ignored, its default nodeTaintsPolicy).
func (pl *placement) spreadExcludes(node *corev1.Node, pod *corev1.Pod, c *corev1.TopologySpreadConstraint) string {
	v, ok := node.Labels[c.TopologyKey]
	if !ok {
		return "lack the topology key " + c.TopologyKey + " of its spread constraint"
	}
	ls := c.LabelSelector.DeepCopy()
	if ls == nil {
		ls = &metav1.LabelSelector{}
	}
	for _, k := range c.MatchLabelKeys {
		if val, ok := pod.Labels[k]; ok {
			if ls.MatchLabels == nil {
				ls.MatchLabels = map[string]string{}
			}
			ls.MatchLabels[k] = val
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return ""
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	counts := map[string]int{}
	for name, n := range pl.nodes {
		dv, ok := n.Labels[c.TopologyKey]
		if !ok {
			continue
		}
		if fits, err := affinity.Match(n); err != nil || !fits {
			continue
		}
		if _, seen := counts[dv]; !seen {
			counts[dv] = 0
		}
		for _, q := range pl.pods[name] {
			if q.Namespace == pod.Namespace && sel.Matches(labels.Set(q.Labels)) {
				counts[dv]++
			}
		}
	}
	if _, ok := counts[v]; !ok {
		return ""
	}
	minCount := -1
	for _, n := range counts {
		if minCount < 0 || n < minCount {
			minCount = n
		}
	}
	if c.MinDomains != nil && int(*c.MinDomains) > len(counts) {
		minCount = 0
	}
	self := 0
	if sel.Matches(labels.Set(pod.Labels)) {
		self = 1
	}
	if counts[v]+self-minCount > int(c.MaxSkew) {
		return fmt.Sprintf("break its topology spread (%s, maxSkew %d)", c.TopologyKey, c.MaxSkew)
	}
	return ""
}
