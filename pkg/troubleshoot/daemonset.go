package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
	"k8s.io/kubectl/pkg/util/podutils"
)

// Categories of the DaemonSet analyzer.
const (
	CategoryDaemonSetUnavailable  Category = "DaemonSetUnavailable"
	CategoryDaemonSetMisscheduled Category = "DaemonSetMisscheduled"
	CategoryDaemonSetTaint        Category = "DaemonSetNotOnTaintedNodes"
)

// daemonSetRules: pods unavailable (folded into the pods' finding when one names the cause),
// pods running where they should not (node labels or taints changed under them), and nodes
// the DaemonSet skips because it does not tolerate their taints (the controller counts
// them as "not desired", so its status looks complete).
func (a *analysis) daemonSetRules() {
	for i := range a.s.daemonSets {
		ds := &a.s.daemonSets[i]
		ns := ds.Namespace
		ref := ObjectRef{Kind: "DaemonSet", Namespace: ns, Name: ds.Name}
		st := ds.Status
		if st.NumberUnavailable > 0 {
			var notReady []string
			for _, p := range a.ownedPods("DaemonSet", ns, ds.Name) {
				if !podutils.IsPodReady(p) {
					notReady = append(notReady, p.Name)
				}
			}
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactDegraded, Category: CategoryDaemonSetUnavailable, Object: ref, Pods: capList(notReady),
				Cause:     fmt.Sprintf("daemonset %s: %d of %d pods unavailable", ds.Name, st.NumberUnavailable, st.DesiredNumberScheduled),
				Evidence:  Evidence{Status: []string{daemonSetStatusLine(ds)}, Events: a.events("DaemonSet", ns, ds.Name)},
				Fix:       []string{fmt.Sprintf("kubectl feastflow diagnose ds/%s%s", ds.Name, nsFlag(ns))},
				symptomOf: []ObjectRef{ref},
				symptom:   fmt.Sprintf("affects daemonset %s: %d of %d pods unavailable", ds.Name, st.NumberUnavailable, st.DesiredNumberScheduled),
			})
		}
		if st.NumberMisscheduled > 0 {
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryDaemonSetMisscheduled, Object: ref,
				Cause:    fmt.Sprintf("daemonset %s: %d pod(s) run on nodes the DaemonSet no longer selects (node labels or taints changed)", ds.Name, st.NumberMisscheduled),
				Evidence: Evidence{Status: []string{daemonSetStatusLine(ds)}},
				Fix:      []string{fmt.Sprintf("kubectl get pods%s -l %s -o wide  # delete the misscheduled pods, or fix the nodeSelector/tolerations", nsFlag(ns), labelsString(ds.Spec.Selector.MatchLabels))},
			})
		}
		a.daemonSetTaints(ds, ref)
	}
}

// daemonSetTaints lists the nodes that match the DaemonSet's nodeSelector but carry a
// NoSchedule/NoExecute taint its pods do not tolerate.
func (a *analysis) daemonSetTaints(ds *appsv1.DaemonSet, ref ObjectRef) {
	if !a.s.has("nodes") {
		return
	}
	spec := &ds.Spec.Template.Spec
	sel := labels.SelectorFromSet(spec.NodeSelector)
	var skipped []string
	var taints []corev1.Taint
	for i := range a.s.nodes {
		n := &a.s.nodes[i]
		if !sel.Matches(labels.Set(n.Labels)) {
			continue
		}
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectPreferNoSchedule || strings.HasPrefix(t.Key, "node.kubernetes.io/") {
				continue // the DaemonSet controller tolerates the node-condition taints itself
			}
			if !tolerated(spec.Tolerations, t) {
				skipped = append(skipped, fmt.Sprintf("%s (%s)", n.Name, taintString(t)))
				taints = appendTaint(taints, t)
				break
			}
		}
	}
	if len(skipped) == 0 {
		return
	}
	sort.Strings(skipped)
	ns := ds.Namespace
	var tol []string
	for _, t := range taints {
		tol = append(tol, fmt.Sprintf(`{"key":%q,"operator":"Exists","effect":%q}`, t.Key, t.Effect))
	}
	patch := fmt.Sprintf(`kubectl patch daemonset %s%s --type=json -p '[{"op":"add","path":"/spec/template/spec/tolerations","value":[%s]}]'`, ds.Name, nsFlag(ns), strings.Join(tol, ","))
	if len(spec.Tolerations) > 0 {
		ops := make([]string, 0, len(tol))
		for _, t := range tol {
			ops = append(ops, `{"op":"add","path":"/spec/template/spec/tolerations/-","value":`+t+`}`)
		}
		patch = fmt.Sprintf(`kubectl patch daemonset %s%s --type=json -p '[%s]'`, ds.Name, nsFlag(ns), strings.Join(ops, ","))
	}
	a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryDaemonSetTaint, Object: ref,
		Cause:   fmt.Sprintf("daemonset %s does not run on %d tainted node(s): it does not tolerate their taints", ds.Name, len(skipped)),
		Details: capList(skipped),
		Fix:     []string{patch + "  # if the agent must run there"},
	})
}

func tolerated(tols []corev1.Toleration, t corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), &t, true) {
			return true
		}
	}
	return false
}

func appendTaint(ts []corev1.Taint, t corev1.Taint) []corev1.Taint {
	for _, x := range ts {
		if x.Key == t.Key && x.Effect == t.Effect {
			return ts
		}
	}
	return append(ts, t)
}

func daemonSetStatusLine(ds *appsv1.DaemonSet) string {
	st := ds.Status
	return fmt.Sprintf("desired %d, scheduled %d, ready %d, available %d, unavailable %d, misscheduled %d",
		st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberReady, st.NumberAvailable, st.NumberUnavailable, st.NumberMisscheduled)
}
