package troubleshoot

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/podutils"
)

// Categories of the StatefulSet analyzer.
const (
	CategoryStatefulSetNotReady Category = "StatefulSetNotReady"
	CategoryStatefulSetStuck    Category = "StatefulSetRolloutStuck"
	CategoryStatefulSetPVC      Category = "StatefulSetClaimPending"
)

// statefulSetRules: not all replicas ready (folded into its pods' finding when one names the
// cause), a rollout held by a partition or stuck behind a not-ready ordinal (OrderedReady
// updates go one ordinal at a time, highest first, and wait for each), and claims of its
// volumeClaimTemplates that stay Pending.
func (a *analysis) statefulSetRules() {
	for i := range a.s.statefulSets {
		ss := &a.s.statefulSets[i]
		ns := ss.Namespace
		ref := ObjectRef{Kind: "StatefulSet", Namespace: ns, Name: ss.Name}
		want := replicas(ss.Spec.Replicas)
		pods := a.ownedPods("StatefulSet", ns, ss.Name)
		a.statefulSetClaims(ss, ref, want)
		if ss.Status.ReadyReplicas < want {
			var notReady []string
			for _, p := range pods {
				if !podutils.IsPodReady(p) {
					notReady = append(notReady, p.Name)
				}
			}
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactDegraded, Category: CategoryStatefulSetNotReady, Object: ref, Pods: notReady,
				Cause:     fmt.Sprintf("statefulset %s has %d of %d replicas ready", ss.Name, ss.Status.ReadyReplicas, want),
				Evidence:  Evidence{Status: []string{statefulSetStatusLine(ss)}, Events: a.events("StatefulSet", ns, ss.Name)},
				Fix:       []string{fmt.Sprintf("kubectl feastflow diagnose sts/%s%s", ss.Name, nsFlag(ns))},
				symptomOf: []ObjectRef{ref},
				symptom:   fmt.Sprintf("affects statefulset %s: %d of %d replicas ready", ss.Name, ss.Status.ReadyReplicas, want),
			})
		}
		if ss.Status.UpdateRevision == "" || ss.Status.CurrentRevision == ss.Status.UpdateRevision || ss.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			continue
		}
		partition := int32(0)
		if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = *ru.Partition
		}
		toUpdate := want - partition
		switch {
		case partition > 0 && ss.Status.UpdatedReplicas >= toUpdate:
			a.add(Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryStatefulSetStuck, Object: ref,
				Cause:    fmt.Sprintf("statefulset %s rollout is held by partition %d: %d of %d pods run revision %s, ordinals below %d stay on %s", ss.Name, partition, ss.Status.UpdatedReplicas, want, ss.Status.UpdateRevision, partition, ss.Status.CurrentRevision),
				Evidence: Evidence{Status: []string{statefulSetStatusLine(ss)}},
				Fix: []string{
					fmt.Sprintf(`kubectl patch statefulset %s%s --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}'  # finish the rollout`, ss.Name, nsFlag(ns)),
					fmt.Sprintf("kubectl rollout undo statefulset/%s%s  # or go back", ss.Name, nsFlag(ns)),
				},
			})
		case ss.Status.UpdatedReplicas < toUpdate:
			blocker := ""
			for _, p := range pods {
				if !podutils.IsPodReady(p) && (blocker == "" || p.Name > blocker) {
					blocker = p.Name
				}
			}
			if blocker == "" {
				continue
			}
			a.add(Finding{Severity: SeverityError, Confidence: ConfidenceHigh, Impact: ImpactDegraded, Category: CategoryStatefulSetStuck, Object: ref, Pods: []string{blocker},
				Cause:    fmt.Sprintf("statefulset %s rollout is stuck at pod %s: it is not ready, and the update waits for each ordinal (%d of %d updated)", ss.Name, blocker, ss.Status.UpdatedReplicas, toUpdate),
				Evidence: Evidence{Status: []string{statefulSetStatusLine(ss)}, Events: a.events("StatefulSet", ns, ss.Name)},
				Fix: []string{
					fmt.Sprintf("kubectl rollout undo statefulset/%s%s  # then delete the stuck pod so it is recreated at the old revision: kubectl delete pod %s%s", ss.Name, nsFlag(ns), blocker, nsFlag(ns)),
					fmt.Sprintf("kubectl feastflow diagnose pod/%s%s  # why it is not ready", blocker, nsFlag(ns)),
				},
				symptomOf: []ObjectRef{ref},
				symptom:   fmt.Sprintf("blocks the rollout of statefulset %s at pod %s (%d of %d updated): kubectl rollout undo statefulset/%s%s", ss.Name, blocker, ss.Status.UpdatedReplicas, toUpdate, ss.Name, nsFlag(ns)),
			})
		}
	}
}

// statefulSetClaims reports Pending claims of the volumeClaimTemplates (name-sts-ordinal); a
// pod finding of the same pod gets the claim's cause instead of a second finding.
func (a *analysis) statefulSetClaims(ss *appsv1.StatefulSet, ref ObjectRef, want int32) {
	if !a.s.has("persistentvolumeclaims") {
		return
	}
	ns := ss.Namespace
	for _, t := range ss.Spec.VolumeClaimTemplates {
		for ord := int32(0); ord < want; ord++ {
			claim := fmt.Sprintf("%s-%s-%d", t.Name, ss.Name, ord)
			var pvc *corev1.PersistentVolumeClaim
			for j := range a.s.pvcs {
				if c := &a.s.pvcs[j]; c.Namespace == ns && c.Name == claim {
					pvc = c
				}
			}
			if pvc == nil || pvc.Status.Phase != corev1.ClaimPending {
				continue
			}
			problem, fix := a.pvcProblem(ns, claim)
			if problem == "" {
				problem = fmt.Sprintf("claim %s is Pending", claim)
			}
			pod := fmt.Sprintf("%s-%d", ss.Name, ord)
			line := fmt.Sprintf("volumeClaimTemplate %s: claim %s is Pending: %s", t.Name, claim, problem)
			if a.appendToPodFinding(ns, pod, line, fix) {
				continue
			}
			a.add(Finding{Severity: SeverityError, Confidence: ConfidenceHigh, Impact: ImpactDegraded, Category: CategoryStatefulSetPVC, Object: ref, Pods: []string{pod},
				Cause:    fmt.Sprintf("statefulset %s: pod %s waits for %s", ss.Name, pod, line),
				Evidence: Evidence{Events: a.events("PersistentVolumeClaim", ns, claim)},
				Fix:      fix,
			})
		}
	}
}

// appendToPodFinding adds a cause line to the finding that already covers a pod.
func (a *analysis) appendToPodFinding(ns, pod, line string, fix []string) bool {
	for i := range a.findings {
		f := &a.findings[i]
		if f.Object.Namespace == ns && f.Failure != nil && contains(f.Pods, pod) {
			if !contains(f.Details, line) {
				f.Details = append(f.Details, line)
				f.Fix = append(append([]string{}, fix...), f.Fix...)
			}
			return true
		}
	}
	return false
}

func (a *analysis) ownedPods(kind, ns, name string) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range a.s.pods {
		r := &a.s.pods[i]
		if c := r.controller(); c != nil && c.Kind == kind && c.Name == name && r.namespace() == ns {
			out = append(out, a.s.pods[i].pod())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func statefulSetStatusLine(ss *appsv1.StatefulSet) string {
	return fmt.Sprintf("replicas %d, ready %d, updated %d, current revision %s, update revision %s",
		replicas(ss.Spec.Replicas), ss.Status.ReadyReplicas, ss.Status.UpdatedReplicas, orDefault(ss.Status.CurrentRevision, "-"), orDefault(ss.Status.UpdateRevision, "-"))
}
