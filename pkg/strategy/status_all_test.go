package strategy

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
	"github.com/feastflow/kubectl-feastflow/pkg/pages/pagestest"
)

// bigNamespace: one rolling component with n pods, of which the last is not ready.
func bigNamespace(ns string, n int) []runtime.Object {
	labels := map[string]string{"app": "web"}
	replicas := int32(n)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}}}},
	}
	objs := []runtime.Object{d,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: corev1.ServiceSpec{Selector: labels}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for i := range n {
		ready := corev1.ConditionTrue
		if i == n-1 {
			ready = corev1.ConditionFalse
		}
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-5f-%04d", i), Namespace: ns, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5f"}},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		})
	}
	return objs
}

func TestLoadStatusAllPagesEveryKindOnce(t *testing.T) {
	objs := append(bigNamespace("a", 1200), bigNamespace("b", 3)...)
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "empty"}})
	cs := fake.NewClientset(objs...)
	req := pagestest.Paginate(&cs.Fake, cs.Tracker(), 0)
	all, err := LoadStatusAll(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	// pods: 1,203 in 3 pages of 500; services, deployments, HPAs, namespaces: one page each.
	if all.Requests != 7 || req.Total() != 7 || req.Lists("pods") != 3 {
		t.Fatalf("requests %d (server saw %d, pods %d), want 7", all.Requests, req.Total(), req.Lists("pods"))
	}
	for _, l := range req.Limits("pods") {
		if l != pages.Size {
			t.Fatalf("limits %v", req.Limits("pods"))
		}
	}
	if all.Namespaces != 3 || len(all.Inventories) != 2 || all.Inventories[0].Namespace != "a" || len(all.Inventories[0].Pods) != 1200 || len(all.Inventories[1].Pods) != 3 {
		t.Fatalf("inventories: %d namespaces, %d inventories", all.Namespaces, len(all.Inventories))
	}
	if all.Inventories[0].Pods[0].ManagedFields != nil {
		t.Fatal("pods keep managedFields")
	}
	list, err := BuildStatusAll(all, Keys{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Each namespace's report is the one `status -n` builds.
	for _, item := range list.Items {
		inv, err := LoadStatus(context.Background(), fake.NewClientset(objs...), item.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		one, err := BuildStatus(inv, "", Keys{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(one.Components) != fmt.Sprint(item.Components) || item.Window != one.Window {
			t.Errorf("namespace %s: -A gives %+v, -n gives %+v", item.Namespace, item.Components, one.Components)
		}
	}
	if nr := list.Items[0].Components[0].Deployments[0].NotReady; len(nr) != 1 || nr[0].Pod != "web-5f-1199" {
		t.Errorf("not ready = %+v", nr)
	}
}
