package strategy

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/progress"
)

// Fixtures of the blue-green tests (prefix bg): namespace "shop", component "api" whose
// Service selects app=api,version=blue, Deployments api-blue and api-green with two Ready
// pods each.

const bgNS = "shop"

var bgNow = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func bgLabels(app, color string) map[string]string {
	return map[string]string{"app": app, "version": color}
}

func bgService(app, live string, ann map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: bgNS, Annotations: ann, ResourceVersion: "7"},
		Spec: corev1.ServiceSpec{
			Selector: bgLabels(app, live),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
}

func bgDeployment(app, color string, replicas int32, image string) *appsv1.Deployment {
	l := bgLabels(app, color)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-" + color, Namespace: bgNS, Labels: l, Generation: 3, ResourceVersion: "5", UID: k8stypes.UID("uid-" + app + "-" + color),
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Time: &metav1.Time{Time: bgNow.Add(-2 * time.Hour)}}}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

func bgPod(d *appsv1.Deployment, i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", d.Name, i), Namespace: bgNS, Labels: d.Spec.Template.Labels},
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			}},
		},
	}
}

// bgComponent is one blue-green component's objects: Service, both colors, their pods.
func bgComponent(app, live string, ann map[string]string) []runtime.Object {
	blue := bgDeployment(app, "blue", 2, "img:1")
	green := bgDeployment(app, "green", 2, "img:2")
	return []runtime.Object{bgService(app, live, ann), blue, green, bgPod(blue, 0), bgPod(blue, 1), bgPod(green, 0), bgPod(green, 1)}
}

func bgNamespace(ann map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bgNS, Annotations: ann}}
}

// bgEnv builds a fake clientset whose EndpointSlice watches play the EndpointSlice
// controller: they start with one slice listing the pods the Service selects now, then
// the end-of-initial-events bookmark.
func bgEnv(t *testing.T, objs ...runtime.Object) (*Env, *fake.Clientset, *progress.Recorder) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	cs.PrependWatchReactor("endpointslices", func(a k8stesting.Action) (bool, watch.Interface, error) {
		svcName := ""
		if wa, ok := a.(k8stesting.WatchActionImpl); ok {
			if v, ok := wa.WatchRestrictions.Labels.RequiresExactMatch(discoveryv1.LabelServiceName); ok {
				svcName = v
			}
		}
		w := watch.NewFakeWithChanSize(4, false)
		w.Add(bgSlice(t, cs, svcName))
		w.Action(watch.Bookmark, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
		return true, w, nil
	})
	rec := &progress.Recorder{}
	env := &Env{Client: cs, Writer: &audit.Writer{User: "alice", Now: func() time.Time { return bgNow }}, Progress: rec}
	return env, cs, rec
}

func bgSlice(t *testing.T, cs *fake.Clientset, svcName string) *discoveryv1.EndpointSlice {
	obj, err := cs.Tracker().Get(corev1.SchemeGroupVersion.WithResource("services"), bgNS, svcName)
	if err != nil {
		t.Errorf("endpointslice watch: service %s: %v", svcName, err)
		return &discoveryv1.EndpointSlice{}
	}
	svc := obj.(*corev1.Service)
	pods, _ := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), bgNS)
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svcName + "-abc", Namespace: bgNS, Labels: map[string]string{discoveryv1.LabelServiceName: svcName}}}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	items := pods.(*corev1.PodList).Items
	for i := range items {
		p := &items[i]
		if sel.Matches(labels.Set(p.Labels)) {
			ready := true
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: p.Name, Namespace: bgNS},
			})
		}
	}
	return slice
}

// writeActions are the actions that change objects (Events excluded).
func writeActions(cs *fake.Clientset) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "patch", "update", "delete":
			out = append(out, a)
		case "create":
			if a.GetResource().Resource != "events" && a.GetResource().Resource != "selfsubjectaccessreviews" {
				out = append(out, a)
			}
		}
	}
	return out
}

func countEvents(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "events" {
			n++
		}
	}
	return n
}

func getService(t *testing.T, cs *fake.Clientset, name string) *corev1.Service {
	t.Helper()
	obj, err := cs.Tracker().Get(corev1.SchemeGroupVersion.WithResource("services"), bgNS, name)
	if err != nil {
		t.Fatalf("get service %s: %v", name, err)
	}
	return obj.(*corev1.Service)
}

func getDeployment(t *testing.T, cs *fake.Clientset, name string) *appsv1.Deployment {
	t.Helper()
	obj, err := cs.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), bgNS, name)
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return obj.(*appsv1.Deployment)
}

// bgAutoReady makes patched Deployments roll out at once, as the controller would:
// the generation moves and the status reports every replica ready.
func bgAutoReady(cs *fake.Clientset) {
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := k8stesting.ObjectReaction(cs.Tracker())(a)
		if err != nil || !handled {
			return handled, obj, err
		}
		d := obj.(*appsv1.Deployment).DeepCopy()
		if len(a.(k8stesting.PatchActionImpl).PatchOptions.DryRun) > 0 {
			return true, d, nil
		}
		d.Generation++
		r := desiredReplicas(d)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
		d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: audit.FieldManager, Time: &metav1.Time{Time: bgNow}}}
		if err := cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, bgNS); err != nil {
			return true, nil, err
		}
		return true, d, fxReconcile(cs.Tracker(), d)
	})
}
