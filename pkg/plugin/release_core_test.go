package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// Command tests of the core release verbs on a fake clientset: namespace "shop", blue-green
// component "api" (blue live, green ready) and rolling component "web".

func cmdDeployment(name string, labels map[string]string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: name + ":1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}}},
			},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

func cmdObjects() []runtime.Object {
	svc := func(name string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.ServiceSpec{
			Selector: sel, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}},
		}}
	}
	pod := func(name string, d *appsv1.Deployment) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec,
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	green := cmdDeployment("api-green", map[string]string{"app": "api", "version": "green"}, 2)
	return []runtime.Object{
		pod("api-green-1", green), pod("api-green-2", green),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		svc("api", map[string]string{"app": "api", "version": "blue"}),
		svc("web", map[string]string{"app": "web"}),
		cmdDeployment("api-blue", map[string]string{"app": "api", "version": "blue"}, 2),
		green,
		cmdDeployment("web", map[string]string{"app": "web"}, 1),
	}
}

// runRelease runs the root command with args against a fake clientset and returns stdout,
// stderr, the exit code and the clientset.
func runRelease(t *testing.T, objs []runtime.Object, args ...string) (string, string, int, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	orig := releaseClients
	releaseClients = func(genericclioptions.RESTClientGetter) (*clients, error) {
		return &clients{Kube: cs, Namespace: "shop", Config: &rest.Config{Impersonate: rest.ImpersonationConfig{UserName: "alice"}}}, nil
	}
	t.Cleanup(func() { releaseClients = orig })
	var in, out, errOut bytes.Buffer
	cmd := NewRootCmd(genericiooptions.IOStreams{In: &in, Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	err := Execute(context.Background(), cmd)
	if err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err), cs
}

func patches(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

func TestStatusCommand(t *testing.T) {
	out, stderr, code, _ := runRelease(t, cmdObjects(), "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"Namespace shop: no deployment window (release verbs always allowed)",
		"api         blue-green   blue     green",
		"web         rolling",
		"api-green    api         green (idle)   api-green:1   2         2         2       2           complete",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, _, code, _ = runRelease(t, cmdObjects(), "status", "api", "-o", "json")
	var rep struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Components []struct {
			Name      string `json:"name"`
			LiveColor string `json:"liveColor"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("status -o json: %v (exit %d)\n%s", err, code, out)
	}
	if rep.Kind != "StatusReport" || rep.APIVersion != "feastflow.dev/v1alpha1" || len(rep.Components) != 1 || rep.Components[0].LiveColor != "blue" {
		t.Errorf("report = %+v", rep)
	}
	if _, stderr, code, _ := runRelease(t, cmdObjects(), "status", "nope"); code != 1 || !strings.Contains(stderr, `component "nope" not found`) {
		t.Errorf("unknown component: exit %d %s", code, stderr)
	}
}

func TestSwitchCommand(t *testing.T) {
	t.Run("dry run client prints what would change", func(t *testing.T) {
		out, stderr, code, cs := runRelease(t, cmdObjects(), "switch", "green", "api", "--dry-run=client")
		if code != 0 || patches(cs) != 0 {
			t.Fatalf("exit %d, %d patches: %s", code, patches(cs), stderr)
		}
		for _, want := range []string{"WOULD CHANGE", "service/api   spec.selector.version", "dry run (client): would switch api from blue to green"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("switch to the live color", func(t *testing.T) {
		out, _, code, cs := runRelease(t, cmdObjects(), "switch", "blue", "api")
		if code != 0 || patches(cs) != 0 || !strings.Contains(out, "api is already live on blue: nothing to do") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("refusal exits 1", func(t *testing.T) {
		_, stderr, code, cs := runRelease(t, cmdObjects(), "switch", "purple", "api")
		if code != 1 || patches(cs) != 0 || !strings.Contains(stderr, "colors: blue, green") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("not blue-green", func(t *testing.T) {
		_, stderr, code, _ := runRelease(t, cmdObjects(), "switch", "green", "web")
		if code != 1 || !strings.Contains(stderr, "--color-key") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("usage errors exit 2 before any request", func(t *testing.T) {
		for _, args := range [][]string{{"switch"}, {"switch", "green", "api", "--all"}, {"switch", "green", "--dry-run=maybe"}, {"switch", "green", "-o", "xml"}} {
			_, stderr, code, cs := runRelease(t, cmdObjects(), args...)
			if code != 2 || len(cs.Actions()) != 0 {
				t.Errorf("%v: exit %d, %d requests: %s", args, code, len(cs.Actions()), stderr)
			}
		}
	})
}

func TestDeployCommand(t *testing.T) {
	_, stderr, code, cs := runRelease(t, cmdObjects(), "deploy", "api", "--image", "nope=img:2")
	if code != 1 || patches(cs) != 0 || !strings.Contains(stderr, `deployment api-green has no container "nope": its containers are app`) {
		t.Fatalf("unknown container: exit %d: %s", code, stderr)
	}
	_, stderr, code, _ = runRelease(t, cmdObjects(), "deploy", "api")
	if code != 2 || !strings.Contains(stderr, "--image is required") {
		t.Fatalf("missing --image: exit %d: %s", code, stderr)
	}
	out, stderr, code, cs := runRelease(t, cmdObjects(), "deploy", "api", "--image", "img:2", "--dry-run=client", "-o", "json")
	if code != 0 || patches(cs) != 0 || !strings.Contains(out, `"kind": "DeployResult"`) || !strings.Contains(out, `"color": "green"`) {
		t.Fatalf("dry run: exit %d: %s\n%s", code, stderr, out)
	}
}

func TestPromoteNeedsYes(t *testing.T) {
	objs := cmdObjects()
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok && s.Name == "api" {
			s.Spec.Selector["version"] = "green"
			s.Annotations = map[string]string{
				"feastflow.dev/previous-color": "blue",
				"feastflow.dev/last-operation": `{"verb":"switch","from":"blue","to":"green","time":"2030-01-01T00:00:00Z"}`,
			}
		}
	}
	_, stderr, code, cs := runRelease(t, objs, "promote", "api", "--scale-down-delay", "0s")
	if code != 1 || patches(cs) != 0 || !strings.Contains(stderr, "refusing without --yes") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out, stderr, code, cs := runRelease(t, objs, "promote", "api", "--scale-down-delay", "0s", "--yes")
	// The release record (promote in progress), the scale-down, the record (promoted).
	if code != 0 || patches(cs) != 3 || !strings.Contains(out, "api promoted: green is live, blue (api-blue) scaled to 0") {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
}

func TestRollbackCommandRefusal(t *testing.T) {
	_, stderr, code, cs := runRelease(t, cmdObjects(), "rollback", "api")
	if code != 1 || patches(cs) != 0 || !strings.Contains(stderr, "names no previous color") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
