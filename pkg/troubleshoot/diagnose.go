package troubleshoot

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/progress"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// ScopeKind is what diagnose looks at.
type ScopeKind string

// The scopes of diagnose.
const (
	ScopeNamespace  ScopeKind = ""
	ScopePod        ScopeKind = "pod"
	ScopeDeployment ScopeKind = "deployment"
	ScopeService    ScopeKind = "service"
	ScopeNode       ScopeKind = "node"
	// ScopeComponent is a Service and the Deployments its selector reaches.
	ScopeComponent ScopeKind = "component"
)

// Scope is the object (or namespace) to diagnose.
type Scope struct {
	// Namespace to diagnose; ignored with AllNamespaces and for nodes.
	Namespace     string
	AllNamespaces bool
	// Kind and Name are one target (kept for callers with one); Targets, when set, win.
	Kind ScopeKind
	Name string
	// Targets are several: `diagnose svc/a deploy/b`, `diagnose pod` (Name "": every pod).
	Targets []Target
	// Selector is a label selector (-l): it keeps the targets whose labels match, or with no
	// target the pods that match.
	Selector string
}

// Options tune Diagnose.
type Options struct {
	// Metadata lists ConfigMaps and Secrets as metadata only. Without it, references to
	// ConfigMaps and Secrets are not checked (diagnose never reads Secret data).
	Metadata metadata.Interface
	// LogLines is how many lines of a crashed container's previous log to show (default 20).
	LogLines int64
	// MaxLogs caps how many logs are read in one run (0: the default 10; negative: none):
	// one per group of pods failing the same way, never one per pod.
	MaxLogs int
	// Now is the clock (tests replace it).
	Now func() time.Time
	// Progress receives what diagnose is doing (may be nil).
	Progress progress.Reporter
	// Probe, when set, sends real traffic to the one Service in scope (see ProbeOptions).
	Probe *ProbeOptions
}

const (
	defaultLogLines = 20
	defaultMaxLogs  = 10
	logLimitBytes   = 16 << 10
	// maxDetailLines caps per-object detail lists (nodes, pods) in one finding.
	maxDetailLines = 10
)

// NotFoundError is returned when the named scope object does not exist.
type NotFoundError struct {
	Kind, Namespace, Name string
	// Others are further targets not found, as TYPE/NAME.
	Others []string
}

func (e *NotFoundError) Error() string {
	also := ""
	if len(e.Others) > 0 {
		also = " (also not found: " + strings.Join(e.Others, ", ") + ")"
	}
	if e.Namespace == "" {
		return fmt.Sprintf("%s %q not found%s", e.Kind, e.Name, also)
	}
	return fmt.Sprintf("%s %q not found in namespace %s%s (check the name with `kubectl get %s -n %s`)", e.Kind, e.Name, e.Namespace, also, kindArg(e.Kind), e.Namespace)
}

// Diagnose reads the scope with one paged LIST per kind, in parallel (plus, only when a
// finding needs them: the previous logs of crashed containers, at most MaxLogs; the
// cluster's pods when a pod is Pending for lack of resources and the scope is one
// namespace; the wrong-typed Secrets when an image pull fails with imagePullSecrets), and
// returns one finding per root cause (symptoms folded into their cause) ranked by impact,
// severity, confidence and name. It writes nothing. When a LIST the scope needs was refused
// it fails with a *ForbiddenError instead of reporting on what it could not see.
func Diagnose(ctx context.Context, client kubernetes.Interface, scope Scope, opts Options) (*Report, error) {
	hold := holdGC()
	defer hold.release()
	if opts.LogLines <= 0 {
		opts.LogLines = defaultLogLines
	}
	if opts.MaxLogs == 0 {
		opts.MaxLogs = defaultMaxLogs
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ns := scope.Namespace
	if scope.AllNamespaces || scope.anyNode() {
		ns = ""
	}
	k, podSelector := allKinds, ""
	if node, ok := scope.singleNode(); ok {
		podSelector = "spec.nodeName=" + node
		k = kinds{workloads: true, config: true, storage: true}
	}
	where := "namespace " + ns
	if ns == "" {
		where = "all namespaces"
	}
	progress.Printf(opts.Progress, "reading %s", where)
	snap, err := take(ctx, client, opts.Metadata, ns, podSelector, k)
	hold.readDone()
	if err != nil {
		return nil, err
	}
	if err := snap.require(scope); err != nil {
		return nil, err
	}
	a := newAnalysis(ctx, client, opts, snap)
	rel, err := a.relevance(scope)
	if err != nil {
		return nil, err
	}
	a.run(!scope.podsOnly())
	probe := a.probeRules(scope)
	findings := fold(a.findings)
	if rel != nil {
		findings = rel.filter(findings)
	}
	a.readLogs(findings)
	rank(findings)
	if findings == nil {
		findings = []Finding{}
	}
	r := &Report{
		TypeMeta: report.TypeMeta("DiagnoseReport"),
		Scope:    scope.ref(ns),
		Time:     metav1.NewTime(opts.Now().UTC().Truncate(time.Second)),
		Findings: findings,
		Skipped:  snap.skipped,
		Probe:    probe,
	}
	sort.Strings(r.Skipped)
	r.Summary.Pods, r.Summary.Services, r.Summary.Nodes = len(snap.pods), len(snap.services), len(snap.nodes)
	if rel != nil {
		r.Summary.Pods, r.Summary.Services = rel.podCount, rel.serviceCount
	}
	for k, h := range a.svcHealth {
		if h.down && (rel == nil || rel.services[k]) {
			r.Summary.ServicesDown++
		}
	}
	r.Summary.APIRequests = int(snap.requests.Load())
	r.summarize()
	return r, nil
}

// analysis holds the snapshot's indexes and accumulates findings.
type analysis struct {
	ctx    context.Context
	client kubernetes.Interface
	opts   Options
	now    time.Time
	s      *snapshot

	podsByKey    map[podKey]int // index in s.pods
	nodesByName  map[string]*corev1.Node
	rsByKey      map[string]*appsv1.ReplicaSet
	deployByKey  map[string]*appsv1.Deployment
	eventsByObj  map[string][]eventRecord // the snapshot's, by eventKey
	config       *configIndex
	findings     []Finding
	clusterPods  []corev1.Pod // all scheduled pods, read once when a fit must be computed
	clusterRead  bool
	wrongSecrets map[string]bool // ns/name of Secrets whose type cannot be an imagePullSecret
	secretsRead  bool
	pods         *podIndex             // see index.go
	usage        map[string]nodeUsage  // nodeRequests, summed once
	svcHealth    map[string]*svcHealth // ns/name, filled by serviceRules
}

func newAnalysis(ctx context.Context, client kubernetes.Interface, opts Options, s *snapshot) *analysis {
	a := &analysis{
		ctx: ctx, client: client, opts: opts, now: opts.Now(), s: s,
		podsByKey:   make(map[podKey]int, len(s.pods)),
		nodesByName: make(map[string]*corev1.Node, len(s.nodes)),
		rsByKey:     make(map[string]*appsv1.ReplicaSet, len(s.replicaSets)),
		deployByKey: make(map[string]*appsv1.Deployment, len(s.deployments)),
		eventsByObj: s.events,
		svcHealth:   map[string]*svcHealth{},
	}
	for i := range s.pods {
		a.podsByKey[podKey{s.pods[i].namespace(), s.pods[i].name()}] = i
	}
	for i := range s.nodes {
		a.nodesByName[s.nodes[i].Name] = &s.nodes[i]
	}
	for i := range s.replicaSets {
		a.rsByKey[key(s.replicaSets[i].Namespace, s.replicaSets[i].Name)] = &s.replicaSets[i]
	}
	for i := range s.deployments {
		a.deployByKey[key(s.deployments[i].Namespace, s.deployments[i].Name)] = &s.deployments[i]
	}
	a.config = newConfigIndex(s.configMaps, s.secrets, s.has("configmaps"), s.has("secrets"))
	return a
}

func key(ns, name string) string { return ns + "/" + name }

// podKey is a pod's namespace and name: the snapshot's own strings, not a new one per pod.
type podKey struct{ ns, name string }

// run applies every rule.
func (a *analysis) run(group bool) {
	a.podRules(group)
	a.serviceRules()
	a.workloadRules()
	a.nodeRules()
	a.staleConfigRules(group)
	a.pvcRules()
	a.ingressRules()
	a.hpaRules()
	a.pdbMoreRules()
	a.netpolRules()
	a.statefulSetRules()
	a.daemonSetRules()
	a.jobRules()
}

func (a *analysis) add(f Finding) {
	if f.Impact == "" {
		f.Impact = defaultImpact(&f)
	}
	a.findings = append(a.findings, f)
}

// events returns every Event of an object, newest first, as records.
func (a *analysis) events(kind, ns, name string) []EventRecord {
	evs := a.eventsByObj[eventKey(kind, ns, name)]
	out := make([]EventRecord, 0, len(evs))
	for _, e := range evs {
		out = append(out, EventRecord{
			Type: e.Type, Reason: e.Reason, Object: kindArg(kind) + "/" + name, Message: strings.TrimSpace(e.Message),
			Count: e.Count, LastSeen: metav1.NewTime(e.Last),
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen.Time) })
	return out
}

// owner returns the workload that owns a pod: its Deployment through the ReplicaSet, or the
// direct controller, or the pod itself.
func (a *analysis) owner(pod *corev1.Pod) ObjectRef {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return ObjectRef{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name}
	}
	if ref.Kind == "ReplicaSet" {
		if rs := a.rsByKey[key(pod.Namespace, ref.Name)]; rs != nil {
			if d := metav1.GetControllerOf(rs); d != nil && d.Kind == "Deployment" {
				return ObjectRef{Kind: "Deployment", Namespace: pod.Namespace, Name: d.Name}
			}
		}
	}
	return ObjectRef{Kind: ref.Kind, Namespace: pod.Namespace, Name: ref.Name}
}

// workloadArg is the kubectl argument for a pod's workload, used in fixes.
func workloadArg(o ObjectRef) string { return o.String() }

// nsFlag is the -n flag for fixes.
func nsFlag(ns string) string {
	if ns == "" {
		return ""
	}
	return " -n " + ns
}

// relevance restricts findings to a scope object and what it depends on.
type relevance struct {
	objects      map[string]bool // Kind/ns/name
	pods         map[string]bool // ns/name
	services     map[string]bool // ns/name
	podCount     int
	serviceCount int
}

func (r *relevance) filter(fs []Finding) []Finding {
	var out []Finding
	for ix := range fs {
		f := &fs[ix]
		keep := r.objects[f.Object.Kind+"/"+key(f.Object.Namespace, f.Object.Name)]
		for _, p := range f.Pods {
			if r.pods[key(f.Object.Namespace, p)] {
				keep = true
			}
		}
		if keep {
			out = append(out, *f)
		}
	}
	return out
}

func (r *relevance) addObj(kind, ns, name string) { r.objects[kind+"/"+key(ns, name)] = true }

func (r *relevance) addPod(a *analysis, p *corev1.Pod) {
	r.pods[key(p.Namespace, p.Name)] = true
	r.addObj("Pod", p.Namespace, p.Name)
	o := a.owner(p)
	r.addObj(o.Kind, o.Namespace, o.Name)
	if ref := metav1.GetControllerOf(p); ref != nil {
		r.addObj(ref.Kind, p.Namespace, ref.Name)
	}
	if p.Spec.NodeName != "" {
		r.addObj("Node", "", p.Spec.NodeName)
	}
	for ix := range p.Spec.Volumes {
		v := &p.Spec.Volumes[ix]
		if v.PersistentVolumeClaim != nil {
			r.addObj("PersistentVolumeClaim", p.Namespace, v.PersistentVolumeClaim.ClaimName)
		}
	}
}

// relevance returns nil for a namespace scope, or the filter for the scope's targets; it
// fails naming every named target that does not exist.
func (a *analysis) relevance(scope Scope) (*relevance, error) {
	ts := scope.targets()
	if len(ts) == 0 {
		return nil, nil
	}
	r := &relevance{objects: map[string]bool{}, pods: map[string]bool{}, services: map[string]bool{}}
	sel := scope.selector()
	var missing []string
	for _, t := range ts {
		found, err := a.addTarget(r, scope, t, sel)
		if err != nil {
			return nil, err
		}
		if !found && t.Name != "" {
			missing = append(missing, t.String())
		}
	}
	if len(missing) > 0 {
		first := ts[0]
		for _, t := range ts {
			if t.String() == missing[0] {
				first = t
			}
		}
		k := scopeKindOf(first.Kind)
		kind := "Service"
		if k != nil {
			kind = k.objKind
		}
		ns := scope.Namespace
		if first.Kind == ScopeNode {
			ns = ""
		}
		return nil, &NotFoundError{Kind: kind, Namespace: ns, Name: first.Name, Others: missing[1:]}
	}
	r.podCount, r.serviceCount = len(r.pods), len(r.services)
	return r, nil
}

func (a *analysis) addDeployment(r *relevance, d *appsv1.Deployment) {
	r.addObj("Deployment", d.Namespace, d.Name)
	for i := range a.s.replicaSets {
		rs := &a.s.replicaSets[i]
		if ref := metav1.GetControllerOf(rs); rs.Namespace == d.Namespace && ref != nil && ref.Kind == "Deployment" && ref.Name == d.Name {
			r.addObj("ReplicaSet", rs.Namespace, rs.Name)
		}
	}
	for i := range a.s.pods {
		if a.s.pods[i].namespace() != d.Namespace {
			continue
		}
		p := a.s.pods[i].pod()
		if o := a.owner(p); o.Kind == "Deployment" && o.Name == d.Name {
			r.addPod(a, p)
		}
	}
}

func (a *analysis) service(ns, name string) *corev1.Service {
	for i := range a.s.services {
		if a.s.services[i].Namespace == ns && a.s.services[i].Name == name {
			return &a.s.services[i]
		}
	}
	return nil
}
