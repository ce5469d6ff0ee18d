package strategy

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// HealthGate is the verdict on a canary before a step: with no metrics stack, the signals
// are the pods' readiness, their container restarts since the last step, and the Warning
// events the kubelet records on them.
type HealthGate struct {
	Passed bool `json:"passed"`
	// Forced is true when --force skipped the gate.
	Forced   bool     `json:"forced,omitempty"`
	Pods     int      `json:"pods"`
	Ready    int      `json:"ready"`
	Restarts int32    `json:"restartsSinceLastStep"`
	Problems []string `json:"problems,omitempty"`
}

// unhealthyEventReasons are the kubelet's Warning reasons that fail the gate: a container
// in back-off (crash loop or image pull), failing probes, an OOM kill, a failed pull.
var unhealthyEventReasons = map[string]bool{"BackOff": true, "Unhealthy": true, "OOMKilling": true, "Failed": true}

// CanaryHealth checks the canary pods (one LIST of pods, one LIST of Warning events on
// pods): every pod Ready and as many as the Deployment wants, no container restart since
// the baseline recorded after the last step, and no Warning event (BackOff, Unhealthy,
// OOMKilling, Failed) on them since then. A canary with no pods passes: there is nothing to
// judge yet.
func CanaryHealth(ctx context.Context, env *Env, c *Component, baseline *canaryState) (*HealthGate, error) {
	if c.Canary == nil || desiredReplicas(c.Canary) == 0 {
		return &HealthGate{Passed: true}, nil
	}
	pods, err := listDeploymentPods(ctx, env, c.Canary)
	if err != nil {
		return nil, err
	}
	var since time.Time
	var before map[string]int32
	if baseline != nil {
		since, before = baseline.Since, baseline.Restarts
	}
	return podsHealth(ctx, env, c.Namespace(), pods, "pods", int(desiredReplicas(c.Canary)), since, before)
}

// podsHealth is the health gate over a list of pods (the canary's, or a StatefulSet's
// updated pods): every pod Ready, at least want of them (0: not checked), no container
// restart since the baseline (restart counts before, by pod name), and no Warning event
// (BackOff, Unhealthy, OOMKilling, Failed) on them after since — one LIST of the namespace's
// Warning events on pods. An event counts only for the pod that exists now (its UID, when
// the event names one): a StatefulSet pod keeps its name across re-creations. what names
// the pods in the problems ("pods", "updated pods").
func podsHealth(ctx context.Context, env *Env, namespace string, pods []corev1.Pod, what string, want int, since time.Time, before map[string]int32) (*HealthGate, error) {
	gate := &HealthGate{Passed: true}
	current := map[string]types.UID{}
	var unready []string
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		current[p.Name] = p.UID
		gate.Pods++
		if podutils.IsPodReady(p) {
			gate.Ready++
		} else {
			unready = append(unready, p.Name)
		}
		if n := podRestarts(p) - before[p.Name]; n > 0 {
			gate.Restarts += n
			gate.Problems = append(gate.Problems, fmt.Sprintf("pod %s restarted %d times since the last step%s", p.Name, n, lastTermination(p)))
		}
	}
	if len(unready) > 0 {
		sort.Strings(unready)
		gate.Problems = append(gate.Problems, fmt.Sprintf("%d of %d %s not ready (%s)", len(unready), gate.Pods, what, joinMax(unready, 3)))
	}
	if gate.Pods < want {
		gate.Problems = append(gate.Problems, fmt.Sprintf("%d of %d %s exist", gate.Pods, want, what))
	}
	sel := fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Pod"), fields.OneTermEqualSelector("type", corev1.EventTypeWarning))
	events, err := env.Client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list warning events in %s: %w", namespace, err)
	}
	seen := map[string]bool{}
	for i := range events.Items {
		ev := &events.Items[i]
		uid, ok := current[ev.InvolvedObject.Name]
		if !ok || ev.InvolvedObject.UID != "" && ev.InvolvedObject.UID != uid || !unhealthyEventReasons[ev.Reason] || !troubleshoot.EventTime(ev).After(since) {
			continue
		}
		key := ev.InvolvedObject.Name + "/" + ev.Reason
		if seen[key] {
			continue
		}
		seen[key] = true
		gate.Problems = append(gate.Problems, fmt.Sprintf("Warning %s on pod %s: %s", ev.Reason, ev.InvolvedObject.Name, ev.Message))
	}
	gate.Passed = len(gate.Problems) == 0
	return gate, nil
}

// listDeploymentPods lists the pods the Deployment's selector matches (one LIST).
func listDeploymentPods(ctx context.Context, env *Env, d *appsv1.Deployment) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	list, err := env.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return list.Items, nil
}

// lastTermination says why a restarted container last ended, e.g. " (last exit: OOMKilled, code 137)".
func lastTermination(p *corev1.Pod) string {
	for i := range p.Status.ContainerStatuses {
		s := &p.Status.ContainerStatuses[i]
		if t := s.LastTerminationState.Terminated; t != nil && s.RestartCount > 0 {
			return fmt.Sprintf(" (container %s last exit: %s, code %d)", s.Name, t.Reason, t.ExitCode)
		}
	}
	return ""
}
