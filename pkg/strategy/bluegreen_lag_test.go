package strategy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The switch preflight accepts a target whose status lags when its pods show it available:
// all of the current template, all Ready, at least the desired replicas.
func TestPodsCaughtUp(t *testing.T) {
	d := bgDeployment("api", "green", 2, "api:2")
	pod := func(i int, hash string, ready bool) corev1.Pod {
		p := bgPod(d, i).DeepCopy()
		p.Labels = map[string]string{"app": "api", "version": "green", appsv1.DefaultDeploymentUniqueLabelKey: hash}
		if !ready {
			p.Status.Conditions[0].Status = corev1.ConditionFalse
		}
		return *p
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		hash string
		want bool
	}{
		{"all ready of the hash", []corev1.Pod{pod(0, "h1", true), pod(1, "h1", true)}, "h1", true},
		{"one not ready", []corev1.Pod{pod(0, "h1", true), pod(1, "h1", false)}, "h1", false},
		{"too few", []corev1.Pod{pod(0, "h1", true)}, "h1", false},
		{"a pod of another template", []corev1.Pod{pod(0, "h1", true), pod(1, "h1", true), pod(2, "h0", true)}, "h1", false},
		{"hash unknown", []corev1.Pod{pod(0, "h1", true), pod(1, "h1", true)}, "", false},
	} {
		if got := podsCaughtUp(tc.pods, tc.hash, 2); got != tc.want {
			t.Errorf("%s: podsCaughtUp = %v, want %v", tc.name, got, tc.want)
		}
	}
}
