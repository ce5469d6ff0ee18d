package strategy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

func fxMeta(kind, name string, changed time.Time) *metav1.PartialObjectMetadata {
	t := metav1.NewTime(changed)
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, ResourceVersion: fmt.Sprint(10 + len(name)%10), CreationTimestamp: metav1.NewTime(changed.Add(-24 * time.Hour)),
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, Time: &t}}},
	}
}

// --changed-config restarts only the Deployments whose pods are older than a ConfigMap or
// Secret they reference, and reads those through the metadata client only.
func TestRestartChangedConfig(t *testing.T) {
	mk := func(name string, tpl func(*corev1.PodSpec)) []runtime.Object {
		labels := map[string]string{"app": name}
		d := fxDeployment(name, 1, name+":1", labels)
		tpl(&d.Spec.Template.Spec)
		return append([]runtime.Object{fxService(name, labels, nil), d}, fxPods(name, labels, 1, 0)...)
	}
	objs := []runtime.Object{fxNamespace()}
	objs = append(objs, mk("env-from", func(s *corev1.PodSpec) {
		s.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}
	})...)
	objs = append(objs, mk("secret-key", func(s *corev1.PodSpec) {
		s.Containers[0].Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}}}
	})...)
	objs = append(objs, mk("projected", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}}}}}}}
	})...)
	objs = append(objs, mk("fresh", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "old-config"}}}}}
	})...)
	client := fxClient(objs...)
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	md := metadatafake.NewSimpleMetadataClient(scheme,
		fxMeta("ConfigMap", "app-config", fxNow.Add(-10*time.Minute)), // after the pods (started an hour ago)
		fxMeta("Secret", "db", fxNow.Add(-5*time.Minute)),
		fxMeta("Secret", "tls", fxNow.Add(-2*time.Hour)), // before the pods
		fxMeta("ConfigMap", "old-config", fxNow.Add(-3*time.Hour)),
	)
	env, _ := fxEnv(client, audit.DryRunNone)
	env.Metadata = md
	inv, err := List(t.Context(), client, fxNS)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Restart(t.Context(), env, inv.Components(Keys{}), RestartOptions{ChangedConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	var restarted []string
	for _, r := range res.Restarted {
		restarted = append(restarted, r.Deployment+": "+changesText(r.Because))
	}
	fxEqual(t, "restarted", restarted, []string{
		"env-from: configmap/app-config at 2026-11-26T09:50:00Z (by time)",
		"secret-key: secret/db at 2026-11-26T09:55:00Z (by time)",
	})
	fxEqual(t, "writes", fxWrites(client), []string{"patch deployments/env-from", "patch deployments/secret-key"})
	d := fxGetDeployment(t, client, "env-from")
	if d.Spec.Template.Annotations[RestartedAtAnnotation] != "2026-11-26T10:00:00Z" || d.Spec.Template.Annotations[ConfigVersionsAnnotation] != "configmap/app-config=10" {
		t.Errorf("template annotations = %v", d.Spec.Template.Annotations)
	}
	if cause := d.Annotations[ChangeCauseAnnotation]; !strings.HasPrefix(cause, "kubectl feastflow restart to 2026-11-26T10:00:00Z") {
		t.Errorf("change-cause = %q", cause)
	}
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "secrets" || a.GetResource().Resource == "configmaps" {
			t.Errorf("typed client %s %s: Secret data must never be fetched", a.GetVerb(), a.GetResource().Resource)
		}
	}
	for _, a := range md.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("metadata client %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	// Re-running changes nothing: the restarts recorded the versions they were made for.
	client.ClearActions()
	inv, _ = List(t.Context(), client, fxNS)
	env, _ = fxEnv(client, audit.DryRunNone)
	env.Metadata = md
	res, err = Restart(t.Context(), env, inv.Components(Keys{}), RestartOptions{ChangedConfig: true})
	if err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	fxEqual(t, "writes of the re-run", fxWrites(client), nil)

	// An edit of the ConfigMap, in any second, makes exactly its Deployment stale again,
	// by version: no clock is compared.
	edited := fxMeta("ConfigMap", "app-config", fxNow.Add(-10*time.Minute))
	edited.ResourceVersion = "99"
	if _, err := md.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(fxNS).(metadatafake.MetadataClient).UpdateFake(edited, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	inv, _ = List(t.Context(), client, fxNS)
	env, _ = fxEnv(client, audit.DryRunNone)
	env.Metadata = md
	res, err = Restart(t.Context(), env, inv.Components(Keys{}), RestartOptions{ChangedConfig: true})
	if err != nil || len(res.Restarted) != 1 {
		t.Fatalf("after the edit: %+v, %v", res, err)
	}
	fxEqual(t, "after the edit", []string{res.Restarted[0].Deployment + ": " + changesText(res.Restarted[0].Because)}, []string{"env-from: configmap/app-config resourceVersion 10 → 99"})
}

func TestRestartPausedIsAnError(t *testing.T) {
	objs := fxRolling(1, true, "api:1")
	client := fxClient(objs...)
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := Restart(t.Context(), env, []*Component{fxLoad(t, client, "api")}, RestartOptions{})
	if err == nil || !strings.Contains(err.Error(), "can't restart paused deployment") {
		t.Fatalf("error = %v", err)
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}

// Without `list secrets` the ConfigMap changes still count, and the gap is said.
func TestRestartChangedConfigWithoutSecretAccess(t *testing.T) {
	labels := map[string]string{"app": "api"}
	d := fxDeployment("api", 1, "api:1", labels)
	d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}},
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
	}
	objs := append([]runtime.Object{fxNamespace(), fxService("api", labels, nil), d}, fxPods("api", labels, 1, 0)...)
	client := fxClient(objs...)
	scheme := runtime.NewScheme()
	_ = metav1.AddMetaToScheme(scheme)
	md := metadatafake.NewSimpleMetadataClient(scheme, fxMeta("ConfigMap", "app-config", fxNow.Add(-10*time.Minute)))
	md.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no"))
	})
	env, rec := fxEnv(client, audit.DryRunNone)
	env.Metadata = md
	res, err := Restart(t.Context(), env, []*Component{fxLoad(t, client, "api")}, RestartOptions{ChangedConfig: true})
	if err != nil || len(res.Restarted) != 1 {
		t.Fatalf("restart: %+v, %v", res, err)
	}
	if !containsLine(rec.Messages(), "cannot list secrets in shop (forbidden): Secrets are neither recorded nor checked for changes") {
		t.Errorf("progress = %q", rec.Messages())
	}
}

// A template without recorded versions falls back to times with a tolerance: a change in
// the same second as the oldest pod's start is stale (whole-second clocks cannot order
// them), a change well before it is not.
func TestStaleConfigTimeFallbackTolerance(t *testing.T) {
	started := fxNow.Add(-time.Hour)
	for _, tt := range []struct {
		name    string
		changed time.Time
		stale   bool
		created bool
	}{
		{"same second as the pod start", started, true, false},
		{"a second before", started.Add(-time.Second), true, false},
		{"well before", started.Add(-ConfigTimeTolerance - time.Second), false, false},
		{"created in the second the pods started, never changed", started, false, true},
		{"created after the pods started", started.Add(time.Second), true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			labels := map[string]string{"app": "api"}
			d := fxDeployment("api", 1, "api:1", labels)
			d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
			client := fxClient(append([]runtime.Object{fxNamespace(), fxService("api", labels, nil), d}, fxPods("api", labels, 1, 0)...)...)
			scheme := runtime.NewScheme()
			_ = metav1.AddMetaToScheme(scheme)
			env, _ := fxEnv(client, audit.DryRunNone)
			cfg := fxMeta("ConfigMap", "cfg", tt.changed)
			if tt.created {
				cfg.CreationTimestamp = metav1.NewTime(tt.changed)
			}
			env.Metadata = metadatafake.NewSimpleMetadataClient(scheme, cfg)
			stale, err := staleConfig(t.Context(), env, fxNS, []*appsv1.Deployment{d})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(stale["api"]) == 1; got != tt.stale {
				t.Fatalf("stale = %v, want %v", stale, tt.stale)
			}
			if tt.stale && !tt.created && (stale["api"][0].By != ByTime || stale["api"][0].Tolerance != "2s") {
				t.Errorf("change = %+v: must say it was found by time, with the tolerance", stale["api"][0])
			}
		})
	}
}
