package troubleshoot

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// trimmedFixture is mixedNamespace with what the trims touch: events of several kinds and
// reasons (a liveness kill naming its container by field path, a mount failure, the
// Scheduled event every pod has) and pods whose projected volumes hold a token, the
// downward API and a ConfigMap that does not exist.
func trimmedFixture() []runtime.Object {
	objs := mixedNamespace()
	withProjected := func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "root-ca-missing"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace"}}}},
		}}}})
	}
	objs = append(objs, brokenPod("cfg-1", func(p *corev1.Pod) {
		withProjected(p)
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses[0].Ready = false
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	})[2]) // the pod only: mixedNamespace has its Deployment, ReplicaSet and node
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Name == "api-77c9-x" { // the crash loop: killed by its liveness probe
			withProjected(p)
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10, FailureThreshold: 3}
		}
	}
	kill := event("Pod", "api-77c9-x", "Killing", "Normal", "Container app failed liveness probe, will be restarted", 4, time.Minute)
	kill.InvolvedObject.FieldPath = "spec.containers{app}"
	kill.Source = corev1.EventSource{Component: "kubelet", Host: "node-a"}
	kill.ReportingController, kill.ReportingInstance, kill.InvolvedObject.UID = "kubelet", "node-a", "uid-1"
	objs = append(objs, kill,
		event("Pod", "api-77c9-x", "Unhealthy", "Warning", "Liveness probe failed: HTTP probe failed with statuscode: 500", 12, time.Minute),
		event("Pod", "cfg-1", "FailedMount", "Warning", `MountVolume.SetUp failed for volume "kube-api-access-x" : configmap "root-ca-missing" not found`, 3, 2*time.Minute),
		event("Pod", "api-77c9-x", "Scheduled", "Normal", "Successfully assigned shop/api-77c9-x to node-a", 1, time.Hour))
	return objs
}

// Trimming pages as they arrive changes no finding: the same fixture diagnosed with and
// without the trims gives the same findings, byte for byte.
func TestTrimChangesNoFinding(t *testing.T) {
	trimmed := findingsJSON(t, newFixture(t, trimmedFixture()...).diagnose(t, Scope{}))
	trimPages = false
	defer func() { trimPages = true }()
	whole := findingsJSON(t, newFixture(t, trimmedFixture()...).diagnose(t, Scope{}))
	if trimmed != whole {
		t.Fatalf("trimmed findings differ:\nwhole   %s\ntrimmed %s", whole, trimmed)
	}
	for _, want := range []string{"root-ca-missing", "liveness probe", "Killing", "FailedMount", "Scheduled"} {
		if !strings.Contains(whole, want) {
			t.Errorf("the fixture no longer exercises %q: %s", want, whole)
		}
	}
}

// Events keep what a record shows and the index needs; pods' projected volumes keep their
// ConfigMap and Secret sources only.
func TestTrimEventAndProjectedVolume(t *testing.T) {
	e := event("Pod", "p", "Killing", "Normal", "m", 2, time.Minute)
	e.InvolvedObject.FieldPath, e.InvolvedObject.UID = "spec.containers{app}", "u"
	e.Source.Component, e.ReportingController, e.Labels = "kubelet", "kubelet", map[string]string{"a": "b"}
	trimEvent(e)
	if e.Source.Component != "" || e.ReportingController != "" || e.InvolvedObject.UID != "" || e.Labels != nil {
		t.Errorf("kept %+v", e)
	}
	if e.Reason != "Killing" || e.Type != "Normal" || e.Message != "m" || e.Count != 2 || e.InvolvedObject.FieldPath != "spec.containers{app}" || e.InvolvedObject.Name != "p" || e.LastTimestamp.IsZero() {
		t.Errorf("lost %+v", e)
	}
	objs := trimmedFixture()
	var p *corev1.Pod
	for _, o := range objs {
		if q, ok := o.(*corev1.Pod); ok && q.Name == "api-77c9-x" {
			p = q
		}
	}
	trimPod(p)
	src := p.Spec.Volumes[len(p.Spec.Volumes)-1].Projected.Sources
	if len(src) != 1 || src[0].ConfigMap == nil || src[0].ConfigMap.Name != "root-ca-missing" {
		t.Errorf("projected sources %+v", src)
	}
}
