package strategy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/progress"
)

// Fixtures of the canary, rolling, scale, history and restart tests (prefix fx).

var fxNow = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

const fxNS = "shop"

func fxNamespace() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fxNS}}
}

func fxDeployment(name string, replicas int32, image string, labels map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, Labels: labels, Generation: 1, UID: "uid-" + "name"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
		},
		Status: fxReadyStatus(replicas, 1),
	}
}

func fxReadyStatus(replicas int32, gen int64) appsv1.DeploymentStatus {
	return appsv1.DeploymentStatus{
		ObservedGeneration: gen, Replicas: replicas, UpdatedReplicas: replicas,
		ReadyReplicas: replicas, AvailableReplicas: replicas,
	}
}

func fxService(name string, selector map[string]string, ann map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, Annotations: ann, ResourceVersion: "1"},
		Spec:       corev1.ServiceSpec{Selector: selector},
	}
}

// fxCanary is a canary component: stable and canary Deployments of app=web.
func fxCanary(stable, canary int32, ann map[string]string) []runtime.Object {
	objs := []runtime.Object{
		fxNamespace(),
		fxService("web", map[string]string{"app": "web"}, ann),
		fxDeployment("web-stable", stable, "web:1", map[string]string{"app": "web", "track": "stable"}),
	}
	if canary >= 0 {
		objs = append(objs, fxDeployment("web-canary", canary, "web:2", map[string]string{"app": "web", "track": "canary"}))
	}
	return objs
}

// fxPods are n Ready pods of a Deployment, restarts each.
func fxPods(d string, labels map[string]string, n int, restarts int32) []runtime.Object {
	var out []runtime.Object
	for i := 0; i < n; i++ {
		out = append(out, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", d, i), Namespace: fxNS, Labels: labels, CreationTimestamp: metav1.NewTime(fxNow.Add(-time.Hour))},
			Status: corev1.PodStatus{
				Phase:             corev1.PodRunning,
				StartTime:         &metav1.Time{Time: fxNow.Add(-time.Hour)},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: restarts}},
			},
		})
	}
	return out
}

// fxClient is a fake clientset whose Deployments become ready as soon as they are written,
// as if the controller and the kubelet were instant.
func fxClient(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	tracker := c.Tracker()

	ready := func(action k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := k8stesting.ObjectReaction(tracker)(action)
		if err != nil || obj == nil {
			return handled, obj, err
		}
		if d, ok := obj.(*appsv1.Deployment); ok && action.GetSubresource() == "" {
			if pa, isPatch := action.(k8stesting.PatchActionImpl); isPatch && len(pa.PatchOptions.DryRun) > 0 {
				return handled, obj, err
			}
			d = d.DeepCopy()
			d.Generation++
			d.Status = fxReadyStatus(desiredReplicas(d), d.Generation)
			if uerr := tracker.Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, d.Namespace); uerr != nil {
				return true, nil, uerr
			}
			if rerr := fxReconcile(tracker, d); rerr != nil {
				return true, nil, rerr
			}
			return true, d, nil
		}
		return handled, obj, err
	}
	c.PrependReactor("patch", "deployments", ready)
	c.PrependReactor("create", "deployments", ready)
	return c
}

func fxEnv(client *fake.Clientset, dry audit.DryRun) (*Env, *progress.Recorder) {
	rec := &progress.Recorder{}
	return &Env{Client: client, Writer: &audit.Writer{User: "alice", DryRun: dry, Now: func() time.Time { return fxNow }}, Progress: rec}, rec
}

// fxLoad recognises the component from the fake cluster.
func fxLoad(t *testing.T, client *fake.Clientset, name string) *Component {
	t.Helper()
	c, err := Load(t.Context(), client, fxNS, name, Keys{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fxWrites lists the write actions as "verb resource/name field", in order; scale patches
// read "patch deployments/web-canary replicas=3".
func fxWrites(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		name := ""
		detail := ""
		switch a := a.(type) {
		case k8stesting.PatchAction:
			name = a.GetName()
			p := string(a.GetPatch())
			if i := strings.Index(p, `"path":"/spec/replicas","value":`); i >= 0 && !strings.Contains(p, `"/spec/template"`) {
				j := i + len(`"path":"/spec/replicas","value":`)
				k := j
				for k < len(p) && p[k] >= '0' && p[k] <= '9' {
					k++
				}
				detail = " replicas=" + p[j:k]
			} else if i := strings.Index(p, `"replicas":`); i >= 0 && a.GetResource().Resource == "deployments" && !strings.Contains(p, `"/spec/template"`) {
				j := i + len(`"replicas":`)
				k := j
				for k < len(p) && p[k] >= '0' && p[k] <= '9' {
					k++
				}
				detail = " replicas=" + p[j:k]
			}
		case k8stesting.CreateAction:
			if m, ok := a.GetObject().(metav1.Object); ok {
				name = m.GetName()
				if name == "" {
					name = m.GetGenerateName()
				}
			}
		case k8stesting.DeleteAction:
			name = a.GetName()
		}
		if a.GetResource().Resource == "events" {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s/%s%s", a.GetVerb(), a.GetResource().Resource, name, detail))
	}
	return out
}

func fxGetDeployment(t *testing.T, client *fake.Clientset, name string) *appsv1.Deployment {
	t.Helper()
	d, err := client.AppsV1().Deployments(fxNS).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fxGetService(t *testing.T, client *fake.Clientset, name string) *corev1.Service {
	t.Helper()
	s, err := client.CoreV1().Services(fxNS).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fxEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

// fxClientRunning is fxClient with every Deployment's ReplicaSet and Ready pods in place.
func fxClientRunning(objs ...runtime.Object) *fake.Clientset {
	c := fxClient(objs...)
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			if err := fxReconcile(c.Tracker(), d); err != nil {
				panic(err)
			}
		}
	}
	return c
}
