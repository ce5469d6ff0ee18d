package troubleshoot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// revertFix is `kubectl rollout undo` when the Deployment's previous ReplicaSet is healthy
// (all its replicas available, it still serves, or it did until the rollout replaced it
// with no failure of its own): going back is the fastest way out of a bad release.
func (a *analysis) revertFix(ns, name string) []string {
	d := a.deployByKey[key(ns, name)]
	if d == nil {
		return nil
	}
	cur, prev := a.revisions(d)
	if cur == nil || prev == nil {
		return nil
	}
	want := replicas(prev.Spec.Replicas)
	healthy := want > 0 && prev.Status.AvailableReplicas >= want
	if !healthy {
		return nil
	}
	return []string{fmt.Sprintf("kubectl rollout undo deployment/%s%s  # back to revision %s (replicaset %s, %d/%d available, image %s)",
		d.Name, nsFlag(ns), prev.Annotations[revisionAnnotation], prev.Name, prev.Status.AvailableReplicas, want, templateImages(&prev.Spec.Template.Spec))}
}

// revisions returns the Deployment's current ReplicaSet (highest revision) and the one
// before it.
func (a *analysis) revisions(d *appsv1.Deployment) (cur, prev *appsv1.ReplicaSet) {
	var rss []*appsv1.ReplicaSet
	for i := range a.s.replicaSets {
		rs := &a.s.replicaSets[i]
		if c := metav1.GetControllerOf(rs); c != nil && c.Kind == "Deployment" && c.Name == d.Name && rs.Namespace == d.Namespace {
			rss = append(rss, rs)
		}
	}
	rev := func(rs *appsv1.ReplicaSet) int64 {
		n, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		return n
	}
	sort.Slice(rss, func(i, j int) bool { return rev(rss[i]) > rev(rss[j]) })
	if len(rss) < 2 {
		return nil, nil
	}
	return rss[0], rss[1]
}

func templateImages(spec *corev1.PodSpec) string {
	var out []string
	for ix := range spec.Containers {
		out = append(out, spec.Containers[ix].Image)
	}
	return strings.Join(out, ",")
}

// neededKeys lists every key of one ConfigMap/Secret the pod references (env keys and
// volume items), sorted.
func neededKeys(spec *corev1.PodSpec, kind, name string) []string {
	var keys []string
	for _, r := range PodConfigRefs(spec) {
		if r.Kind == kind && r.Name == name && r.Key != "" && !contains(keys, r.Key) {
			keys = append(keys, r.Key)
		}
	}
	sort.Strings(keys)
	return keys
}

// nearKey is the existing key closest to a missing one: the same once '-', '_' and '.'
// and case are ignored, or one or two edits away.
func nearKey(missing string, have map[string]bool) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", ".", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for k := range have {
		d := EditDistance(missing, k)
		if norm(k) == norm(missing) {
			d = 0
		}
		if d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if bestD > 2 || bestD >= len(missing) {
		return ""
	}
	return best
}

// envRefPatch is the JSON patch that points one env reference of a workload's pod template
// at another key, or "" when the reference is not an env var of an app container.
func envRefPatch(spec *corev1.PodSpec, r ConfigRef, newKey string) string {
	envName, ok := strings.CutPrefix(r.Via, "env ")
	if !ok {
		return ""
	}
	field := "configMapKeyRef"
	if r.Kind == "Secret" {
		field = "secretKeyRef"
	}
	for ci := range spec.Containers {
		c := &spec.Containers[ci]
		if c.Name != r.Container {
			continue
		}
		for ei, e := range c.Env {
			if e.Name == envName && e.ValueFrom != nil {
				return fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/%d/env/%d/valueFrom/%s/key","value":%q}]`, ci, ei, field, newKey)
			}
		}
	}
	return ""
}

// quotaFix names the exhausted resources of a refused pod creation (the ones whose use plus
// the request exceeds the limit) and the fix that fits them: a pod-count quota is raised or
// other pods are removed; a cpu/memory quota can also be met with smaller requests.
func quotaFix(q, ns string, obj ObjectRef, requested, used, limited string) (exhausted []string, fix []string) {
	req, use, lim := parseQuantities(requested), parseQuantities(used), parseQuantities(limited)
	hard := map[string]string{}
	var names []string
	for _, rn := range keysOf(lim) {
		r, okR := req[rn]
		u := use[rn]
		l := lim[rn]
		if !okR {
			continue
		}
		sum := u.DeepCopy()
		sum.Add(r)
		if sum.Cmp(l) > 0 {
			names = append(names, rn)
			exhausted = append(exhausted, fmt.Sprintf("%s: used %s + requested %s > limit %s", rn, u.String(), r.String(), l.String()))
			hard[rn] = sum.String()
		}
	}
	if len(names) == 0 {
		return nil, []string{fmt.Sprintf("kubectl describe resourcequota %s%s", q, nsFlag(ns))}
	}
	countOnly := true
	for _, n := range names {
		if n != "pods" && !strings.HasPrefix(n, "count/") {
			countOnly = false
		}
	}
	fix = append(fix, fmt.Sprintf(`kubectl patch resourcequota %s%s --type=merge -p '{"spec":{"hard":%s}}'  # raise %s to fit this pod`, q, nsFlag(ns), jsonMap(hard, hard), strings.Join(names, ", ")))
	if countOnly {
		fix = append(fix, fmt.Sprintf("or free %s: kubectl get pods%s  # delete finished or unneeded pods, or scale down another workload", strings.Join(names, ", "), nsFlag(ns)))
	} else {
		var set []string
		for _, n := range names {
			if r, ok := strings.CutPrefix(n, "requests."); ok {
				set = append(set, r+"=<smaller>")
			}
		}
		if len(set) > 0 {
			fix = append(fix, fmt.Sprintf("or lower the requests: kubectl set resources %s%s --requests=%s", obj, nsFlag(ns), strings.Join(set, ",")))
		}
	}
	return exhausted, fix
}

// parseQuantities reads the API server's "pods=1,requests.cpu=500m" lists.
func parseQuantities(s string) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		if q, err := resource.ParseQuantity(strings.TrimSpace(v)); err == nil {
			out[k] = q
		}
	}
	return out
}

// keysOf returns a map's keys, sorted.
func keysOf[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
