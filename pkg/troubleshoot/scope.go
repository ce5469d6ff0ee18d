package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The scopes of diagnose beyond the first five: every kind `diagnose TYPE` accepts.
const (
	ScopeStatefulSet ScopeKind = "statefulset"
	ScopeDaemonSet   ScopeKind = "daemonset"
	ScopeJob         ScopeKind = "job"
	ScopeCronJob     ScopeKind = "cronjob"
	ScopeIngress     ScopeKind = "ingress"
	ScopeHPA         ScopeKind = "horizontalpodautoscaler"
	ScopePDB         ScopeKind = "poddisruptionbudget"
	ScopePVC         ScopeKind = "persistentvolumeclaim"
)

// scopeKind describes one TYPE of the grammar: kubectl's names for it, the Kind of its
// objects and the LIST (snapshot kind) that reads them.
type scopeKind struct {
	kind    ScopeKind
	names   []string // singular, plural, short names, as kubectl accepts them
	objKind string
	list    string
}

var scopeKinds = []scopeKind{
	{ScopePod, []string{"pod", "pods", "po"}, "Pod", "pods"},
	{ScopeDeployment, []string{"deployment", "deployments", "deploy", "deployment.apps", "deployments.apps"}, "Deployment", "deployments"},
	{ScopeService, []string{"service", "services", "svc"}, "Service", "services"},
	{ScopeNode, []string{"node", "nodes", "no"}, "Node", "nodes"},
	{ScopeStatefulSet, []string{"statefulset", "statefulsets", "sts", "statefulset.apps", "statefulsets.apps"}, "StatefulSet", "statefulsets"},
	{ScopeDaemonSet, []string{"daemonset", "daemonsets", "ds", "daemonset.apps", "daemonsets.apps"}, "DaemonSet", "daemonsets"},
	{ScopeJob, []string{"job", "jobs", "job.batch", "jobs.batch"}, "Job", "jobs"},
	{ScopeCronJob, []string{"cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch"}, "CronJob", "cronjobs"},
	{ScopeIngress, []string{"ingress", "ingresses", "ing", "ingress.networking.k8s.io", "ingresses.networking.k8s.io"}, "Ingress", "ingresses"},
	{ScopeHPA, []string{"horizontalpodautoscaler", "horizontalpodautoscalers", "hpa", "horizontalpodautoscaler.autoscaling", "horizontalpodautoscalers.autoscaling"}, "HorizontalPodAutoscaler", "horizontalpodautoscalers"},
	{ScopePDB, []string{"poddisruptionbudget", "poddisruptionbudgets", "pdb", "poddisruptionbudget.policy", "poddisruptionbudgets.policy"}, "PodDisruptionBudget", "poddisruptionbudgets"},
	{ScopePVC, []string{"persistentvolumeclaim", "persistentvolumeclaims", "pvc"}, "PersistentVolumeClaim", "persistentvolumeclaims"},
}

func scopeKindOf(k ScopeKind) *scopeKind {
	for i := range scopeKinds {
		if scopeKinds[i].kind == k {
			return &scopeKinds[i]
		}
	}
	return nil
}

// KindResource is the API resource of a TYPE and whether it is namespaced.
func KindResource(k ScopeKind) (schema.GroupVersionResource, bool) {
	switch k {
	case ScopeNode:
		return schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, false
	case ScopeDeployment, ScopeStatefulSet, ScopeDaemonSet:
		return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: scopeKindOf(k).list}, true
	case ScopeJob, ScopeCronJob:
		return schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: scopeKindOf(k).list}, true
	case ScopeIngress:
		return schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, true
	case ScopeHPA:
		return schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, true
	case ScopePDB:
		return schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}, true
	case ScopeComponent:
		return schema.GroupVersionResource{Version: "v1", Resource: "services"}, true
	}
	if sk := scopeKindOf(k); sk != nil {
		return schema.GroupVersionResource{Version: "v1", Resource: sk.list}, true
	}
	return schema.GroupVersionResource{}, false
}

// ParseKind reads a TYPE as kubectl does (singular, plural, short name, optionally with its
// API group, any case). ok is false for a name diagnose does not know.
func ParseKind(s string) (ScopeKind, bool) {
	s = strings.ToLower(s)
	for i := range scopeKinds {
		for _, n := range scopeKinds[i].names {
			if n == s {
				return scopeKinds[i].kind, true
			}
		}
	}
	return "", false
}

// KindNames are the TYPE names diagnose accepts, short names first, for help and completion.
func KindNames() []string {
	return []string{"pod", "deploy", "svc", "node", "sts", "ds", "job", "cronjob", "ing", "hpa", "pdb", "pvc"}
}

// SuggestKind returns the TYPE name closest to a misspelt one (by edit distance over every
// name kubectl accepts), or "" when nothing is close.
func SuggestKind(s string) string {
	s = strings.ToLower(s)
	best, bestD := "", 3
	switch {
	case len(s) <= 2:
		return "" // cm, rs, sa: other kinds, not typos
	case len(s) <= 3:
		bestD = 2
	}
	for i := range scopeKinds {
		for _, n := range scopeKinds[i].names {
			if strings.Contains(n, ".") {
				continue
			}
			if d := EditDistance(s, n); d < bestD || (d == bestD && best != "" && len(n) < len(best)) {
				best, bestD = scopeKinds[i].names[0], d
			}
		}
	}
	return best
}

// EditDistance is the optimal-string-alignment distance between two strings: insertions,
// deletions, substitutions and transpositions of neighbours (paymnet → payment) cost 1.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// LooksLikeKind reports whether a bare argument is a TYPE misspelt by one edit (deplyo,
// sevrice, pdos): long enough and without digits, so that component names such as web or
// api-v2 are never mistaken for one.
func LooksLikeKind(s string) bool {
	s = strings.ToLower(s)
	if len(s) < 4 || strings.ContainsAny(s, "0123456789") {
		return false
	}
	for i := range scopeKinds {
		for _, n := range scopeKinds[i].names {
			if len(n) >= 4 && !strings.Contains(n, ".") && EditDistance(s, n) == 1 {
				return true
			}
		}
	}
	return false
}

// Target is one thing to diagnose: an object of a kind, or (Name "") every object of it.
type Target struct {
	Kind ScopeKind `json:"kind"`
	Name string    `json:"name,omitempty"`
}

// String is kubectl's TYPE/NAME (or TYPE) form.
func (t Target) String() string {
	if t.Name == "" {
		return string(t.Kind)
	}
	return string(t.Kind) + "/" + t.Name
}

// targets returns the scope's targets, the single Kind/Name form included.
func (s Scope) targets() []Target {
	if len(s.Targets) > 0 {
		return s.Targets
	}
	if s.Kind == ScopeNamespace {
		if s.Selector != "" {
			return []Target{{Kind: ScopePod}}
		}
		return nil
	}
	return []Target{{Kind: s.Kind, Name: s.Name}}
}

// nodeOnly reports whether every target is one node: then the snapshot reads only that
// node's pods, across namespaces.
func (s Scope) singleNode() (string, bool) {
	ts := s.targets()
	if len(ts) == 1 && ts[0].Kind == ScopeNode && ts[0].Name != "" && s.Selector == "" {
		return ts[0].Name, true
	}
	return "", false
}

// anyNode reports whether a target is a node: nodes are cluster-wide.
func (s Scope) anyNode() bool {
	for _, t := range s.targets() {
		if t.Kind == ScopeNode {
			return true
		}
	}
	return false
}

// ForbiddenError is returned when the reads a scope needs were refused: a verdict built
// on them would be "no problems found" about things diagnose could not see.
type ForbiddenError struct {
	// Verb is diagnose (default) or preflight.
	Verb  string
	Scope string
	// Missing are the LISTs refused, e.g. "pods in namespace shop".
	Missing []string
}

func (e *ForbiddenError) Error() string {
	verb := "diagnose"
	if e.Verb != "" {
		verb = e.Verb
	}
	return fmt.Sprintf("cannot %s %s: forbidden to list %s (bind the feastflow-troubleshoot Role of deploy/rbac/troubleshoot.yaml, or check: kubectl auth can-i list %s)",
		verb, e.Scope, strings.Join(e.Missing, ", "), strings.Fields(e.Missing[0])[0])
}

// requiredLists are the LISTs without which the scope's verdict means nothing: pods for a
// namespace, and the list of every targeted kind.
func (s Scope) requiredLists() []string {
	need := map[string]bool{}
	ts := s.targets()
	if len(ts) == 0 {
		need["pods"] = true
	}
	for _, t := range ts {
		if k := scopeKindOf(t.Kind); k != nil {
			need[k.list] = true
		}
		if t.Kind == ScopeComponent {
			need["services"] = true
		}
		if t.Kind != ScopeNode {
			need["pods"] = true
		}
	}
	out := make([]string, 0, len(need))
	for k := range need {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// describe names the scope for messages.
func (s Scope) describe() string {
	where := "namespace " + s.Namespace
	if s.AllNamespaces {
		where = "all namespaces"
	}
	ts := s.targets()
	if len(ts) == 0 {
		return where
	}
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		parts = append(parts, t.String())
	}
	return strings.Join(parts, ", ") + " in " + where
}

// selector parses Scope.Selector (validated by the caller; an invalid one selects nothing).
func (s Scope) selector() labels.Selector {
	if s.Selector == "" {
		return labels.Everything()
	}
	sel, err := labels.Parse(s.Selector)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}
