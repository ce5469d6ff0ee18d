package strategy

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Trimming pods as their pages arrive changes nothing status shows: the same inventory,
// built with every pod whole and with every pod trimmed, gives the same report, and a
// ready pod keeps only what status reads of it.
func TestTrimPodChangesNoStatus(t *testing.T) {
	labels := map[string]string{"app": "web"}
	owner := []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5f", UID: "uid-rs", Controller: ptrTo(true)}}
	base := func(name string) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, Labels: labels, OwnerReferences: owner, UID: "uid-" + "name",
				Annotations:   map[string]string{"note": "x"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}},
			Spec: corev1.PodSpec{NodeName: "n1",
				Containers:  []corev1.Container{{Name: "app", Image: "web:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
				Conditions:        []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(fxNow)}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Started: ptrTo(true), Image: "web:1", ImageID: "sha256:1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
		}
	}
	ready := base("web-5f-a")
	crash := base("web-5f-b")
	crash.Status.Conditions[1].Status = corev1.ConditionFalse
	crash.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}
	pending := base("web-5f-c")
	pending.Spec.NodeName, pending.Status.Phase, pending.Status.ContainerStatuses = "", corev1.PodPending, nil
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available"}}
	terminating := base("web-5f-d")
	terminating.DeletionTimestamp = ptrTo(metav1.NewTime(fxNow))
	notReady := base("web-5f-e") // running, no failure, readiness probe not passing yet
	notReady.Status.Conditions[1].Status = corev1.ConditionFalse
	notReady.Status.ContainerStatuses[0].Ready = false
	pods := []corev1.Pod{ready, crash, pending, terminating, notReady}

	build := func(pods []corev1.Pod) string {
		inv := &StatusInventory{Inventory: Inventory{Namespace: fxNS}, Pods: pods, NS: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fxNS}}}
		inv.Services = []corev1.Service{*fxServiceIn(fxNS, "web", labels)}
		d := fxDeployment("web", 5, "web:1", labels)
		inv.Deployments = []appsv1.Deployment{*d}
		rep, err := BuildStatus(inv, "", Keys{}, fxNow)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	whole := build(append([]corev1.Pod(nil), pods...))
	trimmed := make([]corev1.Pod, len(pods))
	for i := range pods {
		trimmed[i] = *pods[i].DeepCopy()
		trimPod(&trimmed[i])
	}
	if got := build(trimmed); got != whole {
		t.Fatalf("trimmed pods change the report:\nwhole   %s\ntrimmed %s", whole, got)
	}
	if r := trimmed[0]; r.Spec.Tolerations != nil || r.Spec.Containers != nil || r.Status.ContainerStatuses != nil || r.Annotations != nil || r.ManagedFields != nil || r.Status.PodIP != "" {
		t.Errorf("ready pod kept %+v", r)
	}
	for i := 1; i < len(trimmed); i++ {
		if trimmed[i].Status.Conditions == nil || (trimmed[i].Spec.Containers == nil) || trimmed[i].ManagedFields != nil {
			t.Errorf("pod %s: trimmed though it has something to show: %+v", trimmed[i].Name, trimmed[i])
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
