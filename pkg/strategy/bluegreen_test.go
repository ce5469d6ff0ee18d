package strategy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/window"
)

func switchOpts(component, color string) SwitchOptions {
	return SwitchOptions{Namespace: bgNS, Component: component, Color: color, VerifyTimeout: 5 * time.Second}
}

func TestSwitchVerified(t *testing.T) {
	objs := append(bgComponent("api", "blue", nil), bgNamespace(nil))
	env, cs, _ := bgEnv(t, objs...)
	res, err := Switch(context.Background(), env, switchOpts("api", "green"))
	if err != nil {
		t.Fatalf("switch: %v", err)
	}
	if !res.Changed || len(res.Components) != 1 || !res.Components[0].Verified || res.Components[0].ReadyEndpoints != 2 {
		t.Fatalf("result = %+v", res)
	}
	writes := writeActions(cs)
	if len(writes) != 1 || writes[0].GetVerb() != "patch" || writes[0].(k8stesting.PatchActionImpl).PatchType != "application/json-patch+json" {
		t.Fatalf("want one JSON patch, got %v", writes)
	}
	patch := string(writes[0].(k8stesting.PatchActionImpl).Patch)
	if !strings.Contains(patch, `{"op":"test","path":"/spec/selector/version","value":"blue"}`) {
		t.Errorf("patch has no precondition on the old color: %s", patch)
	}
	svc := getService(t, cs, "api")
	if r := fxRelease(t, svc); svc.Spec.Selector["version"] != "green" || r.Previous != "blue" || r.Live != "green" || r.Phase != PhaseSwitched || r.Workloads["green"].UID == "" {
		t.Errorf("service after switch: selector %v, annotations %v", svc.Spec.Selector, svc.Annotations)
	}
	op, ok := audit.ParseOperation(svc.Annotations)
	if !ok || op.Verb != "switch" || op.From != "blue" || op.To != "green" || op.User != "alice" {
		t.Errorf("last operation = %+v", op)
	}
	if countEvents(cs) != 1 {
		t.Errorf("want one Event, got %d", countEvents(cs))
	}
	// Re-running changes nothing.
	cs.ClearActions()
	env2 := *env
	res, err = Switch(context.Background(), &env2, switchOpts("api", "green"))
	if err != nil || res.Changed || len(writeActions(cs)) != 0 || countEvents(cs) != 0 {
		t.Fatalf("second switch: err %v, changed %v, writes %v", err, res.Changed, writeActions(cs))
	}
}

func TestSwitchRequests(t *testing.T) {
	objs := append(bgComponent("api", "blue", nil), bgNamespace(nil))
	env, cs, _ := bgEnv(t, objs...)
	if _, err := Switch(context.Background(), env, switchOpts("api", "green")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range cs.Actions() {
		got = append(got, a.GetVerb()+" "+a.GetResource().Resource)
	}
	// GET service, LIST deployments, GET namespace, LIST autoscalers (in parallel: the
	// record does not say yet whether one scales a color), PATCH, then WATCH endpointslices
	// and the Event (in parallel). No LIST of pods: the target is fully available.
	if len(got) != 7 {
		t.Errorf("a verified switch should cost 7 requests, got %d: %v", len(got), got)
	}
}

// TestSwitchRequestsWithTheRecord: once a switch recorded that no autoscaler scales the
// component's colors, the next one does not list them: six requests, the goal of issue 10.
func TestSwitchRequestsWithTheRecord(t *testing.T) {
	objs := append(bgComponent("api", "blue", nil), bgNamespace(nil))
	env, cs, _ := bgEnv(t, objs...)
	if _, err := Switch(context.Background(), env, switchOpts("api", "green")); err != nil {
		t.Fatal(err)
	}
	cs.ClearActions()
	env2 := *env
	if _, err := Switch(context.Background(), &env2, switchOpts("api", "blue")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range cs.Actions() {
		got = append(got, a.GetVerb()+" "+a.GetResource().Resource)
		if a.GetResource().Resource == "horizontalpodautoscalers" || a.GetResource().Resource == "pods" {
			t.Errorf("the second switch read %s: the record said none scale a color and the target is fully available", a.GetResource().Resource)
		}
	}
	if len(got) != 6 {
		t.Errorf("a verified switch should cost 6 requests, got %d: %v", len(got), got)
	}
	// autoscale resets what the record saw, so that the next switch moves the new HPA.
	c, err := Resolve(context.Background(), cs, bgNS, "api", Keys{}, false, BlueGreen)
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := c.Release(); rec.Autoscalers == nil {
		t.Fatalf("the switch did not record the autoscalers it saw: %+v", rec)
	}
	env3 := *env
	if _, err := Autoscale(context.Background(), &env3, c, AutoscaleOptions{Min: 2, Max: 4, CPUPercent: 70}); err != nil {
		t.Fatal(err)
	}
	c, err = Resolve(context.Background(), cs, bgNS, "api", Keys{}, false, BlueGreen)
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := c.Release(); rec.Autoscalers != nil {
		t.Fatalf("autoscale left the record's autoscalers: %+v", rec.Autoscalers)
	}
	env4 := *env
	if _, err := Switch(context.Background(), &env4, switchOpts("api", "green")); err != nil {
		t.Fatal(err)
	}
	obj, err := cs.Tracker().Get(autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"), bgNS, "api")
	if err != nil || obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef.Name != "api-green" {
		t.Fatalf("the HPA made by autoscale did not follow the switch: %v (%v)", obj, err)
	}
}

func TestSwitchMovesTheAutoscaler(t *testing.T) {
	hpa := bgHPA("api", "api-blue")
	env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil), hpa)...)
	res, err := Switch(context.Background(), env, switchOpts("api", "green"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := cs.Tracker().Get(autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers"), bgNS, "api")
	if err != nil || obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef.Name != "api-green" {
		t.Fatalf("the HPA still targets %v (%v)", obj, err)
	}
	found := false
	for _, ch := range res.Components[0].Changes {
		found = found || ch.Object == "horizontalpodautoscaler/api"
	}
	if !found {
		t.Errorf("the HPA move is not in the result: %+v", res.Components[0].Changes)
	}
}

func TestSwitchRefusals(t *testing.T) {
	mutate := func(objs []runtime.Object, f func(runtime.Object)) []runtime.Object {
		for _, o := range objs {
			f(o)
		}
		return objs
	}
	onGreen := func(f func(d *appsv1.Deployment)) func(runtime.Object) {
		return func(o runtime.Object) {
			if d, ok := o.(*appsv1.Deployment); ok && d.Name == "api-green" {
				f(d)
			}
		}
	}
	onGreenPod := func(f func(p *corev1.Pod)) func(runtime.Object) {
		return func(o runtime.Object) {
			if p, ok := o.(*corev1.Pod); ok && p.Name == "api-green-0" {
				f(p)
			}
		}
	}
	// A pod that is not Ready is counted so by the Deployment's status too.
	oneNotReady := onGreen(func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 1; d.Status.AvailableReplicas = 1 })
	tests := []struct {
		name  string
		objs  []runtime.Object
		color string
		want  string
	}{
		{"target not ready", mutate(bgComponent("api", "blue", nil), onGreen(func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 1; d.Status.AvailableReplicas = 1 })), "green", "is not fully available: desired 2, updated 2, ready 1"},
		{"target scaled to 0", mutate(bgComponent("api", "blue", nil), onGreen(func(d *appsv1.Deployment) {
			z := int32(0)
			d.Spec.Replicas = &z
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 3}
		})), "green", "has 0 replicas"},
		{"generation not observed", mutate(bgComponent("api", "blue", nil), onGreen(func(d *appsv1.Deployment) { d.Generation = 4 })), "green", "not yet observed"},
		{"pod image failing", mutate(mutate(bgComponent("api", "blue", nil), oneNotReady), onGreenPod(func(p *corev1.Pod) {
			p.Status.Conditions[0].Status = corev1.ConditionFalse
			p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}
		})), "green", "api-green-0 (ImagePullBackOff)"},
		{"init container not done", mutate(mutate(bgComponent("api", "blue", nil), oneNotReady), onGreenPod(func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		})), "green", "init container migrate not completed"},
		{"targetPort not on the pods", mutate(bgComponent("api", "blue", nil), onGreen(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Ports[0].Name = "web" })), "green", `targets port name "http", which the pod template of deployment api-green does not declare (its ports: web=8080)`},
		{"targetPort not on a pod listed", mutate(mutate(bgComponent("api", "blue", nil), oneNotReady), onGreenPod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "web" })), "green", `targets port name "http", which pod api-green-0 does not declare (its ports: web=8080)`},
		{"unknown color", bgComponent("api", "blue", nil), "purple", "unknown color \"purple\" for api: no deployment with version=purple or named api-purple (colors: blue, green)"},
		{"gitops owned", bgComponent("api", "blue", map[string]string{"argocd.argoproj.io/tracking-id": "shop:/Service:shop/api"}), "green", "managed by Argo CD"},
		{"flux owned", mutate(bgComponent("api", "blue", nil), func(o runtime.Object) {
			if s, ok := o.(*corev1.Service); ok {
				s.Labels = map[string]string{"kustomize.toolkit.fluxcd.io/name": "apps"}
			}
		}), "green", "managed by Flux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, cs, _ := bgEnv(t, append(tt.objs, bgNamespace(nil))...)
			_, err := Switch(context.Background(), env, switchOpts("api", tt.color))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("a refusal must say nothing changed: %v", err)
			}
			if w := writeActions(cs); len(w) != 0 || countEvents(cs) != 0 {
				t.Errorf("a refused switch wrote %v", w)
			}
		})
	}
}

func TestSwitchNotBlueGreen(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: bgNS}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	d := bgDeployment("web", "blue", 1, "img")
	d.Spec.Template.Labels = map[string]string{"app": "web"}
	env, cs, _ := bgEnv(t, svc, d, bgNamespace(nil))
	_, err := Switch(context.Background(), env, switchOpts("web", "green"))
	if err == nil || !strings.Contains(err.Error(), `has no color key "version"`) || !strings.Contains(err.Error(), "--color-key") {
		t.Fatalf("error = %v", err)
	}
	if len(writeActions(cs)) != 0 {
		t.Error("wrote")
	}
}

func TestSwitchWindow(t *testing.T) {
	// Closed all day on the fixture's Thursday: Mon 09:00-10:00 only.
	closed := map[string]string{window.WindowAnnotation: "Mon 09:00-10:00 UTC"}
	env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(closed))...)
	_, err := Switch(context.Background(), env, switchOpts("api", "green"))
	var wc *WindowClosedError
	if !errors.As(err, &wc) && (err == nil || !strings.Contains(err.Error(), "outside the deployment window")) {
		t.Fatalf("error = %v, want a closed window", err)
	}
	if !strings.Contains(err.Error(), "--override-window") || len(writeActions(cs)) != 0 {
		t.Fatalf("error %v, writes %v", err, writeActions(cs))
	}
	// A switch to the live color writes nothing, so the window does not stop it.
	if res, err := Switch(context.Background(), env, switchOpts("api", "blue")); err != nil || res.Changed {
		t.Fatalf("no-op outside the window: %v", err)
	}
	// Overridden: switches and records why.
	env.Writer.OverrideWindow = "hotfix INC-42"
	if _, err := Switch(context.Background(), env, switchOpts("api", "green")); err != nil {
		t.Fatalf("overridden: %v", err)
	}
	op, _ := audit.ParseOperation(getService(t, cs, "api").Annotations)
	if op.Override != "hotfix INC-42" {
		t.Errorf("override not recorded: %+v", op)
	}
}

func TestSwitchForceGitOps(t *testing.T) {
	env, cs, rec := bgEnv(t, append(bgComponent("api", "blue", map[string]string{"argocd.argoproj.io/tracking-id": "x"}), bgNamespace(nil))...)
	o := switchOpts("api", "green")
	o.Force = true
	res, err := Switch(context.Background(), env, o)
	if err != nil || !res.Changed || len(res.Components[0].Warnings) != 1 {
		t.Fatalf("forced switch: %v %+v", err, res)
	}
	if getService(t, cs, "api").Spec.Selector["version"] != "green" {
		t.Error("not switched")
	}
	if !strings.Contains(strings.Join(rec.Messages(), "\n"), "may revert the switch") {
		t.Errorf("no warning reported: %v", rec.Messages())
	}
}

func TestSwitchConflict(t *testing.T) {
	env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil))...)
	// Another switch got there first: the JSON patch test of the old color fails.
	// The apiserver's answer to a failed JSON patch test: 422 with json-patch's message as
	// the status cause.
	cs.PrependReactor("patch", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewGenericServerResponse(422, "", schema.GroupResource{}, "", "testing value /spec/selector/version failed: test failed", 0, false)
	})
	_, err := Switch(context.Background(), env, switchOpts("api", "green"))
	var ce *ConflictError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "conflict") || !strings.Contains(err.Error(), "expected version=blue") {
		t.Fatalf("error = %v, want a conflict", err)
	}
	if countEvents(cs) != 0 {
		t.Error("an Event was recorded for a failed switch")
	}
}

func TestSwitchForbidden(t *testing.T) {
	env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil))...)
	cs.PrependReactor("patch", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "api", errors.New(`User "bob" cannot patch resource "services"`))
	})
	_, err := Switch(context.Background(), env, switchOpts("api", "green"))
	if err == nil || !strings.Contains(err.Error(), "missing permission `patch services` in namespace shop") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("error = %v", err)
	}
}

func TestSwitchAll(t *testing.T) {
	objs := append(append(bgComponent("api", "blue", nil), bgComponent("web", "blue", nil)...), bgNamespace(nil))
	t.Run("both switch", func(t *testing.T) {
		env, cs, _ := bgEnv(t, objs...)
		o := switchOpts("", "green")
		o.All = true
		res, err := Switch(context.Background(), env, o)
		if err != nil || len(res.Components) != 2 {
			t.Fatalf("%v %+v", err, res)
		}
		for _, n := range []string{"api", "web"} {
			if getService(t, cs, n).Spec.Selector["version"] != "green" {
				t.Errorf("%s not switched", n)
			}
		}
	})
	t.Run("a failed second patch switches the first back", func(t *testing.T) {
		env, cs, _ := bgEnv(t, objs...)
		cs.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.(k8stesting.PatchActionImpl).Name == "web" {
				return true, nil, apierrors.NewInternalError(errors.New("etcd unavailable"))
			}
			return false, nil, nil
		})
		o := switchOpts("", "green")
		o.All = true
		_, err := Switch(context.Background(), env, o)
		if err == nil || !strings.Contains(err.Error(), "switched api back to blue") {
			t.Fatalf("error = %v", err)
		}
		svc := getService(t, cs, "api")
		if svc.Spec.Selector["version"] != "blue" {
			t.Errorf("api left on %s", svc.Spec.Selector["version"])
		}
		if _, ok := svc.Annotations[PreviousColorAnnotation]; ok {
			t.Errorf("previous-color not restored: %v", svc.Annotations)
		}
	})
	t.Run("one refusal stops all", func(t *testing.T) {
		objs := append(append(bgComponent("api", "blue", nil), bgComponent("web", "blue", map[string]string{"argocd.argoproj.io/tracking-id": "x"})...), bgNamespace(nil))
		env, cs, _ := bgEnv(t, objs...)
		o := switchOpts("", "green")
		o.All = true
		if _, err := Switch(context.Background(), env, o); err == nil || len(writeActions(cs)) != 0 {
			t.Fatalf("err %v writes %v", err, writeActions(cs))
		}
	})
	t.Run("missing patch permission is found before the first write", func(t *testing.T) {
		env, cs, _ := bgEnv(t, objs...)
		cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
			r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
			r.Status.Allowed = false
			return true, r, nil
		})
		o := switchOpts("", "green")
		o.All = true
		_, err := Switch(context.Background(), env, o)
		if err == nil || !strings.Contains(err.Error(), "missing permission `patch services`") || len(writeActions(cs)) != 0 {
			t.Fatalf("err %v writes %v", err, writeActions(cs))
		}
	})
}

func TestSwitchDryRun(t *testing.T) {
	for _, mode := range []audit.DryRun{audit.DryRunClient, audit.DryRunServer} {
		t.Run(string(mode), func(t *testing.T) {
			env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil))...)
			env.Writer.DryRun = mode
			res, err := Switch(context.Background(), env, switchOpts("api", "green"))
			if err != nil || res.DryRun != string(mode) || len(res.Components[0].Changes) == 0 {
				t.Fatalf("%v %+v", err, res)
			}
			writes := writeActions(cs)
			switch mode {
			case audit.DryRunClient:
				if len(writes) != 0 {
					t.Errorf("client dry run sent %v", writes)
				}
			case audit.DryRunServer:
				if len(writes) != 1 || strings.Join(writes[0].(k8stesting.PatchActionImpl).PatchOptions.DryRun, "") != metav1.DryRunAll {
					t.Errorf("server dry run must send the patch with dryRun=All: %v", writes)
				}
			}
			if countEvents(cs) != 0 {
				t.Error("a dry run recorded an Event")
			}
		})
	}
}

func TestTargetPortResolves(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
	bare := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}
	tests := []struct {
		port corev1.ServicePort
		pod  *corev1.Pod
		want bool
	}{
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, pod, true},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("web")}, pod, false},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}, pod, true},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}, pod, false},
		{corev1.ServicePort{Port: 8080}, pod, true},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}, bare, true},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, bare, false},
		{corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("http")}, pod, false},
	}
	for i, tt := range tests {
		if got := targetPortResolves(tt.port, tt.pod); got != tt.want {
			t.Errorf("%d: targetPortResolves(%v) = %v, want %v", i, tt.port.TargetPort, got, tt.want)
		}
	}
}

// switched is the state after `switch green` from blue at bgNow-1h: blue untouched since.
func switched(app string) []runtime.Object {
	op := audit.Operation{Verb: "switch", From: "blue", To: "green", User: "alice", Time: bgNow.Add(-time.Hour)}
	return bgComponent(app, "green", map[string]string{PreviousColorAnnotation: "blue", audit.LastOperationAnnotation: op.Annotation()})
}

func loadBG(t *testing.T, env *Env, name string) *Component {
	t.Helper()
	c, err := Load(context.Background(), env.Client, bgNS, name, Keys{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPromoteBlueGreen(t *testing.T) {
	t.Run("after a switch: scale the old color down", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(switched("api"), bgNamespace(nil))...)
		var asked string
		res, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{ScaleDownDelay: 30 * time.Second, Confirm: func(q string) error { asked = q; return nil }})
		if err != nil || !res.Changed {
			t.Fatalf("%v %+v", err, res)
		}
		if !strings.Contains(asked, "scale api-blue (color blue, img:1) from 2 replicas to 0") {
			t.Errorf("question = %q", asked)
		}
		if r := desiredReplicas(getDeployment(t, cs, "api-blue")); r != 0 {
			t.Errorf("blue replicas = %d", r)
		}
		if getService(t, cs, "api").Spec.Selector["version"] != "green" {
			t.Error("traffic moved")
		}
		// Re-run: nothing to do.
		cs.ClearActions()
		res, err = Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{})
		if err != nil || res.Changed || len(writeActions(cs)) != 0 {
			t.Fatalf("re-run: %v %+v %v", err, res, writeActions(cs))
		}
	})
	t.Run("a pending release: switch first, then scale down", func(t *testing.T) {
		objs := append(bgComponent("api", "blue", nil), bgNamespace(nil))
		for _, o := range objs {
			if d, ok := o.(*appsv1.Deployment); ok && d.Name == "api-green" {
				d.ManagedFields[0].Time = &metav1.Time{Time: bgNow.Add(-time.Minute)}
			}
		}
		env, cs, _ := bgEnv(t, objs...)
		res, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{})
		if err != nil || !res.Changed {
			t.Fatalf("%v %+v", err, res)
		}
		if getService(t, cs, "api").Spec.Selector["version"] != "green" || desiredReplicas(getDeployment(t, cs, "api-blue")) != 0 {
			t.Error("not switched and scaled down")
		}
		op, _ := audit.ParseOperation(getService(t, cs, "api").Annotations)
		if op.Verb != "promote" {
			t.Errorf("service op verb = %q", op.Verb)
		}
	})
	t.Run("not confirmed: the switch stays, nothing scaled", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(switched("api"), bgNamespace(nil))...)
		_, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{Confirm: func(string) error { return errors.New("not confirmed") }})
		if err == nil || len(writeActions(cs)) != 0 {
			t.Fatalf("%v %v", err, writeActions(cs))
		}
	})
	t.Run("keep old", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(switched("api"), bgNamespace(nil))...)
		if _, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{KeepOld: true}); err != nil || len(writeActions(cs)) != 0 {
			t.Fatalf("%v %v", err, writeActions(cs))
		}
	})
	t.Run("interrupted during the delay", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(switched("api"), bgNamespace(nil))...)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Promote(ctx, env, loadBG(t, env, "api"), PromoteOptions{ScaleDownDelay: 2 * time.Hour})
		if err == nil || !strings.Contains(err.Error(), "re-run `kubectl feastflow promote api` to finish") || len(writeActions(cs)) != 1 {
			t.Fatalf("%v %v", err, writeActions(cs))
		}
		// Only the record was written: the promote in progress, for the re-run to finish.
		if r := fxRelease(t, getService(t, cs, "api")); r.Phase != PhasePromoting || r.Operation == nil || r.Operation.Target != "blue=0" {
			t.Errorf("record = %+v", r)
		}
	})
}

func TestAbortBlueGreen(t *testing.T) {
	objs := append(bgComponent("api", "blue", nil), bgNamespace(nil))
	env, cs, _ := bgEnv(t, objs...)
	res, err := Abort(context.Background(), env, loadBG(t, env, "api"), AbortOptions{})
	if err != nil || !res.Changed || desiredReplicas(getDeployment(t, cs, "api-green")) != 0 {
		t.Fatalf("%v %+v", err, res)
	}
	cs.ClearActions()
	if res, err := Abort(context.Background(), env, loadBG(t, env, "api"), AbortOptions{}); err != nil || res.Changed || len(writeActions(cs)) != 0 {
		t.Fatalf("re-run: %v", err)
	}
	// After a switch there is nothing to abort: rollback is the verb.
	env, cs, _ = bgEnv(t, append(switched("api"), bgNamespace(nil))...)
	if _, err := Abort(context.Background(), env, loadBG(t, env, "api"), AbortOptions{}); err == nil || !strings.Contains(err.Error(), "rollback") || len(writeActions(cs)) != 0 {
		t.Fatalf("abort after switch: %v", err)
	}
}

func TestRollbackBlueGreen(t *testing.T) {
	t.Run("no previous color", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil))...)
		_, err := Rollback(context.Background(), env, loadBG(t, env, "api"), RollbackOptions{})
		if err == nil || !strings.Contains(err.Error(), "names no previous color") || len(writeActions(cs)) != 0 {
			t.Fatalf("%v", err)
		}
	})
	t.Run("previous color scaled down: scale up, wait, switch back", func(t *testing.T) {
		objs := append(switched("api"), bgNamespace(nil))
		for _, o := range objs {
			if d, ok := o.(*appsv1.Deployment); ok && d.Name == "api-blue" {
				z := int32(0)
				d.Spec.Replicas = &z
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: 3}
			}
		}
		env, cs, _ := bgEnv(t, objs...)
		bgAutoReady(cs)
		res, err := Rollback(context.Background(), env, loadBG(t, env, "api"), RollbackOptions{Timeout: 5 * time.Second, VerifyTimeout: 5 * time.Second})
		if err != nil || !res.Changed {
			t.Fatalf("%v %+v", err, res)
		}
		if r := desiredReplicas(getDeployment(t, cs, "api-blue")); r != 2 {
			t.Errorf("blue scaled to %d, want the live color's 2", r)
		}
		svc := getService(t, cs, "api")
		op, _ := audit.ParseOperation(svc.Annotations)
		if svc.Spec.Selector["version"] != "blue" || op.Verb != "rollback" {
			t.Fatalf("selector %v op %+v", svc.Spec.Selector, op)
		}
		// Re-run: nothing changes (it does not toggle back).
		cs.ClearActions()
		res, err = Rollback(context.Background(), env, loadBG(t, env, "api"), RollbackOptions{})
		if err != nil || res.Changed || len(writeActions(cs)) != 0 {
			t.Fatalf("re-run: %v %+v", err, writeActions(cs))
		}
	})
}

func TestCheckWindow(t *testing.T) {
	ns := bgNamespace(map[string]string{window.WindowAnnotation: "Mon 09:00-10:00 UTC"})
	env, _, rec := bgEnv(t, ns)
	_, err := CheckWindow(context.Background(), env, bgNS)
	var wc *WindowClosedError
	if !errors.As(err, &wc) || wc.Status.NextOpen.IsZero() || !strings.Contains(err.Error(), "next opening 2026-11-30T09:00:00Z") {
		t.Fatalf("error = %v", err)
	}
	env.Writer.OverrideWindow = "incident"
	if _, err := CheckWindow(context.Background(), env, bgNS); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rec.Messages(), "\n"), "overridden: incident") {
		t.Errorf("override not reported: %v", rec.Messages())
	}
	bad := bgNamespace(map[string]string{window.WindowAnnotation: "Funday 09:00-10:00"})
	env, _, _ = bgEnv(t, bad)
	if _, err := CheckWindow(context.Background(), env, bgNS); err == nil || !strings.Contains(err.Error(), window.WindowAnnotation) {
		t.Fatalf("parse error = %v", err)
	}
}

func TestParseImageSpecAndSetImages(t *testing.T) {
	for _, bad := range []string{"", "=img", "a=", "img with space"} {
		if _, err := ParseImageSpec(bad); err == nil {
			t.Errorf("ParseImageSpec(%q) accepted", bad)
		}
	}
	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "app:1"}, {Name: "other", Image: "tool:1"}},
		Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
	}}
	changes, err := SetImages("d", tpl, []ImageSpec{{Image: "app:2"}})
	if err != nil || len(changes) != 2 || tpl.Spec.InitContainers[0].Image != "app:2" || tpl.Spec.InitContainers[1].Image != "tool:1" {
		t.Fatalf("bare image: %v %+v", err, changes)
	}
	if changes, _ := SetImages("d", tpl, []ImageSpec{{Image: "app:2"}}); len(changes) != 0 {
		t.Errorf("setting the same image changed %v", changes)
	}
	_, err = SetImages("d", tpl, []ImageSpec{{Container: "nope", Image: "x"}})
	var ce *ContainerError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "its containers are app, migrate (init), other (init)") {
		t.Fatalf("unknown container: %v", err)
	}
}

func TestDeployBlueGreen(t *testing.T) {
	t.Run("updates and scales the idle color, no traffic moved", func(t *testing.T) {
		objs := append(bgComponent("api", "blue", nil), bgNamespace(nil))
		for _, o := range objs {
			if d, ok := o.(*appsv1.Deployment); ok && d.Name == "api-green" {
				z := int32(0)
				d.Spec.Replicas = &z
			}
		}
		env, cs, _ := bgEnv(t, objs...)
		bgAutoReady(cs)
		res, err := Deploy(context.Background(), env, loadBG(t, env, "api"), DeployOptions{Images: []ImageSpec{{Image: "img:3"}}, Timeout: 5 * time.Second})
		if err != nil || !res.Ready || res.Color != "green" || res.Replicas != 2 {
			t.Fatalf("%v %+v", err, res)
		}
		green := getDeployment(t, cs, "api-green")
		if green.Spec.Template.Spec.Containers[0].Image != "img:3" || desiredReplicas(green) != 2 {
			t.Errorf("green = %s × %d", green.Spec.Template.Spec.Containers[0].Image, desiredReplicas(green))
		}
		if getService(t, cs, "api").Spec.Selector["version"] != "blue" {
			t.Error("deploy moved traffic")
		}
		cs.ClearActions()
		if res, err := Deploy(context.Background(), env, loadBG(t, env, "api"), DeployOptions{Images: []ImageSpec{{Image: "img:3"}}, Timeout: 5 * time.Second}); err != nil || res.Changed || len(writeActions(cs)) != 0 {
			t.Fatalf("re-run: %v %v", err, writeActions(cs))
		}
	})
	t.Run("dry run client writes nothing", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil))...)
		env.Writer.DryRun = audit.DryRunClient
		res, err := Deploy(context.Background(), env, loadBG(t, env, "api"), DeployOptions{Images: []ImageSpec{{Image: "img:3"}}})
		if err != nil || len(res.Changes) == 0 || len(writeActions(cs)) != 0 {
			t.Fatalf("%v %+v %v", err, res, writeActions(cs))
		}
	})
	t.Run("unknown container: nothing written", func(t *testing.T) {
		env, cs, _ := bgEnv(t, append(bgComponent("api", "blue", nil), bgNamespace(nil))...)
		_, err := Deploy(context.Background(), env, loadBG(t, env, "api"), DeployOptions{Images: []ImageSpec{{Container: "x", Image: "img:3"}}})
		var ce *ContainerError
		if !errors.As(err, &ce) || len(writeActions(cs)) != 0 {
			t.Fatalf("%v", err)
		}
	})
}

func TestWaitForDeploymentFailsFast(t *testing.T) {
	d := bgDeployment("api", "green", 2, "img:bad")
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "api-green-abc", Namespace: bgNS, Labels: map[string]string{"app": "api", "version": "green", appsv1.DefaultDeploymentUniqueLabelKey: "abc"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Template: *d.Spec.Template.DeepCopy()},
	}
	rs.Spec.Template.Labels = rs.Labels
	old := bgPod(d, 0) // an old ReplicaSet's pod failing must not stop the wait...
	old.Labels = map[string]string{"app": "api", "version": "green", appsv1.DefaultDeploymentUniqueLabelKey: "old"}
	old.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	bad := bgPod(d, 1) // ...a new one's does.
	bad.Labels = rs.Labels
	bad.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}
	env, _, _ := bgEnv(t, d, rs, old, bad)
	start := time.Now()
	_, err := WaitForDeployment(context.Background(), env, bgNS, d.Name, WaitOptions{Timeout: 10 * time.Second})
	rf, ok := asRolloutFailed(err)
	if !ok || rf.Pod != "api-green-1" || rf.Failure.Category != "ImagePullBackOff" {
		t.Fatalf("error = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	if !strings.Contains(err.Error(), `image "img:bad" not found or no access`) {
		t.Errorf("no diagnosis: %v", err)
	}
}

func TestWaitForDeploymentTimeout(t *testing.T) {
	d := bgDeployment("api", "green", 2, "img")
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1
	env, _, _ := bgEnv(t, d)
	_, err := WaitForDeployment(context.Background(), env, bgNS, d.Name, WaitOptions{Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timed out waiting for deployment shop/api-green: deployment api-green: 1 of 2 updated replicas ready") {
		t.Fatalf("error = %v", err)
	}
}

func TestStatusReport(t *testing.T) {
	objs := switched("api")
	objs = append(objs, bgNamespace(map[string]string{window.WindowAnnotation: "Mon 09:00-10:00 UTC"}))
	env, _, _ := bgEnv(t, objs...)
	inv, err := LoadStatus(context.Background(), env.Client, bgNS)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := BuildStatus(inv, "", Keys{}, bgNow)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Window.Open || rep.Window.NextOpen == nil || len(rep.Components) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	c := rep.Components[0]
	if c.Strategy != BlueGreen || c.LiveColor != "green" || c.PreviousColor != "blue" || c.LastOperation == nil || c.LastOperation.Verb != "switch" {
		t.Errorf("component = %+v", c)
	}
	if len(c.Deployments) != 2 || c.Deployments[1].Role != "live" || c.Deployments[1].Ready != 2 {
		t.Errorf("deployments = %+v", c.Deployments)
	}
	b, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(b), `"kind":"StatusReport"`) {
		t.Errorf("json: %v %s", err, b)
	}
	if _, err := BuildStatus(inv, "nope", Keys{}, bgNow); err == nil || !strings.Contains(err.Error(), "components: api (blue-green)") {
		t.Errorf("unknown component: %v", err)
	}
}

func TestEndpointState(t *testing.T) {
	yes, no := true, false
	ep := func(pod string, ready, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}
	}
	slices := map[string]*discoveryv1.EndpointSlice{
		"v4": {Endpoints: []discoveryv1.Endpoint{ep("g-1", &yes, nil), ep("g-2", nil, nil), ep("g-3", &no, &yes)}},
		"v6": {Endpoints: []discoveryv1.Endpoint{ep("g-1", &yes, nil), ep("b-1", &no, nil)}},
	}
	st := endpointState(slices, targetPods{names: map[string]bool{"g-1": true, "g-2": true}, count: 2})
	if strings.Join(st.Ready, ",") != "g-1,g-2" || len(st.NotReady) != 0 || strings.Join(st.Foreign, ",") != "b-1" {
		t.Errorf("state = %+v", st)
	}
}
