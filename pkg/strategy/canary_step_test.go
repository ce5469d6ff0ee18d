package strategy

import (
	"errors"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

func TestPlanCanary(t *testing.T) {
	tests := []struct {
		total          int32
		weight         int
		canary, stable int32
		actual         float64
		note           string
		err            string
	}{
		{total: 10, weight: 10, canary: 1, stable: 9, actual: 10},
		{total: 10, weight: 25, canary: 3, stable: 7, actual: 30, note: "25 % of 10 pods is 2.5 pods, rounded to 3: the actual weight is 30 % (3 canary, 7 stable)"},
		{total: 10, weight: 50, canary: 5, stable: 5, actual: 50},
		{total: 10, weight: 100, canary: 10, stable: 0, actual: 100},
		{total: 10, weight: 0, canary: 0, stable: 10, actual: 0},
		{total: 3, weight: 10, canary: 1, stable: 2, actual: 33.3, note: "10 % of 3 pods is 0.3 pods, raised to 1 (a canary above 0 % keeps at least one pod): the actual weight is 33.3 % (1 canary, 2 stable)"},
		{total: 4, weight: 1, canary: 1, stable: 3, actual: 25, note: "1 % of 4 pods is 0.04 pods, raised to 1 (a canary above 0 % keeps at least one pod): the actual weight is 25 % (1 canary, 3 stable)"},
		{total: 3, weight: 50, canary: 2, stable: 1, actual: 66.7, note: "50 % of 3 pods is 1.5 pods, rounded to 2: the actual weight is 66.7 % (2 canary, 1 stable)"},
		{total: 1, weight: 10, err: "leaves the stable track with no pod"},
		{total: 2, weight: 90, err: "leaves the stable track with no pod"},
		{total: 0, weight: 10, err: "0 replicas"},
	}
	for _, tt := range tests {
		p, err := planCanary(tt.total, tt.weight)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("planCanary(%d, %d) error = %v, want %q", tt.total, tt.weight, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("planCanary(%d, %d): %v", tt.total, tt.weight, err)
			continue
		}
		if p.Canary != tt.canary || p.Stable != tt.stable || p.ActualWeight != tt.actual || p.Note != tt.note {
			t.Errorf("planCanary(%d, %d) = %d canary, %d stable, %v %%, note %q; want %d, %d, %v %%, %q", tt.total, tt.weight, p.Canary, p.Stable, p.ActualWeight, p.Note, tt.canary, tt.stable, tt.actual, tt.note)
		}
		if p.Canary+p.Stable != tt.total {
			t.Errorf("planCanary(%d, %d) does not keep the total", tt.total, tt.weight)
		}
	}
}

func TestParseSteps(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  string
	}{
		{in: "10,25,50,100", want: []int{10, 25, 50, 100}},
		{in: " 5, 20% ,100", want: []int{5, 20, 100}},
		{in: "50", want: []int{50}},
		{in: "10,10,50", err: "steps must increase (10 after 10)"},
		{in: "50,25", err: "steps must increase (25 after 50)"},
		{in: "0,50", err: "0 is not between 1 and 100"},
		{in: "10,101", err: "101 is not between 1 and 100"},
		{in: "10,abc", err: `"abc" is not a whole number`},
		{in: "", err: "not a whole number"},
	}
	for _, tt := range tests {
		got, err := ParseSteps(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSteps(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || stepsText(got) != stepsText(tt.want) {
			t.Errorf("ParseSteps(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, w := range []int{-1, 101} {
		if ValidateWeight(w) == nil {
			t.Errorf("ValidateWeight(%d) accepted", w)
		}
	}
	for _, w := range []int{0, 1, 100} {
		if err := ValidateWeight(w); err != nil {
			t.Errorf("ValidateWeight(%d): %v", w, err)
		}
	}
}

func TestCanaryStepsFromAnnotation(t *testing.T) {
	client := fxClient(fxCanary(9, 1, map[string]string{CanaryStepsAnnotation: "20,60,100"})...)
	c := fxLoad(t, client, "web")
	steps, err := CanarySteps(c, nil)
	if err != nil || stepsText(steps) != "20,60,100" {
		t.Fatalf("steps = %v, %v", steps, err)
	}
	if steps, _ := CanarySteps(c, []int{5, 100}); stepsText(steps) != "5,100" {
		t.Errorf("--steps did not win: %v", steps)
	}
	c.Service.Annotations[CanaryStepsAnnotation] = "60,20"
	if _, err := CanarySteps(c, nil); err == nil || !strings.Contains(err.Error(), CanaryStepsAnnotation) {
		t.Errorf("bad annotation: %v", err)
	}
}

// The step scales the canary up first, waits, then the stable down; the target is recorded
// on the Service before either.
func TestCanaryStepOrderAndRecord(t *testing.T) {
	objs := append(fxCanary(9, 1, nil), fxPods("web-canary", map[string]string{"app": "web", "track": "canary"}, 1, 0)...)
	client := fxClient(objs...)
	env, rec := fxEnv(client, audit.DryRunNone)
	c := fxLoad(t, client, "web")
	res, err := CanaryStep(t.Context(), env, c, CanaryStepOptions{Weight: -1})
	if err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"patch deployments/web-canary replicas=3",
		"patch deployments/web-stable replicas=7",
		"patch services/web",
	})
	if res.FromWeight != 10 || res.Plan.Weight != 25 || res.Plan.Canary != 3 || res.Plan.Stable != 7 || !res.Changed {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(res.Message, "actual weight is 30 %") {
		t.Errorf("message does not explain the rounding: %s", res.Message)
	}
	svc := fxGetService(t, client, "web")
	recd := fxRelease(t, svc)
	if recd.Phase != PhaseCanary || recd.WeightSet() != 25 || recd.Step != 2 || recd.Operation != nil || recd.Health == nil || !recd.Health.Since.Equal(fxNow) {
		t.Errorf("release record = %+v", recd)
	}
	if _, ok := svc.Annotations[CanaryWeightAnnotation]; ok {
		t.Errorf("the older weight annotation is still there: %v", svc.Annotations)
	}
	op, ok := audit.ParseOperation(fxGetDeployment(t, client, "web-canary").Annotations)
	if !ok || op.Verb != "canary-step" || op.User != "alice" || op.To != "replicas=3" {
		t.Errorf("canary last-operation = %+v", op)
	}
	if !containsLine(rec.Messages(), "waiting for canary deployment/web-canary to have 3 ready pods") {
		t.Errorf("progress = %q", rec.Messages())
	}

	// Re-running goes to the next step (the fake has no kubelet to create the new pods, so
	// the gate is skipped); at the last step it changes nothing.
	for _, want := range []int{50, 100} {
		c = fxLoad(t, client, "web")
		res, err = CanaryStep(t.Context(), env, c, CanaryStepOptions{Weight: -1, Force: true})
		if err != nil || res.Plan.Weight != want {
			t.Fatalf("step to %d: %+v, %v", want, res, err)
		}
	}
	client.ClearActions()
	c = fxLoad(t, client, "web")
	res, err = CanaryStep(t.Context(), env, c, CanaryStepOptions{Weight: -1})
	if err != nil || res.Changed || !strings.Contains(res.Message, "last step") {
		t.Fatalf("after the last step: %+v, %v", res, err)
	}
	fxEqual(t, "writes after the last step", fxWrites(client), nil)
}

// Going down in weight grows the stable track first.
func TestCanaryStepDownGrowsStableFirst(t *testing.T) {
	client := fxClient(fxCanary(5, 5, map[string]string{CanaryWeightAnnotation: "50"})...)
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: 10, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch services/web",
		"patch deployments/web-stable replicas=9",
		"patch deployments/web-canary replicas=1",
		"patch services/web",
	})
}

// A run interrupted after the canary scale-up is completed by the next one: it does not
// patch the canary again, and it scales the stable down to the recorded count.
func TestCanaryStepResumes(t *testing.T) {
	state := `{"phase":"stepping","verb":"canary-step","from":10,"weight":25,"total":10,"stable":7,"canary":3}`
	objs := fxCanary(9, 3, map[string]string{CanaryStateAnnotation: state, CanaryWeightAnnotation: "25"})
	client := fxClientRunning(objs...)
	env, rec := fxEnv(client, audit.DryRunNone)
	res, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.Plan.Stable != 7 || res.Plan.Canary != 3 {
		t.Errorf("result = %+v", res)
	}
	fxEqual(t, "writes", fxWrites(client), []string{
		"patch deployments/web-stable replicas=7",
		"patch services/web",
	})
	if !containsLine(rec.Messages(), "resuming the interrupted canary-step of web to 25 %") {
		t.Errorf("progress = %q", rec.Messages())
	}
	if r := fxRelease(t, fxGetService(t, client, "web")); r.Operation != nil || r.WeightSet() != 25 {
		t.Errorf("record after resume = %+v", r)
	}
}

func TestCanaryStepHealthGate(t *testing.T) {
	canaryLabels := map[string]string{"app": "web", "track": "canary"}
	baseline := `{"phase":"done","verb":"canary-step","from":0,"weight":10,"total":10,"stable":9,"canary":1,"since":"2026-11-26T09:30:00Z","restarts":{"web-canary-0":2}}`
	unready := fxPods("web-canary", canaryLabels, 1, 0)[0].(*corev1.Pod)
	unready.Status.Conditions[0].Status = corev1.ConditionFalse
	warning := func(reason string, at metav1.Time) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "ev-" + reason, Namespace: fxNS},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-canary-0", Namespace: fxNS},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: "Back-off restarting failed container", LastTimestamp: at,
		}
	}
	tests := []struct {
		name  string
		objs  []runtime.Object
		force bool
		want  string // "" passes
	}{
		{name: "healthy", objs: fxPods("web-canary", canaryLabels, 1, 2)},
		{name: "restart since the last step", objs: fxPods("web-canary", canaryLabels, 1, 3), want: "pod web-canary-0 restarted 1 times since the last step"},
		{name: "unready", objs: []runtime.Object{unready}, want: "1 of 1 pods not ready (web-canary-0)"},
		{name: "missing pod", want: "0 of 1 pods exist"},
		{name: "new warning event", objs: append(fxPods("web-canary", canaryLabels, 1, 2), warning("BackOff", metav1.NewTime(fxNow.Add(-5*time.Minute)))), want: "Warning BackOff on pod web-canary-0: Back-off restarting failed container"},
		{name: "old warning event", objs: append(fxPods("web-canary", canaryLabels, 1, 2), warning("BackOff", metav1.NewTime(fxNow.Add(-2*time.Hour))))},
		{name: "forced", objs: fxPods("web-canary", canaryLabels, 1, 9), force: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append(fxCanary(9, 1, map[string]string{CanaryStateAnnotation: baseline, CanaryWeightAnnotation: "10"}), tt.objs...)
			client := fxClient(objs...)
			env, _ := fxEnv(client, audit.DryRunNone)
			res, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: -1, Force: tt.force})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.force && (res.Gate == nil || !res.Gate.Forced) {
					t.Errorf("gate = %+v", res.Gate)
				}
				if tt.force {
					op, _ := audit.ParseOperation(fxGetService(t, client, "web").Annotations)
					if !strings.Contains(op.Reason, "--force") {
						t.Errorf("forced step not recorded: %+v", op)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing changed") {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			fxEqual(t, "writes", fxWrites(client), nil)
		})
	}
}

func TestCanaryStepRefusals(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: fxNS},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web-stable", APIVersion: "apps/v1"},
			MaxReplicas:    10,
		},
	}
	rolling := []runtime.Object{fxNamespace(), fxService("api", map[string]string{"app": "api"}, nil), fxDeployment("api", 3, "api:1", map[string]string{"app": "api"})}
	tests := []struct {
		name string
		objs []runtime.Object
		comp string
		want string
	}{
		{name: "hpa", objs: append(fxCanary(9, 1, nil), hpa), comp: "web", want: "horizontalpodautoscaler/web manages deployment/web-stable (min 1, max 10): the canary step would set deployment/web-canary 1→3 and deployment/web-stable 9→7"},
		{name: "rolling", objs: rolling, comp: "api", want: "component api is rolling, not canary"},
		{name: "no canary", objs: fxCanary(9, -1, nil), comp: "web", want: "has no canary deployment"},
		{name: "one pod", objs: fxCanary(1, 0, nil), comp: "web", want: "leaves the stable track with no pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fxClient(tt.objs...)
			env, _ := fxEnv(client, audit.DryRunNone)
			_, err := CanaryStep(t.Context(), env, fxLoad(t, client, tt.comp), CanaryStepOptions{Weight: -1})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			fxEqual(t, "writes", fxWrites(client), nil)
		})
	}
}

func TestCanaryStepDryRun(t *testing.T) {
	for _, mode := range []audit.DryRun{audit.DryRunClient, audit.DryRunServer} {
		t.Run(string(mode), func(t *testing.T) {
			client := fxClient(append(fxCanary(9, 1, nil), fxPods("web-canary", map[string]string{"app": "web", "track": "canary"}, 1, 0)...)...)
			env, _ := fxEnv(client, mode)
			res, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: 50})
			if err != nil {
				t.Fatal(err)
			}
			if res.DryRun != string(mode) || len(res.Changes) != 3 {
				t.Errorf("result = %+v", res)
			}
			for _, a := range client.Actions() {
				if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
					continue
				}
				if mode == audit.DryRunClient {
					t.Errorf("client dry run sent %s %s", a.GetVerb(), a.GetResource().Resource)
				} else if pa, ok := a.(k8stesting.PatchActionImpl); ok && len(pa.PatchOptions.DryRun) == 0 {
					t.Errorf("server dry run sent a real patch of %s", pa.GetName())
				}
			}
			// The fake applies dryRun=All patches (the apiserver would not): check client mode.
			if d := fxGetDeployment(t, client, "web-canary"); mode == audit.DryRunClient && desiredReplicas(d) != 1 {
				t.Errorf("canary replicas changed to %d", desiredReplicas(d))
			}
		})
	}
}

// Two runs at once: the Service's resourceVersion precondition stops the second one before
// it scales anything.
func TestCanaryStepConflict(t *testing.T) {
	client := fxClient(fxCanary(9, 1, nil)...)
	client.PrependReactor("patch", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errConflict
	})
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: 25, Force: true})
	if err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Fatalf("error = %v", err)
	}
	for _, w := range fxWrites(client) {
		if strings.Contains(w, "deployments") {
			t.Errorf("scaled after a conflict: %s", w)
		}
	}
}

var errConflict = apierrors.NewConflict(schema.GroupResource{Resource: "services"}, "web", errors.New("the object has been modified"))

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}
