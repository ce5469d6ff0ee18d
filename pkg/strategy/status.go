package strategy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
	"github.com/feastflow/kubectl-feastflow/pkg/window"
)

// StatusReport is the -o json|yaml schema of `status`: the namespace's deployment window
// and the release state of its components.
type StatusReport struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace"`
	Window     WindowInfo        `json:"window"`
	Components []ComponentStatus `json:"components"`
}

// WindowInfo is the deployment window of the namespace now.
type WindowInfo struct {
	Configured bool       `json:"configured"`
	Open       bool       `json:"open"`
	Schedule   string     `json:"schedule,omitempty"`
	Freeze     string     `json:"freeze,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	NextOpen   *time.Time `json:"nextOpen,omitempty"`
	// Unknown is set when the namespace could not be read (e.g. forbidden).
	Unknown string `json:"unknown,omitempty"`
}

// ComponentStatus is one component's release state.
type ComponentStatus struct {
	Name     string `json:"name"`
	Strategy Kind   `json:"strategy"`
	// Blue-green.
	ColorKey      string   `json:"colorKey,omitempty"`
	LiveColor     string   `json:"liveColor,omitempty"`
	IdleColors    []string `json:"idleColors,omitempty"`
	PreviousColor string   `json:"previousColor,omitempty"`
	// Canary.
	Canary *CanaryWeight `json:"canary,omitempty"`
	// Release is the recorded release state (annotation feastflow.dev/release, or migrated
	// from the older annotations).
	Release *Release `json:"release,omitempty"`
	// Warnings say where the objects differ from the record: a selector moved by hand, the
	// live color's template changed since the switch, an operation left in progress.
	Warnings []string `json:"warnings,omitempty"`
	// LastOperation is the last operation recorded on the Service.
	LastOperation *audit.Operation   `json:"lastOperation,omitempty"`
	Deployments   []DeploymentStatus `json:"deployments"`
	// Workloads are the component's StatefulSets and DaemonSets (workload_status.go).
	Workloads []WorkloadStatus `json:"workloads,omitempty"`
}

// CanaryWeight is the canary's share of traffic: the weight set by canary-step and the
// actual one (ready canary pods ÷ ready pods).
type CanaryWeight struct {
	SetWeight    *int `json:"setWeight,omitempty"`
	ActualWeight int  `json:"actualWeight"`
	ReadyCanary  int  `json:"readyCanary"`
	ReadyTotal   int  `json:"readyTotal"`
	// Steps are the canary steps (the Service's annotation or the defaults).
	Steps []int `json:"steps,omitempty"`
	// Analysis is the last canary analysis recorded on the Service (canary-step --analysis).
	Analysis *traffic.AnalysisResult `json:"analysis,omitempty"`
}

// DeploymentStatus is one Deployment of a component.
type DeploymentStatus struct {
	Name string `json:"name"`
	// Role is live or idle (blue-green), stable or canary, or empty (rolling).
	Role          string           `json:"role,omitempty"`
	Color         string           `json:"color,omitempty"`
	Images        []ContainerImage `json:"images"`
	Desired       int32            `json:"desired"`
	Updated       int32            `json:"updated"`
	Ready         int32            `json:"ready"`
	Available     int32            `json:"available"`
	RolloutDone   bool             `json:"rolloutComplete"`
	Rollout       string           `json:"rollout"`
	Paused        bool             `json:"paused,omitempty"`
	NotReady      []PodNotReady    `json:"notReady,omitempty"`
	LastOperation *audit.Operation `json:"lastOperation,omitempty"`
	HPA           *HPAStatus       `json:"hpa,omitempty"`
}

// PodNotReady is a pod that is not ready, and why in a few words.
type PodNotReady struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// HPAStatus is the HorizontalPodAutoscaler that targets a Deployment.
type HPAStatus struct {
	Name            string `json:"name"`
	MinReplicas     int32  `json:"minReplicas"`
	MaxReplicas     int32  `json:"maxReplicas"`
	CurrentReplicas int32  `json:"currentReplicas"`
	DesiredReplicas int32  `json:"desiredReplicas"`
	Targets         string `json:"targets,omitempty"`
}

// StatusInventory is everything status reads: one LIST per kind and the namespace.
type StatusInventory struct {
	Inventory
	Pods      []corev1.Pod
	HPAs      []autoscalingv2.HorizontalPodAutoscaler
	NS        *corev1.Namespace
	NSErr     error
	HPAErr    error
	fetchedAt time.Time
	// ControllerRevisions and Nodes serve the StatefulSet and DaemonSet rows
	// (workload_status_load.go); NodesErr is set when nodes could not be listed.
	ControllerRevisions []appsv1.ControllerRevision
	Nodes               []corev1.Node
	NodesErr            error
}

// LoadStatus reads a namespace for status: Services, Deployments, StatefulSets, DaemonSets,
// Pods and HorizontalPodAutoscalers (one paged LIST each, see readStatus) and the namespace,
// all in parallel. A forbidden namespace or HPA read degrades the report instead of failing it.
func LoadStatus(ctx context.Context, client kubernetes.Interface, namespace string) (*StatusInventory, error) {
	inv := &StatusInventory{Inventory: Inventory{Namespace: namespace}}
	var wg sync.WaitGroup
	wg.Go(func() { inv.NS, inv.NSErr = client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}) })
	r, err := readStatus(ctx, client, namespace, false)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	inv.Services, inv.Deployments, inv.Pods, inv.HPAs, inv.HPAErr = r.services, r.deployments, r.pods, r.hpas, r.hpaErr
	r.workloadsInto(inv)
	inv.fetchedAt = time.Now()
	return inv, nil
}

// BuildStatus computes the report from what LoadStatus read: every component (or the
// named one; an error lists the components when it is not found).
func BuildStatus(inv *StatusInventory, component string, keys Keys, now time.Time) (*StatusReport, error) {
	tm := report.TypeMeta("StatusReport")
	rep := &StatusReport{APIVersion: tm.APIVersion, Kind: tm.Kind, Namespace: inv.Namespace, Components: []ComponentStatus{}}
	rep.Window = windowInfo(inv, now)
	comps := inv.Components(keys)
	if component != "" {
		var found *Component
		for _, c := range comps {
			if c.Name() == component {
				found = c
			}
		}
		if found == nil {
			for i := range inv.Services {
				if inv.Services[i].Name == component {
					found = inv.Recognise(&inv.Services[i], keys)
				}
			}
		}
		if found == nil {
			return nil, fmt.Errorf("component %q not found in namespace %s: no service of that name (components: %s)", component, inv.Namespace, names(comps, nil))
		}
		comps = []*Component{found}
	}
	podsByDeployment := groupPods(inv)
	for _, c := range comps {
		rep.Components = append(rep.Components, componentStatus(c, inv, podsByDeployment))
	}
	return rep, nil
}

func windowInfo(inv *StatusInventory, now time.Time) WindowInfo {
	if inv.NSErr != nil {
		msg := inv.NSErr.Error()
		if apierrors.IsForbidden(inv.NSErr) {
			msg = fmt.Sprintf("cannot read namespace %s (forbidden): the deployment window is unknown", inv.Namespace)
		}
		return WindowInfo{Unknown: msg}
	}
	st := WindowStatus(inv.NS, now)
	wi := WindowInfo{Configured: st.Configured, Open: st.Open, Reason: st.Reason}
	if inv.NS != nil {
		wi.Schedule = inv.NS.Annotations[window.WindowAnnotation]
		wi.Freeze = inv.NS.Annotations[window.FreezeAnnotation]
	}
	if !st.NextOpen.IsZero() {
		t := st.NextOpen
		wi.NextOpen = &t
	}
	if !st.Open && st.Reason == "" {
		wi.Reason = "closed"
	}
	return wi
}

// groupPods assigns each pod to the Deployment whose selector matches it (through its
// ReplicaSet's name when several Deployments' selectors overlap).
func groupPods(inv *StatusInventory) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	sels := make([]labels.Selector, len(inv.Deployments))
	for i := range inv.Deployments {
		s, err := metav1.LabelSelectorAsSelector(inv.Deployments[i].Spec.Selector)
		if err != nil {
			s = labels.Nothing()
		}
		sels[i] = s
	}
	for i := range inv.Pods {
		p := &inv.Pods[i]
		owner := ""
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "ReplicaSet" {
				owner = ref.Name
			}
		}
		for j := range inv.Deployments {
			d := &inv.Deployments[j]
			if !sels[j].Matches(labels.Set(p.Labels)) {
				continue
			}
			if owner != "" && !strings.HasPrefix(owner, d.Name+"-") {
				continue
			}
			out[d.Name] = append(out[d.Name], p)
		}
	}
	return out
}

func componentStatus(c *Component, inv *StatusInventory, pods map[string][]*corev1.Pod) ComponentStatus {
	cs := ComponentStatus{Name: c.Name(), Strategy: c.Strategy, Deployments: []DeploymentStatus{}}
	if op, ok := audit.ParseOperation(c.Service.Annotations); ok {
		cs.LastOperation = &op
	}
	role := map[string]string{}
	color := map[string]string{}
	var rec *Release
	if r := releaserFor(c); r != nil && r.recorded() {
		var err error
		if rec, err = c.Release(); err != nil {
			cs.Warnings = append(cs.Warnings, err.Error())
		} else {
			cs.Release = rec
			cs.Warnings = append(cs.Warnings, releaseWarnings(c, rec)...)
		}
	}
	if r := releaserFor(c); r != nil {
		r.describe(c, rec, &cs, role, color)
	}
	for _, d := range c.Deployments {
		cs.Deployments = append(cs.Deployments, deploymentStatus(d, role[d.Name], color[d.Name], pods[d.Name], inv.HPAs))
	}
	cs.Workloads = workloadStatuses(c, inv)
	return cs
}

func deploymentStatus(d *appsv1.Deployment, role, color string, pods []*corev1.Pod, hpas []autoscalingv2.HorizontalPodAutoscaler) DeploymentStatus {
	ds := DeploymentStatus{
		Name: d.Name, Role: role, Color: color, Images: TemplateImages(&d.Spec.Template),
		Desired: desiredReplicas(d), Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas,
		Available: d.Status.AvailableReplicas, Paused: d.Spec.Paused,
	}
	done, msg, err := RolloutStatus(d)
	ds.RolloutDone = done
	switch {
	case err != nil:
		ds.Rollout = "failed: " + err.Error()
	case done:
		ds.Rollout = "complete"
	default:
		ds.Rollout = strings.TrimPrefix(msg, "deployment "+d.Name+": ")
	}
	if op, ok := audit.ParseOperation(d.Annotations); ok {
		ds.LastOperation = &op
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded {
			continue
		}
		if why := podNotReadyReason(p); why != "" {
			nr := PodNotReady{Pod: p.Name, Reason: why}
			if f := troubleshoot.ClassifyPod(p); f != nil {
				nr.Detail = f.String()
			}
			ds.NotReady = append(ds.NotReady, nr)
		}
	}
	for i := range hpas {
		h := &hpas[i]
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != d.Name {
			continue
		}
		hs := &HPAStatus{Name: h.Name, MaxReplicas: h.Spec.MaxReplicas, CurrentReplicas: h.Status.CurrentReplicas, DesiredReplicas: h.Status.DesiredReplicas, Targets: hpaTargets(h)}
		if h.Spec.MinReplicas != nil {
			hs.MinReplicas = *h.Spec.MinReplicas
		} else {
			hs.MinReplicas = 1
		}
		ds.HPA = hs
	}
	return ds
}

// hpaTargets is kubectl's TARGETS column for resource metrics: "cpu: 40%/70%".
func hpaTargets(h *autoscalingv2.HorizontalPodAutoscaler) string {
	var parts []string
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Target.AverageUtilization == nil {
			continue
		}
		current := "<unknown>"
		for _, cm := range h.Status.CurrentMetrics {
			if cm.Resource != nil && cm.Resource.Name == m.Resource.Name && cm.Resource.Current.AverageUtilization != nil {
				current = fmt.Sprintf("%d%%", *cm.Resource.Current.AverageUtilization)
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %s/%d%%", m.Resource.Name, current, *m.Resource.Target.AverageUtilization))
	}
	return strings.Join(parts, ", ")
}

// releaseWarnings compares the record with the objects (the strategy's part:
// recordWarnings) and names an operation left in progress.
func releaseWarnings(c *Component, rec *Release) []string {
	var out []string
	if r := releaserFor(c); r != nil {
		out = r.recordWarnings(c, rec)
	}
	if op := rec.Operation; op != nil {
		out = append(out, fmt.Sprintf("%s to %s in progress since %s%s (or interrupted: re-run `kubectl feastflow %s %s` to complete it)", op.Verb, op.Target, op.Start.Format(time.RFC3339), byUser(op.User), op.Verb, c.Name()))
	}
	return out
}

func byUser(u string) string {
	if u == "" {
		return ""
	}
	return " by " + u
}
