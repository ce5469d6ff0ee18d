package strategy

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// A blue-green deploy records the autoscalers it sees, so that the switch to the release
// it deployed moves an HPA made with kubectl on the live color since the last switch.
func TestDeployBlueGreenSeesAutoscalers(t *testing.T) {
	hpa := bgHPA("made-by-kubectl", "api-blue")
	env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil), hpa)...)
	bgAutoReady(cs)
	if _, err := Deploy(context.Background(), env, loadBG(t, env, "api"), DeployOptions{Images: []ImageSpec{{Image: "img:3"}}, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c := loadBG(t, env, "api")
	rec, err := c.Release()
	if err != nil || rec.Autoscalers == nil || rec.Autoscalers.ByColor["blue"] != "made-by-kubectl" {
		t.Fatalf("the deploy's record of autoscalers: %+v (%v)", rec, err)
	}
	if _, err := Switch(context.Background(), env, switchOpts("api", "green")); err != nil {
		t.Fatal(err)
	}
	obj, err := cs.Tracker().Get(autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"), bgNS, "made-by-kubectl")
	if err != nil || obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef.Name != "api-green" {
		t.Fatalf("the HPA did not follow the switch: %v (%v)", obj, err)
	}
}

// bgHPA is an autoscaler named name that scales deployment target.
func bgHPA(name, target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: bgNS, ResourceVersion: "3"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MaxReplicas:    5,
		},
	}
}
