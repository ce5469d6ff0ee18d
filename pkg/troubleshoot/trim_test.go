package troubleshoot

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Events become records of what a rule or a finding's evidence reads; pods' projected volumes keep their
// ConfigMap and Secret sources only.
func TestTrimEventAndProjectedVolume(t *testing.T) {
	e := event("Pod", "p", "Killing", "Normal", "m", 2, time.Minute)
	e.InvolvedObject.FieldPath, e.InvolvedObject.UID = "spec.containers{app}", "u"
	e.Source.Component, e.ReportingController, e.Labels = "kubelet", "kubelet", map[string]string{"a": "b"}
	r := newEventRecord(e, newSharer())
	if r != (eventRecord{FieldPath: "spec.containers{app}", Type: "Normal", Reason: "Killing", Message: "m", Count: 2, Last: e.LastTimestamp.Time}) {
		t.Errorf("event record %+v", r)
	}
	e.Count, e.Series = 0, &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(testNow)}
	if r := newEventRecord(e, nil); r.Count != 7 || !r.Last.Equal(testNow) {
		t.Errorf("series: %+v", r)
	}
	e.Series, e.LastTimestamp = nil, metav1.Time{}
	if r := newEventRecord(e, nil); r.Count != 1 || !r.Last.IsZero() {
		t.Errorf("no count, no time: %+v", r)
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

// quietFixtures are fixtures whose findings come from rules that read healthy (quiet, and
// so compacted) pods: stale config through env, envFrom and subPath mounts with a recorded
// version; a PodDisruptionBudget and a NetworkPolicy selecting them; a Service whose
// targetPort they do not declare; an unschedulable pod whose fit sums the quiet pods'
// requests on the node.
func quietFixtures() map[string][]runtime.Object {
	stale := healthyWeb()
	for _, i := range []int{2, 3} {
		p := stale[i].(*corev1.Pod)
		p.Annotations = map[string]string{ConfigVersionsAnnotation: "configmap/web-config=5"}
		c := &p.Spec.Containers[0]
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}
		c.Env = []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web-secret"}, Key: "token"}}}}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/app.conf", SubPath: "app.conf"}, {Name: "other", MountPath: "/x"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sub-config"}}}}}
		p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}}
	}
	cm := configMeta("ConfigMap", "web-config", testNow.Add(-10*time.Minute), "A")
	cm.ResourceVersion = "6"
	stale = append(stale, cm, configMeta("Secret", "web-secret", testNow.Add(-10*time.Minute), "token"), configMeta("ConfigMap", "sub-config", testNow.Add(-5*time.Minute), "app.conf"))

	guarded := healthyWeb()
	guarded = append(guarded,
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: ns}, Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "wbe"}}}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: ns}, Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: webLabels}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}},
		service("web-port", webLabels, intstr.FromString("grpc")))

	full := healthyWeb()
	for _, i := range []int{2, 3} {
		full[i].(*corev1.Pod).Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	}
	full = append(full, brokenPod("big-1", func(p *corev1.Pod) {
		p.Spec.NodeName = ""
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu."}}}
	})[2])
	return map[string][]runtime.Object{"trimmed": trimmedFixture(), "stale config": stale, "pdb, netpol, targetPort": guarded, "node usage": full}
}

// quietWants are what each quiet fixture's findings must mention.
var quietWants = map[string][]string{
	"trimmed":                 {"root-ca-missing", "Killing"},
	"stale config":            {`"StaleConfig"`, "web-config", "web-secret", "sub-config"},
	"pdb, netpol, targetPort": {`"PDBSelectsNothing"`, `"NetworkPolicyBlocksService"`, `"TargetPortMismatch"`},
	"node usage":              {`"Unschedulable"`, "already requested"},
}

// Compacting quiet pods changes no finding: every fixture diagnosed with and without the
// trims gives the same findings, byte for byte, and each has findings to compare.
func TestQuietPodsChangeNoFinding(t *testing.T) {
	for name, objs := range quietFixtures() {
		t.Run(name, func(t *testing.T) {
			trimmed := findingsJSON(t, newFixture(t, objs...).diagnose(t, Scope{}))
			trimPages = false
			defer func() { trimPages = true }()
			whole := findingsJSON(t, newFixture(t, quietFixtures()[name]...).diagnose(t, Scope{}))
			if trimmed != whole {
				t.Fatalf("trimmed findings differ:\nwhole   %s\ntrimmed %s", whole, trimmed)
			}
			for _, want := range quietWants[name] {
				if !strings.Contains(whole, want) {
					t.Errorf("the fixture no longer gives %q: %s", want, whole)
				}
			}
		})
	}
}

// A quiet pod is compacted to what the rules read of it; a pod with anything to report
// (a restart, not ready, pending) is kept whole.
func TestCompactQuietPod(t *testing.T) {
	objs := quietFixtures()["stale config"]
	p := objs[2].(*corev1.Pod).DeepCopy()
	p.Status.PodIP, p.Status.ContainerStatuses[0].ImageID = "10.0.0.1", "sha256:1"
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{PeriodSeconds: 10}
	trimPod(p)
	c := p.Spec.Containers[0]
	if p.Spec.Tolerations != nil || c.LivenessProbe != nil || len(c.VolumeMounts) != 1 || p.Status.PodIP != "" || p.Status.ContainerStatuses[0].ImageID != "" {
		t.Errorf("quiet pod kept %+v", p)
	}
	if c.EnvFrom == nil || c.Env == nil || c.Ports == nil || p.Spec.Volumes == nil || p.Annotations[ConfigVersionsAnnotation] == "" || p.Status.ContainerStatuses[0].State.Running == nil {
		t.Errorf("quiet pod lost what rules read: %+v", p)
	}
	restarted := objs[3].(*corev1.Pod).DeepCopy()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	trimPod(restarted)
	if restarted.Spec.Tolerations == nil {
		t.Error("a restarted pod was compacted")
	}
}

// A quiet pod's record gives back, field for field, the pod compactQuietPod leaves; any
// other pod's record is the pod.
func TestPodRecordGivesBackTheCompactedPod(t *testing.T) {
	quiet := 0
	for name, objs := range quietFixtures() {
		for _, o := range append(objs, healthyWeb()...) {
			p, ok := o.(*corev1.Pod)
			if !ok {
				continue
			}
			p = p.DeepCopy()
			p.Finalizers, p.UID = []string{"example.com/keep"}, "u-1"
			want := p.DeepCopy()
			isQuiet := trimPodSharing(want, nil)
			for _, s := range []*sharer{nil, newSharer()} {
				r := newPodRecord(p.DeepCopy(), s)
				if (r.quiet != nil) != isQuiet {
					t.Fatalf("%s: pod %s quiet %v, record quiet %v", name, p.Name, isQuiet, r.quiet != nil)
				}
				if got := r.pod(); !equality.Semantic.DeepEqual(got, want) {
					t.Errorf("%s: pod %s from its record differs:\n got %+v\nwant %+v", name, p.Name, got, want)
				}
				if r.namespace() != want.Namespace || r.name() != want.Name || r.nodeName() != want.Spec.NodeName || r.phase() != want.Status.Phase ||
					!reflect.DeepEqual(r.labels(), want.Labels) || !reflect.DeepEqual(r.controller(), metav1.GetControllerOf(want)) ||
					r.deleting() != (want.DeletionTimestamp != nil) || !reflect.DeepEqual(r.volumes(), want.Spec.Volumes) {
					t.Errorf("%s: pod %s: the record's accessors differ from the pod", name, p.Name)
				}
			}
			if isQuiet {
				quiet++
			}
		}
	}
	if quiet == 0 {
		t.Fatal("no quiet pod in the fixtures")
	}
}

// Quiet pods of one ReplicaSet share their label map, owner references and strings.
func TestSharerSharesQuietPods(t *testing.T) {
	objs := healthyWeb()
	a, b := objs[2].(*corev1.Pod).DeepCopy(), objs[3].(*corev1.Pod).DeepCopy()
	s := newSharer()
	trimPodSharing(a, s)
	trimPodSharing(b, s)
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() || &a.OwnerReferences[0] != &b.OwnerReferences[0] {
		t.Error("labels or owners not shared")
	}
	if &a.Spec.Containers[0] != &b.Spec.Containers[0] {
		t.Error("equal containers not shared")
	}
	d := objs[3].(*corev1.Pod).DeepCopy()
	d.Spec.Containers[0].Image = "web:2"
	trimPodSharing(d, s)
	if d.Spec.Containers[0].Image != "web:2" || &d.Spec.Containers[0] == &a.Spec.Containers[0] {
		t.Errorf("different containers shared: %+v", d.Spec.Containers[0])
	}
	if a.Labels["app"] != "web" || a.Name == b.Name || a.Spec.Containers[0].Image != b.Spec.Containers[0].Image {
		t.Errorf("shared wrongly: %+v %+v", a.ObjectMeta, b.ObjectMeta)
	}
	c := objs[3].(*corev1.Pod).DeepCopy()
	c.Labels = map[string]string{"app": "web", "extra": "1"}
	trimPodSharing(c, s)
	if c.Labels["extra"] != "1" {
		t.Errorf("different labels shared: %v", c.Labels)
	}
}
