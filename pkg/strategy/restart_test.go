package strategy

import (
	"errors"
	"strings"
	"testing"
	"time"

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
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, CreationTimestamp: metav1.NewTime(changed.Add(-24 * time.Hour)),
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
	inv, err := List(t.Context(), client, fxNS)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Restart(t.Context(), env, inv.Components(Keys{}), RestartOptions{ChangedConfig: true, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	var restarted []string
	for _, r := range res.Restarted {
		restarted = append(restarted, r.Deployment+": "+changesText(r.Because))
	}
	fxEqual(t, "restarted", restarted, []string{
		"env-from: configmap/app-config at 2026-11-26T09:50:00Z",
		"secret-key: secret/db at 2026-11-26T09:55:00Z",
	})
	fxEqual(t, "writes", fxWrites(client), []string{"patch deployments/env-from", "patch deployments/secret-key"})
	d := fxGetDeployment(t, client, "env-from")
	if d.Spec.Template.Annotations[RestartedAtAnnotation] != "2026-11-26T10:00:00Z" {
		t.Errorf("template annotations = %v", d.Spec.Template.Annotations)
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

	// Re-running changes nothing: the restarts are already after the changes.
	client.ClearActions()
	inv, _ = List(t.Context(), client, fxNS)
	res, err = Restart(t.Context(), env, inv.Components(Keys{}), RestartOptions{ChangedConfig: true, Metadata: md})
	if err != nil || res.Changed {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	fxEqual(t, "writes of the re-run", fxWrites(client), nil)
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
	res, err := Restart(t.Context(), env, []*Component{fxLoad(t, client, "api")}, RestartOptions{ChangedConfig: true, Metadata: md})
	if err != nil || len(res.Restarted) != 1 {
		t.Fatalf("restart: %+v, %v", res, err)
	}
	if !containsLine(rec.Messages(), "cannot list secrets in shop (forbidden): changes to Secrets are not considered") {
		t.Errorf("progress = %q", rec.Messages())
	}
}
