package strategy

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8stesting "k8s.io/client-go/testing"
)

// fxReconcile plays an instant Deployment controller and kubelet on the fake tracker: the
// Deployment's current template gets a ReplicaSet (pod-template-hash = templateDigest)
// with that many Ready pods; pods of its other templates are removed. It writes through
// the tracker, so fxWrites does not list it.
func fxReconcile(tracker k8stesting.ObjectTracker, d *appsv1.Deployment) error {
	hash := templateDigest(&d.Spec.Template)[:10]
	rsGVR := appsv1.SchemeGroupVersion.WithResource("replicasets")
	podGVR := corev1.SchemeGroupVersion.WithResource("pods")
	tpl := d.Spec.Template.DeepCopy()
	tpl.Labels = withLabel(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	yes := true
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: tpl.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes}},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: *tpl},
	}
	if _, err := tracker.Get(rsGVR, d.Namespace, rs.Name); err != nil {
		if err := tracker.Add(rs); err != nil {
			return err
		}
	} else if err := tracker.Update(rsGVR, rs, d.Namespace); err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return err
	}
	list, err := tracker.List(podGVR, corev1.SchemeGroupVersion.WithKind("Pod"), d.Namespace)
	if err != nil {
		return err
	}
	have := 0
	items := list.(*corev1.PodList).Items
	for i := range items {
		p := &items[i]
		h, ok := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if !ok || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		if h != hash || int32(have) >= desiredReplicas(d) {
			if err := tracker.Delete(podGVR, d.Namespace, p.Name); err != nil {
				return err
			}
			continue
		}
		have++
	}
	for i := have; int32(i) < desiredReplicas(d); i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-g%dp%d", rs.Name, d.Generation, i), Namespace: d.Namespace, Labels: tpl.Labels},
			Spec:       tpl.Spec,
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			},
		}
		if err := tracker.Add(pod); err != nil {
			return err
		}
	}
	return nil
}

// fxRelease parses the release record stored on a Service.
func fxRelease(t interface {
	Helper()
	Fatalf(string, ...any)
}, svc *corev1.Service) *Release {
	t.Helper()
	raw, ok := svc.Annotations[ReleaseAnnotation]
	if !ok {
		t.Fatalf("service %s has no %s annotation: %v", svc.Name, ReleaseAnnotation, svc.Annotations)
	}
	var r Release
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("release record of %s: %v", svc.Name, err)
	}
	return &r
}
