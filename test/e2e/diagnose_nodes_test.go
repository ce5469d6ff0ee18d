package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// diagnoseCategories runs diagnose with -o json and returns the categories it found.
func diagnoseCategories(t *testing.T, h *harness.H, args ...string) map[string]bool {
	t.Helper()
	r := h.Feastflow(append([]string{"diagnose", "-o", "json"}, args...)...)
	if r.ExitCode != 0 && r.ExitCode != 3 {
		t.Fatalf("diagnose %v: exit %d\n%s", args, r.ExitCode, r.Stderr)
	}
	var rep struct {
		Findings []struct {
			Category string `json:"category"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("diagnose json: %v\n%s", err, r.Stdout)
	}
	got := map[string]bool{}
	for _, f := range rep.Findings {
		got[f.Category] = true
	}
	return got
}

// Node problems on private nodes (the shared nodes are never touched): a pod that only a
// tainted node could take is Pending with the real scheduler's untolerated-taint reason,
// and a node whose status reports NotReady and memory pressure is named with its pods.
func TestDiagnoseTaintAndNodeConditions(t *testing.T) {
	h := harness.For(t)
	ctx := context.Background()
	ns := h.NewNamespace()
	suffix := ns[len(ns)-6:]
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
	newNode := func(name string, kwok bool, taints []corev1.Taint) {
		ann := map[string]string{}
		if kwok {
			ann["kwok.x-k8s.io/node"] = "fake"
		}
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann, Labels: map[string]string{"kubernetes.io/hostname": name}},
			Spec:       corev1.NodeSpec{Taints: taints},
			Status:     corev1.NodeStatus{Capacity: res, Allocatable: res},
		}
		if _, err := h.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node %s: %v", name, err)
		}
		t.Cleanup(func() { _ = h.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	tainted := "e2e-diag-tainted-" + suffix
	newNode(tainted, true, []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}})
	h.Apply(ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: wants-tainted}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
`, tainted))
	harness.WaitFor(ctx, h.Events(ns, "wants-tainted"), "FailedScheduling of wants-tainted", func(evs []*corev1.Event) (bool, error) {
		for _, e := range evs {
			if e.InvolvedObject.Name == "wants-tainted" && e.Reason == "FailedScheduling" {
				return true, nil
			}
		}
		return false, nil
	})
	if got := diagnoseCategories(t, h, "pod/wants-tainted", "-n", ns); !got["UntoleratedTaint"] {
		t.Errorf("diagnose pod/wants-tainted: categories %v, want UntoleratedTaint", got)
	}

	// No kubelet (not kwok-managed): its status is what we write, as a sick kubelet would.
	sick := "e2e-diag-sick-" + suffix
	newNode(sick, false, nil)
	// The node lifecycle controller writes to new nodes too: retry on conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := h.Client.CoreV1().Nodes().Get(ctx, sick, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		node.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "container runtime is down", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory", Message: "kubelet has insufficient memory available", LastHeartbeatTime: now, LastTransitionTime: now},
		}
		_, err = h.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Apply(ns, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: on-sick-node}
spec:
  nodeName: %s
  tolerations: [{operator: Exists}]
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
`, sick))
	got := diagnoseCategories(t, h, "node/"+sick)
	if !got["NodeNotReady"] || !got["NodePressure"] {
		t.Errorf("diagnose node/%s: categories %v, want NodeNotReady and NodePressure", sick, got)
	}
}
