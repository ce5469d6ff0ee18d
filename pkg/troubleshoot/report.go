package troubleshoot

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Severity ranks a finding: error (it is broken now), warning (it will break or is degraded),
// info (worth knowing).
type Severity string

// The severities, most severe first.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Rank orders severities: error 3, warning 2, info 1, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityError:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// ParseSeverity reads a --fail-on value.
func ParseSeverity(s string) (Severity, bool) {
	switch Severity(s) {
	case SeverityError, SeverityWarning, SeverityInfo:
		return Severity(s), true
	}
	return "", false
}

// Confidence says how sure a finding is of its cause: high when read from status or an
// event that names it, medium when inferred from configuration and timing, low when a guess.
type Confidence string

// The confidences, most confident first.
const (
	ConfidenceHigh   Confidence = "high"
	ConfidenceMedium Confidence = "medium"
	ConfidenceLow    Confidence = "low"
)

func (c Confidence) rank() int {
	switch c {
	case ConfidenceHigh:
		return 3
	case ConfidenceMedium:
		return 2
	case ConfidenceLow:
		return 1
	}
	return 0
}

// Categories of findings about objects other than a single pod's status.
const (
	CategoryPending           Category = "Pending"
	CategoryInsufficient      Category = "InsufficientResources"
	CategoryUntoleratedTaint  Category = "UntoleratedTaint"
	CategoryNodeAffinity      Category = "NodeAffinityMismatch"
	CategoryTopologySpread    Category = "TopologySpread"
	CategoryUnboundPVC        Category = "UnboundPVC"
	CategoryQuotaExceeded     Category = "QuotaExceeded"
	CategoryNodeGone          Category = "NodeGone"
	CategoryServiceNoPods     Category = "ServiceSelectorMatchesNothing"
	CategoryServiceColor      Category = "ServiceColorMissing"
	CategoryTargetPort        Category = "TargetPortMismatch"
	CategoryNotReadyEndpoints Category = "NotReadyEndpoints"
	CategoryNoEndpointSlice   Category = "NoEndpointSlice"
	CategoryDeploymentStuck   Category = "ProgressDeadlineExceeded"
	CategoryFailedCreate      Category = "FailedCreate"
	CategoryStaleConfig       Category = "StaleConfig"
	CategoryNodeNotReady      Category = "NodeNotReady"
	CategoryNodePressure      Category = "NodePressure"
	CategoryPDBBlocking       Category = "PDBBlocksDisruption"
	CategoryProbeFailing      Category = "ProbeFailing"
)

// ObjectRef names the object a finding is about.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String is kubectl's kind/name form, lowercased like `kubectl get` resource names.
func (o ObjectRef) String() string {
	return kindArg(o.Kind) + "/" + o.Name
}

func kindArg(kind string) string {
	switch kind {
	case "Pod":
		return "pod"
	case "Deployment":
		return "deployment"
	case "ReplicaSet":
		return "replicaset"
	case "Service":
		return "service"
	case "Node":
		return "node"
	case "PersistentVolumeClaim":
		return "pvc"
	case "StatefulSet":
		return "statefulset"
	case "DaemonSet":
		return "daemonset"
	case "Job":
		return "job"
	case "PodDisruptionBudget":
		return "pdb"
	case "ResourceQuota":
		return "resourcequota"
	}
	return kind
}

// EventRecord is one Kubernetes Event related to a finding's object.
type EventRecord struct {
	Type     string      `json:"type"`
	Reason   string      `json:"reason"`
	Object   string      `json:"object"` // kind/name of the involved object
	Message  string      `json:"message"`
	Count    int32       `json:"count"`
	LastSeen metav1.Time `json:"lastSeen"`
}

// LogExcerpt is the tail of a container's log.
type LogExcerpt struct {
	Pod       string   `json:"pod"`
	Container string   `json:"container"`
	Previous  bool     `json:"previous"` // the log of the previous (crashed) instance
	Lines     []string `json:"lines"`
	Error     string   `json:"error,omitempty"` // why the log could not be read
}

// Evidence is what a finding is based on.
type Evidence struct {
	// Status holds the relevant status fields and computed facts, one per line.
	Status []string `json:"status,omitempty"`
	// Events are every Event of the object (and its affected pods), newest first.
	Events []EventRecord `json:"events,omitempty"`
	// Logs are the last lines of crashed containers' previous logs.
	Logs []LogExcerpt `json:"logs,omitempty"`
}

// Finding is one problem, its evidence and its fix.
type Finding struct {
	// Impact is what the finding does to the app's users: outage, degraded, at-risk, hygiene.
	Impact     Impact     `json:"impact"`
	Severity   Severity   `json:"severity"`
	Confidence Confidence `json:"confidence"`
	Category   Category   `json:"category"`
	Object     ObjectRef  `json:"object"`
	// Pods are the affected pods when the finding is about a workload (names, sorted).
	Pods []string `json:"pods,omitempty"`
	// Cause is the root cause on one line.
	Cause string `json:"cause"`
	// Affects are the symptoms this root cause produces, folded in from other objects
	// (e.g. "affects service web: 1 of 2 endpoints not ready").
	Affects []string `json:"affects,omitempty"`
	// Details are structured facts behind the cause (per-node scheduling reasons, each
	// missing key…), one per line.
	Details  []string `json:"details,omitempty"`
	Evidence Evidence `json:"evidence"`
	// Fix is what to do: commands to run or the manifest change, one per line.
	Fix []string `json:"fix,omitempty"`
	// Failure is the classifier's reading of the pod, for pod failure findings.
	Failure *PodFailure `json:"failure,omitempty"`

	logs []logRequest // logs to read once the finding is known to be in scope

	// Folding: a symptom names the objects that may cause it and the line it adds there.
	symptomOf []ObjectRef
	symptom   string
	affects   []ObjectRef
	// endpointsReady/Total of a NotReadyEndpoints finding; revert is a Deployment's undo.
	endpointsReady, endpointsTotal int
	revert                         []string
}

// Summary counts findings by severity and what was examined.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
	// ServicesDown counts the Services in scope with no ready endpoint or refusing every
	// request.
	ServicesDown int `json:"servicesDown"`
	// Outages, Degraded, AtRisk and Hygiene count findings by impact.
	Outages  int `json:"outages"`
	Degraded int `json:"degraded"`
	AtRisk   int `json:"atRisk"`
	Hygiene  int `json:"hygiene"`
	Pods     int `json:"pods"`
	Services int `json:"services"`
	Nodes    int `json:"nodes"`
	// APIRequests is the number of API requests diagnose made (list pages and log reads).
	APIRequests int `json:"apiRequests"`
}

// ScopeRef is what was diagnosed, as recorded in the report.
type ScopeRef struct {
	Namespace     string `json:"namespace,omitempty"`
	AllNamespaces bool   `json:"allNamespaces,omitempty"`
	Kind          string `json:"kind,omitempty"`
	Name          string `json:"name,omitempty"`
	// Targets are the objects diagnosed when there are several (Kind and Name are then empty).
	Targets []Target `json:"targets,omitempty"`
	// Selector is the -l label selector, if any.
	Selector string `json:"selector,omitempty"`
}

// Report is the result of Diagnose: findings ranked by severity, then confidence.
type Report struct {
	metav1.TypeMeta `json:",inline"`
	Scope           ScopeRef    `json:"scope"`
	Time            metav1.Time `json:"time"`
	Summary         Summary     `json:"summary"`
	Findings        []Finding   `json:"findings"`
	// Skipped names what could not be read (RBAC) and therefore was not checked.
	Skipped []string `json:"skipped,omitempty"`
	// Probe is the traffic probe's GETs, when one ran (Options.Probe).
	Probe *Probe `json:"probe,omitempty"`
}

// Worst returns the highest severity among the findings, or "" when there are none.
func (r *Report) Worst() Severity {
	var worst Severity
	for i := range r.Findings {
		if r.Findings[i].Severity.Rank() > worst.Rank() {
			worst = r.Findings[i].Severity
		}
	}
	return worst
}

// AtLeast counts the findings at or above severity s.
func (r *Report) AtLeast(s Severity) int {
	n := 0
	for i := range r.Findings {
		if r.Findings[i].Severity.Rank() >= s.Rank() {
			n++
		}
	}
	return n
}

func (r *Report) summarize() {
	r.Summary.Errors, r.Summary.Warnings, r.Summary.Infos = 0, 0, 0
	r.Summary.Outages, r.Summary.Degraded, r.Summary.AtRisk, r.Summary.Hygiene = 0, 0, 0, 0
	for i := range r.Findings {
		switch r.Findings[i].Impact {
		case ImpactOutage:
			r.Summary.Outages++
		case ImpactDegraded:
			r.Summary.Degraded++
		case ImpactAtRisk:
			r.Summary.AtRisk++
		case ImpactHygiene:
			r.Summary.Hygiene++
		}
		switch r.Findings[i].Severity {
		case SeverityError:
			r.Summary.Errors++
		case SeverityWarning:
			r.Summary.Warnings++
		case SeverityInfo:
			r.Summary.Infos++
		}
	}
}
