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
	// pods: 1,203 in 3 pages of 500; services, deployments, statefulsets, daemonsets, HPAs,
	// namespaces: one page each (no DaemonSet: no controllerrevisions, no nodes).
	if all.Requests != 9 || req.Total() != 9 || req.Lists("pods") != 3 {
		t.Fatalf("requests %d (server saw %d, pods %d), want 9", all.Requests, req.Total(), req.Lists("pods"))
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

// status -A shows StatefulSet and DaemonSet components, from the same paged reads as
// `status -n` (one read path): with a DaemonSet, its ControllerRevisions and the nodes are
// read once more, for every namespace at once.
func TestLoadStatusAllWorkloads(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "logs", UID: "uid-ds"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"role": "agent"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "agent:1"}}}}},
	}
	isController := true
	rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "agent-1", Namespace: "logs", Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: "h1"},
		OwnerReferences: []metav1.OwnerReference{{UID: "uid-ds", Controller: &isController}}}, Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}}
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "logs"}},
		fxServiceIn("db", "ledger", map[string]string{"tier": "db"}), wxStatefulSetIn("db", "ledger-db"),
		fxServiceIn("logs", "shipper", map[string]string{"role": "agent"}), ds, rev,
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"node.kubernetes.io/pool": "general"}}},
	}
	cs := fake.NewClientset(objs...)
	req := pagestest.Paginate(&cs.Fake, cs.Tracker(), 0)
	all, err := LoadStatusAll(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if req.Lists("statefulsets") != 1 || req.Lists("daemonsets") != 1 || req.Lists("controllerrevisions") != 1 || req.Lists("nodes") != 1 || all.Requests != req.Total() {
		t.Errorf("requests %d (server saw %d)", all.Requests, req.Total())
	}
	list, err := BuildStatusAll(all, Keys{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, item := range list.Items {
		for _, c := range item.Components {
			for _, w := range c.Workloads {
				got[item.Namespace+"/"+c.Name] = string(c.Strategy) + " " + w.Kind + "/" + w.Name
			}
		}
	}
	want := map[string]string{"db/ledger": "statefulset StatefulSet/ledger-db", "logs/shipper": "daemonset DaemonSet/agent"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("components %v, want %v", got, want)
	}
	if inv := all.Inventories[1]; len(inv.ControllerRevisions) != 1 || inv.ControllerRevisions[0].Data.Raw != nil || len(inv.Nodes) != 1 {
		t.Errorf("logs inventory: %d revisions (data trimmed?), %d nodes", len(inv.ControllerRevisions), len(inv.Nodes))
	}
	// The same namespace through LoadStatus reports the same.
	inv, err := LoadStatus(context.Background(), fake.NewClientset(objs...), "db")
	if err != nil {
		t.Fatal(err)
	}
	one, err := BuildStatus(inv, "", Keys{}, time.Now())
	if err != nil || len(one.Components) != 1 || len(one.Components[0].Workloads) != 1 {
		t.Errorf("status -n db: %+v %v", one, err)
	}
}

func fxServiceIn(ns, name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{Selector: selector}}
}

func wxStatefulSetIn(ns, name string) *appsv1.StatefulSet {
	s := wxStatefulSet(name, 3, "pg:1", 0)
	s.Namespace = ns
	return s
}
