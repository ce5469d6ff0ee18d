package strategy

import (
	"errors"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// Promote rolls the stable track to the canary's template and full capacity first, and
// only then retires the canary.
func TestPromoteCanaryOrder(t *testing.T) {
	client := fxClient(fxCanary(5, 5, map[string]string{CanaryWeightAnnotation: "50"})...)
	env, _ := fxEnv(client, audit.DryRunNone)
	asked := ""
	res, err := Promote(t.Context(), env, fxLoad(t, client, "web"), PromoteOptions{Confirm: func(q string) error { asked = q; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(asked, "roll deployment/web-stable to web:2 with 10 replicas, then scale deployment/web-canary to 0") {
		t.Errorf("question = %q", asked)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"patch deployments/web-stable",
		"patch deployments/web-canary replicas=0",
		"patch services/web",
	})
	stable := fxGetDeployment(t, client, "web-stable")
	if stable.Spec.Template.Spec.Containers[0].Image != "web:2" || desiredReplicas(stable) != 10 || stable.Spec.Template.Labels["track"] != "stable" {
		t.Errorf("stable after promote: image %s, replicas %d, labels %v", stable.Spec.Template.Spec.Containers[0].Image, desiredReplicas(stable), stable.Spec.Template.Labels)
	}
	if mu := stable.Spec.Strategy.RollingUpdate; mu == nil || mu.MaxUnavailable.String() != "0" {
		t.Errorf("stable strategy = %+v, want maxUnavailable 0", stable.Spec.Strategy)
	}
	if op, _ := audit.ParseOperation(stable.Annotations); op.Verb != "promote" {
		t.Errorf("stable last-operation = %+v", op)
	}
	svc := fxGetService(t, client, "web")
	if r := fxRelease(t, svc); r.Phase != PhasePromoted || r.WeightSet() != 0 || r.Operation != nil || svc.Annotations[CanaryWeightAnnotation] != "" {
		t.Errorf("service annotations after promote = %v", svc.Annotations)
	}
	if len(res.Changes) != 4 {
		t.Errorf("changes = %+v", res.Changes)
	}

	// Re-running changes nothing.
	client.ClearActions()
	res, err = Promote(t.Context(), env, fxLoad(t, client, "web"), PromoteOptions{Confirm: func(string) error { t.Error("asked again"); return nil }})
	if err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	fxEqual(t, "writes of the re-run", fxWrites(client), nil)
}

func TestPromoteCanaryDeleteAndDecline(t *testing.T) {
	client := fxClient(fxCanary(9, 1, nil)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	declined := errors.New("not confirmed")
	if _, err := Promote(t.Context(), env, fxLoad(t, client, "web"), PromoteOptions{Confirm: func(string) error { return declined }}); !errors.Is(err, declined) {
		t.Fatalf("declined promote: %v", err)
	}
	fxEqual(t, "writes after a declined question", fxWrites(client), nil)
	if _, err := Promote(t.Context(), env, fxLoad(t, client, "web"), PromoteOptions{DeleteCanary: true}); err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"patch deployments/web-stable",
		"delete deployments/web-canary",
		"patch services/web",
	})
}

// Abort scales the stable track back to full capacity before the canary goes to 0.
func TestAbortCanaryOrder(t *testing.T) {
	client := fxClient(fxCanary(7, 3, map[string]string{CanaryWeightAnnotation: "25"})...)
	env, _ := fxEnv(client, audit.DryRunNone)
	res, err := Abort(t.Context(), env, fxLoad(t, client, "web"), AbortOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"patch deployments/web-stable replicas=10",
		"patch deployments/web-canary replicas=0",
		"patch services/web",
	})
	if !strings.Contains(res.Message, "web-stable has 10 replicas") {
		t.Errorf("message = %s", res.Message)
	}
	client.ClearActions()
	res, err = Abort(t.Context(), env, fxLoad(t, client, "web"), AbortOptions{})
	if err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	fxEqual(t, "writes of the re-run", fxWrites(client), nil)
}

// An abort interrupted after the stable scale-up keeps the recorded total.
func TestAbortCanaryResumesWithRecordedTotal(t *testing.T) {
	state := `{"phase":"stepping","verb":"abort","from":25,"weight":0,"total":10,"stable":10,"canary":0}`
	client := fxClientRunning(fxCanary(10, 3, map[string]string{CanaryStateAnnotation: state})...)
	env, _ := fxEnv(client, audit.DryRunNone)
	if _, err := Abort(t.Context(), env, fxLoad(t, client, "web"), AbortOptions{}); err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"patch deployments/web-canary replicas=0",
		"patch services/web",
	})
}

func TestDeployCanaryCreatesAtFirstStep(t *testing.T) {
	client := fxClient(fxCanary(10, -1, map[string]string{CanaryStepsAnnotation: "20,100"})...)
	env, _ := fxEnv(client, audit.DryRunNone)
	res, err := Deploy(t.Context(), env, fxLoad(t, client, "web"), DeployOptions{Images: []ImageSpec{{Image: "web:3"}}})
	if err != nil {
		t.Fatal(err)
	}
	// The step is recorded before anything is created (plan, then apply).
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"create deployments/web-canary",
		"patch deployments/web-canary replicas=2",
		"patch deployments/web-stable replicas=8",
		"patch services/web",
	})
	d := fxGetDeployment(t, client, "web-canary")
	if d.Spec.Template.Labels["track"] != "canary" || d.Spec.Selector.MatchLabels["track"] != "canary" || d.Spec.Template.Spec.Containers[0].Image != "web:3" {
		t.Errorf("canary = labels %v, selector %v, image %s", d.Spec.Template.Labels, d.Spec.Selector.MatchLabels, d.Spec.Template.Spec.Containers[0].Image)
	}
	if !res.Ready || res.Replicas != 2 {
		t.Errorf("result = %+v", res)
	}
}

// An HPA on the stable track stops deploy before it creates the canary.
func TestDeployCanaryRefusesHPABeforeWriting(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: fxNS},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web-stable"}, MaxReplicas: 10},
	}
	client := fxClient(append(fxCanary(10, -1, nil), hpa)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := Deploy(t.Context(), env, fxLoad(t, client, "web"), DeployOptions{Images: []ImageSpec{{Image: "web:3"}}})
	if err == nil || !strings.Contains(err.Error(), "horizontalpodautoscaler/web manages deployment/web-stable") || !strings.Contains(err.Error(), "deployment/web-canary 0→1") {
		t.Fatalf("error = %v", err)
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}
