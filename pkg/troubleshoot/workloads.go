package troubleshoot

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// workloadRules: Deployments stuck (ProgressDeadlineExceeded), ReplicaSets that cannot
// create pods (FailedCreate, ResourceQuota exceeded), and PDBs that block every drain.
func (a *analysis) workloadRules() {
	for i := range a.s.deployments {
		d := &a.s.deployments[i]
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				a.add(Finding{
					Severity: SeverityError, Confidence: ConfidenceHigh, Category: CategoryDeploymentStuck,
					Object: ObjectRef{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name},
					Cause: fmt.Sprintf("deployment %s exceeded its progress deadline (%ds): %d of %d replicas updated, %d available",
						d.Name, progressDeadline(d), d.Status.UpdatedReplicas, replicas(d.Spec.Replicas), d.Status.AvailableReplicas),
					Details: []string{oneLine(c.Message), "the pod findings of this deployment name the cause"},
					Evidence: Evidence{
						Status: []string{fmt.Sprintf("Progressing=False ProgressDeadlineExceeded since %s", c.LastTransitionTime.UTC().Format(timeFormat))},
						Events: a.events("Deployment", d.Namespace, d.Name),
					},
					Fix: []string{
						fmt.Sprintf("kubectl rollout undo deployment/%s%s  # back to the last working ReplicaSet", d.Name, nsFlag(d.Namespace)),
						"or fix the cause named by the pod findings and let the rollout continue",
					},
					revert: a.revertFix(d.Namespace, d.Name),
				})
			}
		}
	}
	for i := range a.s.replicaSets {
		a.replicaSetFailure(&a.s.replicaSets[i])
	}
	a.pdbRules()
}

var quotaMsg = regexp.MustCompile(`exceeded quota: ([^,]+), requested: (.+?), used: (.+?), limited: (.+)$`)

// replicaSetFailure reports a ReplicaSet that cannot create its pods: its ReplicaFailure
// condition (current), else a recent FailedCreate event while it is short of replicas.
func (a *analysis) replicaSetFailure(rs *appsv1.ReplicaSet) {
	want := replicas(rs.Spec.Replicas)
	if want == 0 || rs.Status.Replicas >= want {
		return
	}
	msg := ""
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			msg = c.Message
		}
	}
	evs := a.events("ReplicaSet", rs.Namespace, rs.Name)
	if msg == "" {
		for _, e := range evs {
			if e.Reason == "FailedCreate" && e.LastSeen.After(a.now.Add(-time.Hour)) {
				msg = e.Message
				break
			}
		}
	}
	if msg == "" {
		return
	}
	obj := ObjectRef{Kind: "ReplicaSet", Namespace: rs.Namespace, Name: rs.Name}
	if d := metav1.GetControllerOf(rs); d != nil && d.Kind == "Deployment" {
		obj = ObjectRef{Kind: "Deployment", Namespace: rs.Namespace, Name: d.Name}
	}
	fd := Finding{
		Severity: SeverityError, Confidence: ConfidenceHigh, Category: CategoryFailedCreate, Object: obj,
		Cause:    fmt.Sprintf("replicaset %s cannot create pods (%d of %d exist): %s", rs.Name, rs.Status.Replicas, want, oneLine(msg)),
		Evidence: Evidence{Events: evs, Status: []string{fmt.Sprintf("replicaset %s: %d/%d replicas", rs.Name, rs.Status.Replicas, want)}},
	}
	if obj.Kind == "Deployment" {
		fd.Evidence.Events = append(fd.Evidence.Events, a.events("Deployment", obj.Namespace, obj.Name)...)
	}
	if m := quotaMsg.FindStringSubmatch(oneLine(msg)); m != nil {
		fd.Category = CategoryQuotaExceeded
		q := strings.TrimSpace(m[1])
		fd.Cause = fmt.Sprintf("replicaset %s cannot create pods: ResourceQuota %s exceeded (%d of %d pods exist)", rs.Name, q, rs.Status.Replicas, want)
		fd.Details = append(fd.Details, fmt.Sprintf("a new pod requests %s; the namespace already uses %s of the limit %s", m[2], m[3], m[4]))
		exhausted, fix := quotaFix(q, rs.Namespace, obj, m[2], m[3], m[4])
		if len(exhausted) > 0 {
			fd.Cause = fmt.Sprintf("replicaset %s cannot create pods: ResourceQuota %s exhausted on %s (%d of %d pods exist)", rs.Name, q, strings.Join(exhaustedNames(exhausted), ", "), rs.Status.Replicas, want)
			fd.Details = append(fd.Details, exhausted...)
		}
		for j := range a.s.quotas {
			rq := &a.s.quotas[j]
			if rq.Namespace == rs.Namespace && rq.Name == q {
				for _, rn := range sortedResourceNames(rq.Status.Hard) {
					used := rq.Status.Used[rn]
					hard := rq.Status.Hard[rn]
					fd.Details = append(fd.Details, fmt.Sprintf("quota %s: %s used %s of %s", q, rn, used.String(), hard.String()))
				}
			}
		}
		fd.Fix = fix
	} else {
		fd.Fix = []string{fmt.Sprintf("kubectl describe replicaset %s%s  # the message above is the API server's refusal (admission, PodSecurity, quota)", rs.Name, nsFlag(rs.Namespace))}
	}
	a.add(fd)
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func progressDeadline(d *appsv1.Deployment) int32 {
	if d.Spec.ProgressDeadlineSeconds == nil {
		return 600
	}
	return *d.Spec.ProgressDeadlineSeconds
}

// pdbRules reports PDBs that allow no disruption although their pods are healthy: the
// budget itself (minAvailable = replicas, maxUnavailable 0) blocks every drain.
func (a *analysis) pdbRules() {
	for i := range a.s.pdbs {
		pdb := &a.s.pdbs[i]
		st := pdb.Status
		if st.ExpectedPods == 0 || st.DisruptionsAllowed > 0 || st.CurrentHealthy < st.DesiredHealthy {
			continue
		}
		a.add(Finding{
			Severity: SeverityWarning, Confidence: ConfidenceHigh, Category: CategoryPDBBlocking,
			Object: ObjectRef{Kind: "PodDisruptionBudget", Namespace: pdb.Namespace, Name: pdb.Name},
			Cause: fmt.Sprintf("poddisruptionbudget %s allows 0 disruptions with all %d pods healthy: every node drain will block on these pods",
				pdb.Name, st.CurrentHealthy),
			Details: []string{fmt.Sprintf("expected pods %d, desired healthy %d, current healthy %d", st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy)},
			Fix:     []string{fmt.Sprintf("set minAvailable below the replica count (or maxUnavailable ≥ 1): kubectl edit pdb %s%s", pdb.Name, nsFlag(pdb.Namespace))},
		})
	}
}

// nodeRules reports nodes NotReady or under memory/disk/PID pressure that run pods of the
// scope (every such node with -A or for a node scope), with the pods affected.
func (a *analysis) nodeRules() {
	podsOn := map[string][]string{}
	for i := range a.s.pods {
		r := &a.s.pods[i]
		if node, ph := r.nodeName(), r.phase(); node != "" && ph != corev1.PodSucceeded && ph != corev1.PodFailed {
			podsOn[node] = append(podsOn[node], key(r.namespace(), r.name()))
		}
	}
	for i := range a.s.nodes {
		n := &a.s.nodes[i]
		pods := podsOn[n.Name]
		if a.s.namespace != "" && len(pods) == 0 {
			continue
		}
		sort.Strings(pods)
		ref := ObjectRef{Kind: "Node", Name: n.Name}
		for _, c := range n.Status.Conditions {
			var fd *Finding
			switch {
			case c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue:
				fd = &Finding{Severity: SeverityError, Category: CategoryNodeNotReady,
					Cause: fmt.Sprintf("node %s is NotReady (Ready=%s %s since %s): its %d pod(s) are not being run or reported", n.Name, c.Status, c.Reason, term.Age(a.now, c.LastTransitionTime.Time), len(pods)),
					Fix: []string{
						fmt.Sprintf("kubectl describe node %s  # check the kubelet on the node", n.Name),
						fmt.Sprintf("kubectl feastflow maintenance drain %s --ignore-daemonsets  # move the pods away if it does not come back", n.Name),
					}}
			case (c.Type == corev1.NodeMemoryPressure || c.Type == corev1.NodeDiskPressure || c.Type == corev1.NodePIDPressure) && c.Status == corev1.ConditionTrue:
				fd = &Finding{Severity: SeverityWarning, Category: CategoryNodePressure,
					Cause: fmt.Sprintf("node %s has %s: the kubelet evicts pods and the scheduler avoids the node (%d pod(s) on it)", n.Name, c.Type, len(pods)),
					Fix:   []string{fmt.Sprintf("kubectl describe node %s  # free %s or move pods: kubectl feastflow maintenance drain %s", n.Name, pressureWhat(c.Type), n.Name)}}
			}
			if fd == nil {
				continue
			}
			fd.Confidence, fd.Object = ConfidenceHigh, ref
			fd.Pods = nil
			fd.Details = append(fd.Details, oneLine(c.Message))
			for j, p := range pods {
				if j == maxDetailLines {
					fd.Details = append(fd.Details, fmt.Sprintf("… and %d more pods", len(pods)-j))
					break
				}
				fd.Details = append(fd.Details, "pod affected: "+p)
			}
			fd.Evidence = Evidence{Status: nodeConditionLines(n), Events: a.events("Node", "", n.Name)}
			a.add(*fd)
		}
	}
}

func pressureWhat(t corev1.NodeConditionType) string {
	switch t {
	case corev1.NodeMemoryPressure:
		return "memory"
	case corev1.NodeDiskPressure:
		return "disk"
	}
	return "process IDs"
}

func nodeConditionLines(n *corev1.Node) []string {
	var out []string
	for _, c := range n.Status.Conditions {
		out = append(out, fmt.Sprintf("node %s condition %s=%s %s", n.Name, c.Type, c.Status, c.Reason))
	}
	if n.Spec.Unschedulable {
		out = append(out, fmt.Sprintf("node %s is cordoned", n.Name))
	}
	return out
}

// staleConfigRules finds running pods that read a ConfigMap or Secret once at start (env,
// envFrom, subPath) and still run its old values. The identity the plugin recorded on the
// pod's template (ConfigVersionsAnnotation: the objects' resourceVersions at its last
// deploy or restart) decides when present: a version changed since, and no data write
// older than the pod's start, means stale. Without a record, the change time from
// managedFields (the latest write of data keys, never the data itself) is compared with
// the pod's start, with staleTolerance for the usual "apply all" order.
func (a *analysis) staleConfigRules(group bool) {
	type staleGroup struct {
		owner    ObjectRef
		ref      ConfigRef
		pods     []string
		start    metav1.Time
		when     time.Time
		recorded string // the version recorded on the template ("" when judged by time)
		current  string
	}
	groups := map[string]*staleGroup{}
	for i := range a.s.pods {
		if r := &a.s.pods[i]; r.phase() != corev1.PodRunning || r.deleting() {
			continue
		}
		p := a.s.pods[i].pod()
		started := podStarted(p)
		if started.IsZero() {
			continue
		}
		record, hasRecord := ParseConfigVersions(p.Annotations[ConfigVersionsAnnotation])
		for _, r := range PodConfigRefs(&p.Spec) {
			if !r.Static {
				continue
			}
			obj, found, known := a.config.lookup(p.Namespace, r)
			if !known || !found {
				continue
			}
			rec, recorded := record[r.Kind+"/"+r.Name]
			recorded = recorded && hasRecord
			switch {
			case recorded && rec == obj.version:
				continue // the pod's template was written for this very version
			case recorded && !obj.dataChange.IsZero() && started.After(obj.dataChange.Add(staleTolerance)):
				continue // changed after the record, but before this pod started: it read the new data
			case !recorded && (obj.dataChange.IsZero() || !obj.dataChange.After(started.Add(staleTolerance))):
				continue
			}
			owner := ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
			if group {
				owner = a.owner(p)
			}
			k := owner.String() + "|" + owner.Namespace + "|" + r.Kind + "/" + r.Name
			g := groups[k]
			if g == nil {
				g = &staleGroup{owner: owner, ref: ConfigRef{Kind: r.Kind, Name: r.Name, Via: r.Via, Container: r.Container}, start: started, when: obj.dataChange, current: obj.version}
				if recorded {
					g.recorded = rec
				}
				groups[k] = g
			}
			if !contains(g.pods, p.Name) {
				g.pods = append(g.pods, p.Name)
			}
			if started.Before(&g.start) {
				g.start = started
			}
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		sort.Strings(g.pods)
		restart := fmt.Sprintf("kubectl rollout restart %s%s", g.owner, nsFlag(g.owner.Namespace))
		if g.owner.Kind == "Pod" {
			restart = fmt.Sprintf("kubectl delete pod %s%s  # if a controller recreates it", g.owner.Name, nsFlag(g.owner.Namespace))
		}
		f := Finding{
			Severity: SeverityWarning, Confidence: ConfidenceMedium, Category: CategoryStaleConfig, Object: g.owner, Pods: g.pods,
			Fix: append([]string{restart}, a.restartChangedFix(g.owner)...),
		}
		changed := "changed"
		if !g.when.IsZero() {
			changed = fmt.Sprintf("changed (%s ago; pods started %s ago)", term.Age(a.now, g.when), term.Age(a.now, g.start.Time))
		}
		if g.recorded != "" {
			f.Confidence = ConfidenceHigh
			f.Cause = fmt.Sprintf("%d pod(s) run a template recorded for %s %s at resourceVersion %s; it is at %s now, %s, and they read it via %s: they run the old values",
				len(g.pods), g.ref.Kind, g.ref.Name, g.recorded, g.current, changed, g.ref.Via)
			f.Details = []string{fmt.Sprintf("recorded identity (%s on the pod template) %s/%s=%s, current %s", ConfigVersionsAnnotation, strings.ToLower(g.ref.Kind), g.ref.Name, g.recorded, g.current)}
		} else {
			f.Cause = fmt.Sprintf("%d pod(s) started before %s %s %s and read it via %s: they run the old values",
				len(g.pods), g.ref.Kind, g.ref.Name, changed, g.ref.Via)
			f.Details = []string{fmt.Sprintf("%s %s data last written %s (managedFields); oldest pod started %s; no recorded config versions on the template, so judged by time with a %s tolerance",
				g.ref.Kind, g.ref.Name, g.when.UTC().Format(timeFormat), g.start.UTC().Format(timeFormat), staleTolerance)}
		}
		a.add(f)
	}
}

// staleTolerance: without a recorded identity, a data write within this long after a
// pod's start is taken for the usual "apply all" order, not a change the pod missed
// (managedFields and start times have one-second resolution).
const staleTolerance = time.Second

// ConfigVersionsAnnotation on a pod template records the resourceVersions of the
// ConfigMaps and Secrets it references, as of the plugin's last deploy or restart
// ("configmap/app-config=4711,secret/db=4712"); the pods carry it too.
const ConfigVersionsAnnotation = "feastflow.dev/config-versions"

// ParseConfigVersions reads a ConfigVersionsAnnotation value into "Kind/name" →
// resourceVersion; ok is false when there is none.
func ParseConfigVersions(s string) (map[string]string, bool) {
	if strings.TrimSpace(s) == "" {
		return nil, false
	}
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		ref, version, found := strings.Cut(strings.TrimSpace(part), "=")
		kind, name, slash := strings.Cut(ref, "/")
		if !found || !slash {
			continue
		}
		switch kind {
		case "configmap":
			out["ConfigMap/"+name] = version
		case "secret":
			out["Secret/"+name] = version
		}
	}
	return out, true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// pvcRules reports Pending claims no pod is waiting for (the pods' findings cover the rest).
func (a *analysis) pvcRules() {
	used := map[string]bool{}
	for i := range a.s.pods {
		vols := a.s.pods[i].volumes()
		for ix := range vols {
			if v := &vols[ix]; v.PersistentVolumeClaim != nil {
				used[key(a.s.pods[i].namespace(), v.PersistentVolumeClaim.ClaimName)] = true
			}
		}
	}
	for i := range a.s.pvcs {
		pvc := &a.s.pvcs[i]
		if pvc.Status.Phase != corev1.ClaimPending || used[key(pvc.Namespace, pvc.Name)] {
			continue
		}
		problem, fix := a.pvcProblem(pvc.Namespace, pvc.Name)
		if problem == "" || strings.Contains(problem, "WaitForFirstConsumer") {
			continue
		}
		a.add(Finding{
			Severity: SeverityWarning, Confidence: ConfidenceHigh, Category: CategoryUnboundPVC,
			Object:   ObjectRef{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name},
			Cause:    problem,
			Evidence: Evidence{Events: a.events("PersistentVolumeClaim", pvc.Namespace, pvc.Name)},
			Fix:      fix,
		})
	}
}

func exhaustedNames(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, name)
	}
	return out
}

// restartChangedFix is `kubectl feastflow restart COMPONENT --changed-config` for a
// Deployment behind a component (restart acts on components: a Service and its
// Deployments), or nothing when no Service reaches it.
func (a *analysis) restartChangedFix(owner ObjectRef) []string {
	if owner.Kind != "Deployment" {
		return nil
	}
	for i := range a.s.services {
		svc := &a.s.services[i]
		if svc.Namespace != owner.Namespace {
			continue
		}
		for _, d := range ReachableDeployments(svc, a.s.deployments) {
			if d.Name == owner.Name {
				return []string{fmt.Sprintf("or: kubectl feastflow restart %s --changed-config%s  # every Deployment of component %s whose pods run stale config", svc.Name, nsFlag(owner.Namespace), svc.Name)}
			}
		}
	}
	return nil
}
