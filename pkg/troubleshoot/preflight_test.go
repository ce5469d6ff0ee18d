package troubleshoot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clienttesting "k8s.io/client-go/testing"
)

// readyDeployment is a Deployment that passes every per-Deployment check.
func readyDeployment(name string, labels map[string]string) *appsv1.Deployment {
	d := deployment(name, labels, 2)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromInt32(0))}}
	c := &d.Spec.Template.Spec.Containers[0]
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/live", Port: intstr.FromInt32(8080)}}}
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}
	return d
}

func preflightObjects() []runtime.Object {
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		readyDeployment("web", webLabels),
		service("web", webLabels, intstr.FromString("http")),
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: webLabels}, MaxUnavailable: ptr(intstr.FromInt32(1))}},
		configMeta("ConfigMap", "web-config", testNow.Add(-time.Hour), "A"),
	}
}

func allowAll(f *fixture, deny ...string) {
	f.kube.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		ra := r.Spec.ResourceAttributes
		r.Status.Allowed = true
		for _, d := range deny {
			if ra.Verb+" "+ra.Resource == d {
				r.Status.Allowed = false
			}
		}
		return true, r, nil
	})
}

func preflight(t *testing.T, f *fixture, component string) *PreflightReport {
	t.Helper()
	r, err := Preflight(context.Background(), f.kube, ns, component, PreflightOptions{Metadata: f.meta, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	return r
}

func checkOf(r *PreflightReport, name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

func TestPreflightAllPass(t *testing.T) {
	f := newFixture(t, preflightObjects()...)
	allowAll(f)
	r := preflight(t, f, "web")
	for _, c := range r.Checks {
		if c.Status != CheckPass {
			t.Errorf("%s %s: %s", c.Status, c.Name, c.Message)
		}
	}
	want := []string{"cluster", "rbac", "window", "probes", "resources", "replicas", "pdb", "image", "strategy", "config", "shutdown"}
	if len(r.Checks) != len(want) {
		t.Errorf("checks = %+v", r.Checks)
	}
	for _, n := range want {
		if checkOf(r, n).Name == "" {
			t.Errorf("no %s check", n)
		}
	}
	if r.AtLeast(SeverityWarning) != 0 || r.Kind != "PreflightReport" {
		t.Errorf("report = %+v", r)
	}
}

func TestPreflightFailures(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(objs []runtime.Object)
		deny   []string
		check  string
		status CheckStatus
		msg    string
	}{
		{name: "rbac denied", deny: []string{"patch services", "create events"}, check: "rbac", status: CheckFail, msg: "not allowed in namespace shop: create events, patch services"},
		{name: "no readiness probe", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].ReadinessProbe = nil
		},
			check: "probes", status: CheckFail, msg: "no readinessProbe on container app"},
		{name: "identical probes", mutate: func(o []runtime.Object) {
			c := &o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
			c.LivenessProbe = c.ReadinessProbe.DeepCopy()
		}, check: "probes", status: CheckWarn, msg: "identical"},
		{name: "no requests", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		}, check: "resources", status: CheckFail, msg: "no cpu/memory requests"},
		{name: "one replica", mutate: func(o []runtime.Object) { o[1].(*appsv1.Deployment).Spec.Replicas = ptr(int32(1)) }, check: "replicas", status: CheckWarn, msg: "1 replica"},
		{name: "no PDB", mutate: func(o []runtime.Object) {
			o[3] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: ns}}
		}, check: "pdb", status: CheckWarn, msg: "no PodDisruptionBudget"},
		{name: "PDB blocks drains", mutate: func(o []runtime.Object) {
			o[3].(*policyv1.PodDisruptionBudget).Spec = policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: webLabels}, MinAvailable: ptr(intstr.FromString("100%"))}
		}, check: "pdb", status: CheckFail, msg: "blocks every drain: minAvailable 100% with 2 replicas"},
		{name: "latest tag", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = "web:latest"
		}, check: "image", status: CheckFail, msg: "app (web:latest)"},
		{name: "no tag", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = "registry:5000/web"
		}, check: "image", status: CheckFail, msg: "registry:5000/web"},
		{name: "maxUnavailable 25%", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Strategy = appsv1.DeploymentStrategy{}
			o[1].(*appsv1.Deployment).Spec.Replicas = ptr(int32(4))
		}, check: "strategy", status: CheckWarn, msg: "maxUnavailable 25% (1 of 4 pods)"},
		// 25 % of 3 (or 1, or 2) rounds down to 0: capacity never drops, no warning.
		{name: "maxUnavailable 25% of 3", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Strategy = appsv1.DeploymentStrategy{}
			o[1].(*appsv1.Deployment).Spec.Replicas = ptr(int32(3))
		}, check: "strategy", status: CheckPass, msg: "0 pods of 3"},
		// Probes that differ only in a threshold are distinct.
		{name: "probes differ in threshold", mutate: func(o []runtime.Object) {
			c := &o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
			c.LivenessProbe = c.ReadinessProbe.DeepCopy()
			c.LivenessProbe.FailureThreshold = c.ReadinessProbe.FailureThreshold + 3
		}, check: "probes", status: CheckPass, msg: "distinct"},
		{name: "probes identical", mutate: func(o []runtime.Object) {
			c := &o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
			c.LivenessProbe = c.ReadinessProbe.DeepCopy()
		}, check: "probes", status: CheckWarn, msg: "identical"},
		{name: "Recreate", mutate: func(o []runtime.Object) {
			o[1].(*appsv1.Deployment).Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}, check: "strategy", status: CheckWarn, msg: "Recreate"},
		{name: "missing config", mutate: func(o []runtime.Object) { o[4] = configMeta("ConfigMap", "other", testNow) }, check: "config", status: CheckFail, msg: `ConfigMap "web-config" not found`},
		{name: "no preStop", mutate: func(o []runtime.Object) { o[1].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Lifecycle = nil }, check: "shutdown", status: CheckWarn, msg: "no preStop hook"},
		{name: "window closed", mutate: func(o []runtime.Object) {
			o[0].(*corev1.Namespace).Annotations = map[string]string{"feastflow.dev/deploy-window": "Mon-Fri 09:00-10:00 UTC"}
		}, check: "window", status: CheckFail, msg: "closed: outside the deployment window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := preflightObjects()
			if tt.mutate != nil {
				tt.mutate(objs)
			}
			f := newFixture(t, objs...)
			allowAll(f, tt.deny...)
			r := preflight(t, f, "")
			c := checkOf(r, tt.check)
			if c.Status != tt.status || !strings.Contains(c.Message, tt.msg) {
				t.Errorf("%s = %s %q, want %s containing %q", tt.check, c.Status, c.Message, tt.status, tt.msg)
			}
			for _, other := range r.Checks {
				if other.Name != tt.check && other.Status != CheckPass {
					t.Errorf("unrelated check %s = %s: %s", other.Name, other.Status, other.Message)
				}
			}
		})
	}
}

func TestPreflightBlueGreenIdleColor(t *testing.T) {
	blue := map[string]string{"app": "backend", "version": "blue"}
	green := map[string]string{"app": "backend", "version": "green"}
	idle := readyDeployment("backend-green", green)
	idle.Spec.Replicas = ptr(int32(0))
	objs := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, readyDeployment("backend-blue", blue), idle,
		service("backend", blue, intstr.FromInt32(8080)), configMeta("ConfigMap", "web-config", testNow, "A"),
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: ns}, Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "backend"}}, MaxUnavailable: ptr(intstr.FromInt32(1))}}}
	f := newFixture(t, objs...)
	allowAll(f)
	r := preflight(t, f, "backend")
	if r.Summary.Fail != 0 || r.Summary.Warn != 0 || len(r.Components) != 1 {
		t.Errorf("summary %+v: %+v", r.Summary, r.Checks)
	}
	if n := strings.Count(strings.Join(func() []string {
		var objs []string
		for _, c := range r.Checks {
			objs = append(objs, c.Object)
		}
		return objs
	}(), " "), "deployment/backend-green"); n != 8 {
		t.Errorf("idle color checked %d times, want 8 lines", n)
	}
}

func TestPreflightUnknownComponent(t *testing.T) {
	f := newFixture(t, preflightObjects()...)
	allowAll(f)
	if _, err := Preflight(context.Background(), f.kube, ns, "nope", PreflightOptions{Metadata: f.meta}); err == nil || !strings.Contains(err.Error(), `Service "nope" not found`) {
		t.Errorf("err = %v", err)
	}
}

func TestPreflightUnreachable(t *testing.T) {
	f := newFixture(t, preflightObjects()...)
	f.kube.PrependReactor("get", "version", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	})
	r := preflight(t, f, "web")
	if len(r.Checks) != 1 || r.Checks[0].Status != CheckFail || !strings.Contains(r.Checks[0].Message, "cluster not reachable: dial tcp") || r.AtLeast(SeverityError) != 1 {
		t.Errorf("report = %+v", r)
	}
	for _, a := range f.kube.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("request after the cluster proved unreachable: %v", a)
		}
	}
}
