package strategy

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// Pod helpers shared by the strategies.

// podNotReadyReason is "" for a Ready pod whose init containers all completed, else why not.
func podNotReadyReason(pod *corev1.Pod) string {
	if f := troubleshoot.ClassifyPod(pod); f != nil {
		return string(f.Category)
	}
	for _, st := range pod.Status.InitContainerStatuses {
		if st.State.Terminated != nil && st.State.Terminated.ExitCode == 0 {
			continue
		}
		if st.State.Running != nil && st.Started != nil && *st.Started {
			continue // a sidecar (restartable init container) that runs
		}
		return fmt.Sprintf("init container %s not completed", st.Name)
	}
	if pod.Status.Phase != corev1.PodRunning {
		return string(pod.Status.Phase)
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			if cond.Status == corev1.ConditionTrue {
				return ""
			}
			if cond.Reason != "" {
				return "not ready: " + cond.Reason
			}
			return "not ready"
		}
	}
	return "not ready"
}

func podRestarts(p *corev1.Pod) int32 {
	var n int32
	for i := range p.Status.InitContainerStatuses {
		n += p.Status.InitContainerStatuses[i].RestartCount
	}
	for i := range p.Status.ContainerStatuses {
		n += p.Status.ContainerStatuses[i].RestartCount
	}
	return n
}

// readyReplicas is the Deployment's ready pods (0 for none).
func readyReplicas(d *appsv1.Deployment) int32 {
	if d == nil {
		return 0
	}
	return d.Status.ReadyReplicas
}
