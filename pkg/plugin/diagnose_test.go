package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

var diagNow = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

const plantedSecret = "s3cr3t-PLANTED-value-4711"

// troubleshootFixture returns fake clients holding objs (PartialObjectMetadata go to the
// metadata client) in namespace "shop".
func troubleshootFixture(t *testing.T, objs ...runtime.Object) troubleshootClientsFunc {
	t.Helper()
	var typed, metas []runtime.Object
	for _, o := range objs {
		if m, ok := o.(*metav1.PartialObjectMetadata); ok {
			metas = append(metas, m)
		} else {
			typed = append(typed, o)
		}
	}
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientset(typed...)
	// Access reviews: everything allowed but creating Events.
	kube.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = r.Spec.ResourceAttributes.Verb+" "+r.Spec.ResourceAttributes.Resource != "create events"
		return true, r, nil
	})
	meta := metadatafake.NewSimpleMetadataClient(scheme, metas...)
	return func() (*troubleshootClients, error) {
		return &troubleshootClients{Kube: kube, Metadata: meta, Namespace: "shop"}, nil
	}
}

func runDiagnose(t *testing.T, clients troubleshootClientsFunc, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &diagnoseOptions{streams: streams, clients: clients, now: func() time.Time { return diagNow }, color: func() bool { return false }}
	cmd := newDiagnoseCmdWith(o, nil)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func healthyShop() []runtime.Object {
	labels := map[string]string{"app": "web"}
	one := int32(1)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{Replicas: &one,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web"}}}}}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: labels},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(diagNow.Add(-time.Hour))}}}}},
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	// A Secret applied with kubectl apply carries its data in the last-applied annotation,
	// which the metadata API returns: it must never be printed.
	s := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop",
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"stringData":{"password":"` + plantedSecret + `"}}`}}}
	return []runtime.Object{d, p, n, s}
}

func crashingPod(name, msg string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "web:2",
			Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}},
	}
}

func TestDiagnoseCmdHealthy(t *testing.T) {
	out, errOut, code := runDiagnose(t, troubleshootFixture(t, healthyShop()...))
	if code != 0 || errOut != "" {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	if want := "namespace shop: no problems found (1 pods, 0 services, 1 nodes checked)\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

func TestDiagnoseCmdProblemsExit3AndEscapes(t *testing.T) {
	objs := append(healthyShop(), crashingPod("api-1", "back-off \x1b[31mred\x1b[0m restarting"), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "api-1.x", Namespace: "shop"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "api-1"},
		Reason:         "BackOff", Type: "Warning", Message: "Back-off \x1b]0;pwned\x07 restarting", Count: 9, LastTimestamp: metav1.NewTime(diagNow.Add(-time.Minute)),
	})
	out, errOut, code := runDiagnose(t, troubleshootFixture(t, objs...))
	if code != ExitProblems {
		t.Fatalf("exit code %d, want 3; stderr %q", code, errOut)
	}
	for _, want := range []string{
		"namespace shop: no service down; 1 error, 0 warnings, 0 infos (2 pods, 0 services, 1 nodes checked)",
		"#     IMPACT     SEVERITY   CATEGORY           OBJECT      CAUSE\n",
		"1     degraded   error      CrashLoopBackOff   pod/api-1   container \"app\" keeps crashing: exit code 1, application error, restarted 4 times (CrashLoopBackOff)\n",
		"1. DEGRADED ERROR CrashLoopBackOff pod/api-1 (high confidence)",
		"  fix:     kubectl logs pod/api-1 -c app --previous -n shop",
		"  logs:    previous log of api-1/app, last 1 lines:",
		"           | fake logs",
		`\x1b[31mred\x1b[0m`,
		`Back-off \x1b]0;pwned\a restarting`,
		"  events:  LAST SEEN   TYPE      REASON    OBJECT      COUNT   MESSAGE\n           60s         Warning   BackOff   pod/api-1   9       Back-off",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("raw control characters reached stdout:\n%q", out)
	}
	if strings.Contains(out+errOut, plantedSecret) {
		t.Error("a Secret value reached the output")
	}
	if want := "error: 1 finding(s) at or above error (see above; --fail-on sets the level)\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
}

func TestDiagnoseCmdFailOn(t *testing.T) {
	// A stale-config warning only: exit 0 by default, 3 with --fail-on warning.
	objs := healthyShop()
	p := objs[1].(*corev1.Pod)
	p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	written := metav1.NewTime(diagNow.Add(-time.Minute))
	objs = append(objs, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "shop",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Update", Time: &written, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:data":{"f:A":{}}}`)}}}})
	if _, errOut, code := runDiagnose(t, troubleshootFixture(t, objs...)); code != 0 {
		t.Errorf("default --fail-on: code %d, stderr %q", code, errOut)
	}
	if _, _, code := runDiagnose(t, troubleshootFixture(t, objs...), "--fail-on", "warning"); code != ExitProblems {
		t.Errorf("--fail-on warning: code %d, want 3", code)
	}
}

func TestDiagnoseCmdJSONRoundTrip(t *testing.T) {
	objs := append(healthyShop(), crashingPod("api-1", "back-off"))
	out, _, code := runDiagnose(t, troubleshootFixture(t, objs...), "-o", "json")
	if code != ExitProblems {
		t.Fatalf("code %d", code)
	}
	var r troubleshoot.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if r.APIVersion != "feastflow.dev/v1alpha1" || r.Kind != "DiagnoseReport" || len(r.Findings) != 1 || r.Findings[0].Category != troubleshoot.CategoryCrashLoop {
		t.Errorf("report = %+v", r)
	}
	again, _ := json.MarshalIndent(&r, "", "  ")
	if string(again)+"\n" != out {
		t.Errorf("JSON does not round-trip:\n%s\nvs\n%s", again, out)
	}
	if strings.Contains(out, plantedSecret) {
		t.Error("a Secret value reached the JSON")
	}
}

func TestDiagnoseCmdUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cm/x"}, `cannot diagnose resource type "cm": use one of pod, deploy`},
		{[]string{"pod/"}, "use TYPE/NAME"},
		{[]string{"-A", "pod/x"}, "-A diagnoses every namespace"},
		{[]string{"--fail-on", "fatal"}, `invalid --fail-on "fatal"`},
		{[]string{"-o", "wide"}, `unknown output format "wide"`},
	} {
		called := false
		clients := func() (*troubleshootClients, error) { called = true; return nil, nil }
		_, errOut, code := runDiagnose(t, clients, tt.args...)
		if code != ExitUsage || !strings.Contains(errOut, tt.want) || called {
			t.Errorf("%v: code %d, stderr %q, clients built %v", tt.args, code, errOut, called)
		}
	}
}

func TestDiagnoseCmdNotFound(t *testing.T) {
	_, errOut, code := runDiagnose(t, troubleshootFixture(t, healthyShop()...), "svc/nope")
	if code != ExitError || !strings.Contains(errOut, `Service "nope" not found in namespace shop`) {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

func TestParseDiagnoseArgs(t *testing.T) {
	pod, svc, dep, comp := troubleshoot.ScopePod, troubleshoot.ScopeService, troubleshoot.ScopeDeployment, troubleshoot.ScopeComponent
	for _, tc := range []struct {
		args []string
		sel  string
		want []troubleshoot.Target
	}{
		{args: nil, want: nil},
		{args: []string{"pod"}, want: []troubleshoot.Target{{Kind: pod}}},
		{args: []string{"pods"}, want: []troubleshoot.Target{{Kind: pod}}},
		{args: []string{"po", "a", "b"}, want: []troubleshoot.Target{{Kind: pod, Name: "a"}, {Kind: pod, Name: "b"}}},
		{args: []string{"svc/a", "deploy/b"}, want: []troubleshoot.Target{{Kind: svc, Name: "a"}, {Kind: dep, Name: "b"}}},
		{args: []string{"deployments.apps/b"}, want: []troubleshoot.Target{{Kind: dep, Name: "b"}}},
		{args: []string{"sts"}, want: []troubleshoot.Target{{Kind: troubleshoot.ScopeStatefulSet}}},
		{args: []string{"HPA", "x"}, want: []troubleshoot.Target{{Kind: troubleshoot.ScopeHPA, Name: "x"}}},
		{args: []string{"deploy"}, sel: "app=web", want: []troubleshoot.Target{{Kind: dep}}},
	} {
		s, err := parseDiagnoseArgs(tc.args, tc.sel)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if fmt.Sprint(s.Targets) != fmt.Sprint(tc.want) || s.Selector != tc.sel {
			t.Errorf("%v: targets %v selector %q, want %v", tc.args, s.Targets, s.Selector, tc.want)
		}
	}
	if s, err := parseDiagnoseArgs([]string{"web"}, ""); err != nil || s.Kind != comp || s.Name != "web" {
		t.Errorf("bare name: %+v %v", s, err)
	}
	for _, tc := range []struct {
		args []string
		sel  string
		want string
	}{
		{[]string{"deplyo", "web"}, "", "did you mean deployment?"},
		{[]string{"deplyo"}, "", "did you mean deployment?"},
		{[]string{"sevrice/web"}, "", "did you mean service?"},
		{[]string{"pdo", "x"}, "", "did you mean pod?"},
		{[]string{"svc/a", "b"}, "", "cannot mix"},
		{[]string{"pod", "a"}, "app=x", "not both"},
		{nil, "app in (", "invalid --selector"},
	} {
		_, err := parseDiagnoseArgs(tc.args, tc.sel)
		if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v -l %q: %v (exit %d), want usage error with %q", tc.args, tc.sel, err, ExitCode(err), tc.want)
		}
	}
}

// A misspelt TYPE is refused before any request.
func TestDiagnoseCmdMisspeltTypeMakesNoRequest(t *testing.T) {
	called := false
	clients := func() (*troubleshootClients, error) { called = true; return nil, fmt.Errorf("no") }
	_, errOut, code := runDiagnose(t, clients, "deplyo", "web")
	if code != ExitUsage || called || !strings.Contains(errOut, "did you mean deployment?") {
		t.Errorf("code %d, called %v, stderr %q", code, called, errOut)
	}
}

// Named targets that do not exist: exit 1 naming each.
func TestDiagnoseCmdSeveralNotFound(t *testing.T) {
	_, errOut, code := runDiagnose(t, troubleshootFixture(t, healthyShop()...), "pod", "web-1", "nope", "gone")
	if code != ExitError || !strings.Contains(errOut, `Pod "nope" not found`) || !strings.Contains(errOut, "pod/gone") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

// With no permission to list pods, a namespace diagnosis is an error, never "no problems".
func TestDiagnoseCmdForbiddenPods(t *testing.T) {
	fx := troubleshootFixture(t, healthyShop()...)
	c, _ := fx()
	c.Kube.(*fake.Clientset).PrependReactor("list", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "", fmt.Errorf("no"))
	})
	out, errOut, code := runDiagnose(t, func() (*troubleshootClients, error) { return c, nil })
	if code != ExitError || strings.Contains(out, "no problems") || !strings.Contains(errOut, "forbidden to list pods in namespace shop") {
		t.Errorf("code %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = runDiagnose(t, func() (*troubleshootClients, error) { return c, nil }, "svc/web")
	if code != ExitError || !strings.Contains(errOut, "forbidden to list") || strings.Contains(errOut, "not found") {
		t.Errorf("svc/web: code %d, stderr %q", code, errOut)
	}
}
