package strategy

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

func fxBlueGreen(blue, green int32) []runtime.Object {
	return []runtime.Object{
		fxNamespace(),
		fxService("shop", map[string]string{"app": "shop", "version": "blue"}, nil),
		fxDeployment("shop-blue", blue, "shop:1", map[string]string{"app": "shop", "version": "blue"}),
		fxDeployment("shop-green", green, "shop:2", map[string]string{"app": "shop", "version": "green"}),
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		name   string
		objs   []runtime.Object
		comp   string
		to     int32
		writes []string
	}{
		{name: "rolling", objs: fxRolling(1, false, "api:1"), comp: "api", to: 5, writes: []string{"patch deployments/api replicas=5"}},
		{name: "blue-green, idle down", objs: fxBlueGreen(2, 0), comp: "shop", to: 4, writes: []string{"patch deployments/shop-blue replicas=4"}},
		{name: "blue-green, idle up", objs: fxBlueGreen(2, 2), comp: "shop", to: 4, writes: []string{"patch deployments/shop-blue replicas=4", "patch deployments/shop-green replicas=4"}},
		{name: "canary up keeps 25 %", objs: fxCanary(6, 2, map[string]string{CanaryWeightAnnotation: "25"}), comp: "web", to: 20, writes: []string{"patch deployments/web-canary replicas=5", "patch deployments/web-stable replicas=15"}},
		{name: "canary down keeps 25 %", objs: fxCanary(15, 5, map[string]string{CanaryWeightAnnotation: "25"}), comp: "web", to: 4, writes: []string{"patch deployments/web-stable replicas=3", "patch deployments/web-canary replicas=1"}},
		{name: "no-op", objs: fxRolling(1, false, "api:1"), comp: "api", to: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fxClient(tt.objs...)
			env, _ := fxEnv(client, audit.DryRunNone)
			res, err := Scale(t.Context(), env, fxLoad(t, client, tt.comp), ScaleOptions{Replicas: tt.to})
			if err != nil {
				t.Fatal(err)
			}
			fxEqual(t, "writes", fxWrites(client), tt.writes)
			if res.Changed != (len(tt.writes) > 0) {
				t.Errorf("changed = %v", res.Changed)
			}
		})
	}
}

func TestScaleRefusesHPA(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: fxNS},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "api"}, MaxReplicas: 6},
	}
	client := fxClient(append(fxRolling(1, false, "api:1"), hpa)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := Scale(t.Context(), env, fxLoad(t, client, "api"), ScaleOptions{Replicas: 8})
	if err == nil || !strings.Contains(err.Error(), "horizontalpodautoscaler/api manages deployment/api (min 1, max 6): scale would set deployment/api 2→8") {
		t.Fatalf("error = %v", err)
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}

func TestAutoscale(t *testing.T) {
	client := fxClient(fxBlueGreen(2, 0)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	opts := AutoscaleOptions{Min: 2, Max: 10, CPUPercent: 70, MemoryPercent: 80}
	res, err := Autoscale(t.Context(), env, fxLoad(t, client, "shop"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "created horizontalpodautoscaler/shop for deployment/shop-blue: deployment/shop-blue min=2 max=10 cpu=70% memory=80%") {
		t.Errorf("message = %s", res.Message)
	}
	hpa, err := client.AutoscalingV2().HorizontalPodAutoscalers(fxNS).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil || hpa.Spec.ScaleTargetRef.Name != "shop-blue" || *hpa.Spec.MinReplicas != 2 || len(hpa.Spec.Metrics) != 2 {
		t.Fatalf("hpa = %+v, %v", hpa, err)
	}
	// Same values: nothing; new range: one patch.
	client.ClearActions()
	if res, err = Autoscale(t.Context(), env, fxLoad(t, client, "shop"), opts); err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	opts.Max = 12
	if _, err = Autoscale(t.Context(), env, fxLoad(t, client, "shop"), opts); err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{"patch horizontalpodautoscalers/shop"})

	for _, bad := range []AutoscaleOptions{{Min: 0, Max: 3, CPUPercent: 50}, {Min: 3, Max: 2, CPUPercent: 50}, {Min: 1, Max: 3}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
}

func TestAutoscaleRefusesCanaryInProgress(t *testing.T) {
	client := fxClient(fxCanary(9, 1, nil)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := Autoscale(t.Context(), env, fxLoad(t, client, "web"), AutoscaleOptions{Min: 2, Max: 5, CPUPercent: 70})
	if err == nil || !strings.Contains(err.Error(), "a canary is in progress") {
		t.Fatalf("error = %v", err)
	}
}

func TestPauseResume(t *testing.T) {
	client := fxClient(fxBlueGreen(2, 0)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	if _, err := Pause(t.Context(), env, fxLoad(t, client, "shop")); err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{"patch deployments/shop-blue", "patch deployments/shop-green"})
	if !fxGetDeployment(t, client, "shop-green").Spec.Paused {
		t.Error("green not paused")
	}
	client.ClearActions()
	if res, err := Pause(t.Context(), env, fxLoad(t, client, "shop")); err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	if _, err := Resume(t.Context(), env, fxLoad(t, client, "shop")); err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{"patch deployments/shop-blue", "patch deployments/shop-green"})
}

func TestRetargetAutoscaler(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: fxNS, ResourceVersion: "7"},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "shop-blue", APIVersion: "apps/v1"}, MaxReplicas: 6},
	}
	client := fxClient(append(fxBlueGreen(2, 2), hpa)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	c := fxLoad(t, client, "shop")
	changes, err := RetargetAutoscaler(t.Context(), env, c.Colors["blue"], c.Colors["green"], "switch")
	if err != nil || len(changes) != 1 {
		t.Fatalf("changes %+v, %v", changes, err)
	}
	got, _ := client.AutoscalingV2().HorizontalPodAutoscalers(fxNS).Get(t.Context(), "shop", metav1.GetOptions{})
	if got.Spec.ScaleTargetRef.Name != "shop-green" {
		t.Errorf("target = %+v", got.Spec.ScaleTargetRef)
	}
	// Nothing targets blue any more: nothing to do.
	client.ClearActions()
	if changes, err = RetargetAutoscaler(t.Context(), env, c.Colors["blue"], c.Colors["green"], "switch"); err != nil || len(changes) != 0 {
		t.Fatalf("second call: %+v, %v", changes, err)
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}
