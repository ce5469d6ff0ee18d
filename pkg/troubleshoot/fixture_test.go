package troubleshoot

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var testNow = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

const ns = "shop"

// fixture is a fake cluster: typed objects in a fake clientset, ConfigMaps and Secrets as
// metadata in a fake metadata client (Secrets never carry data in these tests either).
type fixture struct {
	kube *fake.Clientset
	meta *metadatafake.FakeMetadataClient
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	var typed, metas []runtime.Object
	for _, o := range objs {
		if m, ok := o.(*metav1.PartialObjectMetadata); ok {
			metas = append(metas, m)
			continue
		}
		typed = append(typed, o)
	}
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return &fixture{kube: fake.NewClientset(typed...), meta: metadatafake.NewSimpleMetadataClient(scheme, metas...)}
}

func (f *fixture) diagnose(t *testing.T, scope Scope) *Report {
	t.Helper()
	if scope.Namespace == "" && !scope.AllNamespaces {
		scope.Namespace = ns
	}
	r, err := Diagnose(context.Background(), f.kube, scope, Options{Metadata: f.meta, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	checkGolden(t, r)
	return r
}

// find returns the finding about kind/name of the category, or nil.
func find(r *Report, kind, name string, cat Category) *Finding {
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Object.Kind == kind && f.Object.Name == name && f.Category == cat {
			return f
		}
	}
	return nil
}

func dump(r *Report) string {
	s := ""
	for ix := range r.Findings {
		f := &r.Findings[ix]
		s += fmt.Sprintf("\n  %s %s %s: %s", f.Severity, f.Category, f.Object, f.Cause)
	}
	return s
}

func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

func ptr[T any](v T) *T { return &v }

// --- object builders ---

func deployment(name string, labels map[string]string, n int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-d-" + name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(n),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
			}},
		},
	}
}

func replicaSet(d *appsv1.Deployment, hash string, n, have int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr(true),
		}}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr(n), Template: d.Spec.Template},
		Status: appsv1.ReplicaSetStatus{Replicas: have},
	}
}

// pod returns a running, ready pod of the ReplicaSet rs (nil: a bare pod).
func pod(name string, rs *appsv1.ReplicaSet, labels map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, CreationTimestamp: ago(2 * time.Hour)},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			StartTime: ptr(ago(2 * time.Hour)),
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Started: ptr(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(2 * time.Hour)}}}},
		},
	}
	if rs != nil {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, Controller: ptr(true)}}
		p.Spec.Containers = rs.Spec.Template.Spec.Containers
		if len(p.Spec.Containers[0].Ports) == 0 {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		}
	}
	return p
}

func node(name, cpu, mem string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
		},
	}
}

func service(name string, selector map[string]string, targetPort intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: targetPort, Protocol: corev1.ProtocolTCP}}},
	}
}

func slice(svc string, ready map[string]bool) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-abc", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for name, r := range ready {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{"10.0.0.1"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(r)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name},
		})
	}
	return es
}

func event(kind, name, reason, typ, msg string, count int32, last time.Duration) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%s.%d", name, reason, count), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name},
		Reason:         reason, Type: typ, Message: msg, Count: count, LastTimestamp: ago(last),
	}
}

// configMeta is a ConfigMap or Secret as the metadata API returns it: keys only in
// managedFields, written at the given time.
func configMeta(kind, name string, written time.Time, keys ...string) *metav1.PartialObjectMetadata {
	data := ""
	for i, k := range keys {
		if i > 0 {
			data += ","
		}
		data += fmt.Sprintf(`"f:%s":{}`, k)
	}
	raw := fmt.Sprintf(`{"f:data":{%s}}`, data)
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(written),
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
				Time: ptr(metav1.NewTime(written)), FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(raw)}}},
	}
}

// countLists counts the LIST actions per resource recorded by both fake clients.
func (f *fixture) countLists() map[string]int {
	out := map[string]int{}
	for _, acts := range [][]clienttesting.Action{f.kube.Actions(), f.meta.Actions()} {
		for _, a := range acts {
			if a.GetVerb() == "list" {
				out[a.GetResource().Resource]++
			}
		}
	}
	return out
}

func errForbidden(res string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: res}, "", errors.New("rbac"))
}
