package strategy

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// foreignWrite marks a Deployment as written by someone else after the switch (a newer
// managedFields entry): what made the old timestamp inference call it a new release.
func foreignWrite(objs []runtime.Object, name string, edit func(d *appsv1.Deployment)) []runtime.Object {
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == name {
			d.ManagedFields = append(d.ManagedFields, metav1.ManagedFieldsEntry{
				Manager: "kubectl-label", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: bgNow.Add(-time.Minute)},
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:team":{}}},"f:spec":{"f:template":{}}}`),
			})
			edit(d)
		}
	}
	return objs
}

// The first bug: after `switch green`, a label on the old color made promote move
// traffic back to it. With the record, the old color stays old whatever is written to it.
func TestPromoteIgnoresForeignWritesToTheOldColor(t *testing.T) {
	objs := foreignWrite(append(switched("api"), bgNamespace(nil)), "api-blue", func(d *appsv1.Deployment) {
		d.Labels["team"] = "payments"
		r := int32(3)
		d.Spec.Replicas = &r
	})
	env, cs, _ := bgEnv(t, objs...)
	bgAutoReady(cs)
	res, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sel := getService(t, cs, "api").Spec.Selector["version"]; sel != "green" || desiredReplicas(getDeployment(t, cs, "api-blue")) != 0 || desiredReplicas(getDeployment(t, cs, "api-green")) != 2 {
		t.Fatalf("after promote: selector %s, blue %d, green %d (%s)", sel, desiredReplicas(getDeployment(t, cs, "api-blue")), desiredReplicas(getDeployment(t, cs, "api-green")), res.Message)
	}
	if r := fxRelease(t, getService(t, cs, "api")); r.Phase != PhasePromoted || r.Live != "green" || r.Previous != "blue" || r.Operation != nil {
		t.Errorf("record = %+v", r)
	}
}

// A live color whose template changed since the switch: promote refuses and names who.
func TestPromoteRefusesAChangedLiveColor(t *testing.T) {
	env, cs, _ := bgEnv(t, append(switched("api"), bgNamespace(nil))...)
	bgAutoReady(cs)
	// A recorded switch to green (through Switch, as a user would).
	if _, err := Switch(context.Background(), env, SwitchOptions{Namespace: bgNS, Component: "api", Color: "blue"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Switch(context.Background(), env, SwitchOptions{Namespace: bgNS, Component: "api", Color: "green"}); err != nil {
		t.Fatal(err)
	}
	green := getDeployment(t, cs, "api-green")
	green.Spec.Template.Spec.Containers[0].Image = "img:hotfix"
	green.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl-set", Time: &metav1.Time{Time: bgNow}, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{"f:spec":{}}}}`)}}
	if err := cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), green, bgNS); err != nil {
		t.Fatal(err)
	}
	cs.ClearActions()
	_, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{})
	if err == nil || !strings.Contains(err.Error(), "no longer runs the release switched to") || len(writeActions(cs)) != 0 {
		t.Fatalf("promote of a changed live color: %v, writes %v", err, writeActions(cs))
	}
	st, err := BuildStatus(&StatusInventory{Inventory: Inventory{Namespace: bgNS, Services: []corev1.Service{*getService(t, cs, "api")}, Deployments: []appsv1.Deployment{*getDeployment(t, cs, "api-blue"), *getDeployment(t, cs, "api-green")}}}, "api", Keys{}, bgNow)
	if err != nil || len(st.Components) != 1 || !strings.Contains(strings.Join(st.Components[0].Warnings, ";"), "pod template changed since") {
		t.Errorf("status warnings: %v %+v", err, st)
	}
	// --force promotes what runs now.
	if _, err := Promote(context.Background(), env, loadBG(t, env, "api"), PromoteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
}

// Older annotations are migrated on first read.
func TestReadReleaseMigrates(t *testing.T) {
	env, _, _ := bgEnv(t, append(switched("api"), bgNamespace(nil))...)
	r, err := loadBG(t, env, "api").Release()
	if err != nil || r.Phase != PhaseSwitched || r.Live != "green" || r.Previous != "blue" || r.SwitchedAt == nil || len(r.MigratedFrom) != 2 {
		t.Fatalf("migrated = %+v, %v", r, err)
	}
	state := `{"phase":"stepping","verb":"canary-step","from":10,"weight":25,"total":10,"stable":7,"canary":3}`
	c := fxLoad(t, fxClient(fxCanary(9, 3, map[string]string{CanaryStateAnnotation: state, CanaryWeightAnnotation: "25"})...), "web")
	r, err = c.Release()
	if err != nil || r.Phase != PhaseCanary || r.Operation == nil || r.Operation.Weight != 25 || r.Operation.Stable != 7 || r.WeightSet() != 25 {
		t.Fatalf("migrated canary = %+v, %v", r, err)
	}
	c.Service.Annotations = map[string]string{ReleaseAnnotation: `{"version":9}`}
	if _, err := ReadRelease(c); err == nil || !strings.Contains(err.Error(), "upgrade kubectl-feastflow") {
		t.Errorf("newer version: %v", err)
	}
}

// The manager of a scale through the /scale subresource is named.
func TestCheckUnchangedNamesTheManager(t *testing.T) {
	want := bgDeployment("api", "blue", 5, "img:1")
	now := want.DeepCopy()
	one := int32(1)
	now.Spec.Replicas = &one
	now.ManagedFields = append(now.ManagedFields, metav1.ManagedFieldsEntry{Manager: "kubectl", Subresource: "scale", Time: &metav1.Time{Time: bgNow}, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:replicas":{}}}`)})
	err := checkUnchanged(want, now, 5)
	if err == nil || !strings.Contains(err.Error(), `spec.replicas changed from 5 to 1`) || !strings.Contains(err.Error(), `field manager "kubectl" via /scale`) {
		t.Fatalf("checkUnchanged = %v", err)
	}
	if err := checkUnchanged(want, want.DeepCopy(), 5); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
}
