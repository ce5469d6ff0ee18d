package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Categories of the PodDisruptionBudget analyzer beyond PDBBlocksDisruption.
const (
	CategoryPDBSelectsNothing Category = "PDBSelectsNothing"
	CategoryPDBOverlap        Category = "PDBOverlap"
	CategoryPDBNever          Category = "PDBNeverAllowsDisruption"
)

// pdbMoreRules: a budget that selects no pod (a typo: it protects nothing), a budget whose
// spec can never allow a disruption whatever the health (maxUnavailable 0, minAvailable
// 100 % or ≥ the pods it covers), and pods selected by two budgets (the Eviction API then
// refuses every eviction of them).
func (a *analysis) pdbMoreRules() {
	if !a.s.has("pods") {
		return
	}
	podPDBs := map[string][]string{} // ns/pod → pdb names
	for i := range a.s.pdbs {
		p := &a.s.pdbs[i]
		ref := ObjectRef{Kind: "PodDisruptionBudget", Namespace: p.Namespace, Name: p.Name}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || p.Spec.Selector == nil {
			continue
		}
		var pods []string
		for j := range a.s.pods {
			pod := &a.s.pods[j]
			if pod.namespace() == p.Namespace && sel.Matches(labels.Set(pod.labels())) {
				pods = append(pods, pod.name())
				k := key(pod.namespace(), pod.name())
				podPDBs[k] = append(podPDBs[k], p.Name)
			}
		}
		if len(pods) == 0 && !sel.Empty() {
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryPDBSelectsNothing, Object: ref,
				Cause:   fmt.Sprintf("poddisruptionbudget %s selects no pod (selector %s): it protects nothing during drains", p.Name, metav1.FormatLabelSelector(p.Spec.Selector)),
				Details: a.pdbNearMiss(p),
				Fix:     a.pdbSelectorFix(p),
			})
			continue
		}
		if why := pdbNever(p, len(pods)); why != "" && (p.Status.CurrentHealthy < p.Status.DesiredHealthy || p.Status.ExpectedPods == 0) {
			// With every pod healthy PDBBlocksDisruption already says it from the status.
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryPDBNever, Object: ref,
				Cause: fmt.Sprintf("poddisruptionbudget %s can never allow a disruption (%s): every drain of a node running its pods blocks", p.Name, why),
				Fix:   []string{fmt.Sprintf(`kubectl patch pdb %s%s --type=merge -p '{"spec":{"maxUnavailable":1,"minAvailable":null}}'`, p.Name, nsFlag(p.Namespace))},
			})
		}
	}
	overlaps := map[string][]string{} // "ns|a,b" → pods
	for k, names := range podPDBs {
		if len(names) < 2 {
			continue
		}
		sort.Strings(names)
		ns, pod, _ := strings.Cut(k, "/")
		ok := ns + "|" + strings.Join(names, ",")
		overlaps[ok] = append(overlaps[ok], pod)
	}
	keys := make([]string, 0, len(overlaps))
	for k := range overlaps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ns, list, _ := strings.Cut(k, "|")
		names := strings.Split(list, ",")
		pods := overlaps[k]
		sort.Strings(pods)
		a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryPDBOverlap,
			Object: ObjectRef{Kind: "PodDisruptionBudget", Namespace: ns, Name: names[0]}, Pods: capList(pods),
			Cause: fmt.Sprintf("poddisruptionbudgets %s select the same %d pod(s): the Eviction API refuses to evict a pod with more than one budget, so drains block", strings.Join(names, " and "), len(pods)),
			Fix:   []string{fmt.Sprintf("kubectl delete pdb %s%s  # keep one budget per workload", strings.Join(names[1:], " "), nsFlag(ns))},
		})
	}
}

// pdbNever says why a budget's spec allows no disruption of n pods, or "".
func pdbNever(p *policyv1.PodDisruptionBudget, n int) string {
	if mu := p.Spec.MaxUnavailable; mu != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(mu, max(n, 1), true); err == nil && v == 0 {
			return "maxUnavailable " + mu.String()
		}
		return ""
	}
	if ma := p.Spec.MinAvailable; ma != nil {
		if ma.Type == intstr.String && strings.TrimSpace(ma.StrVal) == "100%" {
			return "minAvailable 100%"
		}
		if v, err := intstr.GetScaledValueFromIntOrPercent(ma, n, true); err == nil && n > 0 && v >= n {
			return fmt.Sprintf("minAvailable %s with %d pods", ma.String(), n)
		}
	}
	return ""
}

// pdbNearMiss names the workload whose labels come closest to a budget's selector.
func (a *analysis) pdbNearMiss(p *policyv1.PodDisruptionBudget) []string {
	if w := a.pdbWorkload(p); w != nil {
		return []string{fmt.Sprintf("nearest workload: %s (selector %s)", w.ref, labelsString(w.selector))}
	}
	return nil
}

type workloadSel struct {
	ref      ObjectRef
	selector map[string]string
}

// pdbWorkload is the workload whose selector shares the most labels with the budget's.
func (a *analysis) pdbWorkload(p *policyv1.PodDisruptionBudget) *workloadSel {
	var best *workloadSel
	bestN := 0
	consider := func(kind, ns, name string, sel *metav1.LabelSelector) {
		if ns != p.Namespace || sel == nil || len(sel.MatchLabels) == 0 {
			return
		}
		n := 0
		for k, v := range p.Spec.Selector.MatchLabels {
			if sel.MatchLabels[k] == v {
				n += 2
			} else if w, ok := sel.MatchLabels[k]; ok && EditDistance(w, v) <= 2 {
				n++
			}
		}
		if n > bestN {
			best, bestN = &workloadSel{ref: ObjectRef{Kind: kind, Namespace: ns, Name: name}, selector: sel.MatchLabels}, n
		}
	}
	for i := range a.s.deployments {
		d := &a.s.deployments[i]
		consider("Deployment", d.Namespace, d.Name, d.Spec.Selector)
	}
	for i := range a.s.statefulSets {
		s := &a.s.statefulSets[i]
		consider("StatefulSet", s.Namespace, s.Name, s.Spec.Selector)
	}
	return best
}

// pdbSelectorFix sets the budget's selector to the nearest workload's own selector (never its
// template labels, which carry version labels that change on every release).
func (a *analysis) pdbSelectorFix(p *policyv1.PodDisruptionBudget) []string {
	w := a.pdbWorkload(p)
	if w == nil {
		return []string{fmt.Sprintf("kubectl edit pdb %s%s  # set spec.selector to the workload's selector", p.Name, nsFlag(p.Namespace))}
	}
	return []string{fmt.Sprintf(`kubectl patch pdb %s%s --type=merge -p '{"spec":{"selector":{"matchLabels":%s,"matchExpressions":null}}}'  # the selector of %s`,
		p.Name, nsFlag(p.Namespace), jsonMap(w.selector, w.selector), w.ref)}
}
