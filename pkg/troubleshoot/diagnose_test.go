package troubleshoot

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clienttesting "k8s.io/client-go/testing"
)

var webLabels = map[string]string{"app": "web"}

// healthyWeb is a healthy component: Deployment, ReplicaSet, two ready pods, a Service
// with ready EndpointSlices, a node.
func healthyWeb() []runtime.Object {
	d := deployment("web", webLabels, 2)
	rs := replicaSet(d, "5d8f", 2, 2)
	return []runtime.Object{
		d, rs, pod("web-5d8f-a", rs, webLabels), pod("web-5d8f-b", rs, webLabels),
		service("web", webLabels, intstr.FromString("http")),
		slice("web", map[string]bool{"web-5d8f-a": true, "web-5d8f-b": true}),
		node("node-1", "4", "8Gi"),
	}
}

func TestDiagnoseHealthyNamespace(t *testing.T) {
	f := newFixture(t, healthyWeb()...)
	r := f.diagnose(t, Scope{})
	if len(r.Findings) != 0 {
		t.Fatalf("healthy namespace has findings:%s", dump(r))
	}
	if r.Kind != "DiagnoseReport" || r.APIVersion != "feastflow.dev/v1alpha1" {
		t.Errorf("TypeMeta = %+v", r.TypeMeta)
	}
	if r.Summary.Pods != 2 || r.Summary.Services != 1 || r.Worst() != "" {
		t.Errorf("summary = %+v", r.Summary)
	}
}

// brokenPod is the web ReplicaSet's pod with a status set by mutate.
func brokenPod(name string, mutate func(p *corev1.Pod)) []runtime.Object {
	d := deployment("api", map[string]string{"app": "api"}, 1)
	rs := replicaSet(d, "77c9", 1, 1)
	p := pod(name, rs, map[string]string{"app": "api"})
	mutate(p)
	return []runtime.Object{d, rs, p, node("node-1", "4", "8Gi")}
}

func crashing(p *corev1.Pod, code int32, reason string) {
	p.Status.ContainerStatuses[0] = corev1.ContainerStatus{
		Name: "app", RestartCount: 5,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, StartedAt: ago(3 * time.Minute), FinishedAt: ago(3*time.Minute - 12*time.Second)}},
	}
}

func TestDiagnosePodRules(t *testing.T) {
	tests := []struct {
		name    string
		objs    []runtime.Object
		kind    string // finding object kind; "" = no finding expected
		obj     string
		cat     Category
		details []string // substrings expected somewhere in cause/details/fix
		logs    bool
	}{
		{
			name: "crash loop exit 1 with previous logs",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) { crashing(p, 1, "Error") }),
			kind: "Deployment", obj: "api", cat: CategoryCrashLoop, logs: true,
			details: []string{"last exit code 1 (Error): application error", "kubectl logs pod/api-77c9-x -c app --previous -n shop"},
		},
		{
			name: "OOMKilled with the limit",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) {
				crashing(p, 137, "OOMKilled")
				p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
			}),
			kind: "Deployment", obj: "api", cat: CategoryOOMKilled, logs: true,
			details: []string{"memory limit 64Mi", "--limits=memory=128Mi"},
		},
		{
			name: "liveness probe kills a slow start",
			objs: append(brokenPod("api-77c9-x", func(p *corev1.Pod) {
				crashing(p, 137, "Error")
				p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					InitialDelaySeconds: 1, PeriodSeconds: 3, FailureThreshold: 3}
			}), event("Pod", "api-77c9-x", "Unhealthy", "Warning", "Liveness probe failed: Get \"http://10.0.0.1:8080/healthz\": connection refused", 12, time.Minute)),
			kind: "Deployment", obj: "api", cat: CategoryProbeFailing, logs: true,
			details: []string{"liveness probe failed 12 times", "has 10s to become healthy", "no startupProbe", `startupProbe","value"`},
		},
		{
			name: "failed init container (db migrations)",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "db-migrations", Image: "migrate:1", Command: []string{"migrate", "up"}}}
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "db-migrations", RestartCount: 3,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
			}),
			kind: "Deployment", obj: "api", cat: CategoryInitFailed, logs: true,
			details: []string{`init container "db-migrations" failed with exit code 1`, "app containers app never started", "init command: migrate up", "kubectl logs pod/api-77c9-x -c db-migrations --previous -n shop"},
		},
		{
			name: "image pull with a missing pull secret",
			objs: append(brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "ImagePullBackOff", Message: "Back-off pulling image \"registry.example/app:1\": unauthorized"}}}
			}), configMeta("Secret", "other", testNow)),
			kind: "Deployment", obj: "api", cat: CategoryImagePull,
			details: []string{"not found or no access", "registries answer unauthorized for missing images", `imagePullSecret "regcred" (on the pod) does not exist`, "kubectl set image deployment/api app="},
		},
		{
			name: "image pull: no pull secrets anywhere",
			objs: append(brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}}}
			}), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}),
			kind: "Deployment", obj: "api", cat: CategoryImagePull,
			details: []string{"does not exist", "no imagePullSecrets on the pod or on ServiceAccount default"},
		},
		{
			name: "image pull: latest with pullPolicy Never",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = "app:latest", corev1.PullNever
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}}}
			}),
			kind: "Deployment", obj: "api", cat: CategoryImagePull,
			details: []string{":latest tag with pullPolicy Never", `"value":"IfNotPresent"`},
		},
		{
			name: "config error lists every missing reference, optional ones excepted",
			objs: append(brokenPod("api-77c9-x", func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.Env = []corev1.EnvVar{
					{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
					{Name: "DB_USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "user"}}},
					{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "optional-cm"}, Key: "mode", Optional: ptr(true)}}},
				}
				c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}
				p.Spec.Volumes = []corev1.Volume{{Name: "certs", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}}}}}}}
				p.Status.Phase = corev1.PodPending
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CreateContainerConfigError", Message: `couldn't find key password in Secret shop/db`}}}
			}), configMeta("Secret", "db", testNow.Add(-time.Hour), "user")),
			kind: "Deployment", obj: "api", cat: CategoryConfigError,
			details: []string{`key "password" not found in Secret "db" (env DB_PASSWORD of container app)`, `ConfigMap "app-config" not found (envFrom of container app)`,
				`Secret "tls" not found (projected volume certs)`, "3 missing reference(s)", "kubectl create configmap app-config -n shop", "kubectl create secret generic tls -n shop"},
		},
		{
			name: "node gone",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) { p.Spec.NodeName = "node-deleted" }),
			kind: "Deployment", obj: "api", cat: CategoryNodeGone,
			details: []string{`bound to node "node-deleted", which no longer exists`, "--force"},
		},
		{
			name: "evicted",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}
			}),
			kind: "Deployment", obj: "api", cat: CategoryEvicted, details: []string{"low on resource: memory", "kubectl delete pod api-77c9-x -n shop"},
		},
		{
			name: "negative: running pod that restarted once long ago",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].RestartCount = 1
				p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
			}),
		},
		{
			name: "negative: ContainerCreating without events",
			objs: brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
			}),
		},
		{
			name: "stuck mount: ContainerCreating with FailedMount",
			objs: append(brokenPod("api-77c9-x", func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
				p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
			}), event("Pod", "api-77c9-x", "FailedMount", "Warning", `MountVolume.SetUp failed for volume "cfg" : configmap "cfg" not found`, 4, time.Minute)),
			kind: "Deployment", obj: "api", cat: CategoryConfigError, details: []string{`ConfigMap "cfg" not found (volume cfg)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.objs...)
			r := f.diagnose(t, Scope{})
			if tt.kind == "" {
				if len(r.Findings) != 0 {
					t.Fatalf("want no findings, got:%s", dump(r))
				}
				return
			}
			fd := find(r, tt.kind, tt.obj, tt.cat)
			if fd == nil {
				t.Fatalf("no %s finding on %s/%s; got:%s", tt.cat, tt.kind, tt.obj, dump(r))
			}
			text := fd.Cause + "\n" + strings.Join(fd.Details, "\n") + "\n" + strings.Join(fd.Fix, "\n")
			for _, d := range tt.details {
				if !strings.Contains(text, d) {
					t.Errorf("finding lacks %q:\n%s", d, text)
				}
			}
			if strings.Contains(text, "optional-cm") {
				t.Errorf("optional reference reported:\n%s", text)
			}
			if tt.logs && (len(fd.Evidence.Logs) != 1 || len(fd.Evidence.Logs[0].Lines) == 0) {
				t.Errorf("logs = %+v, want the previous log", fd.Evidence.Logs)
			}
			if !tt.logs && len(fd.Evidence.Logs) != 0 {
				t.Errorf("logs read for a container that did not crash: %+v", fd.Evidence.Logs)
			}
		})
	}
}

func pendingPod(mutate func(p *corev1.Pod)) *corev1.Pod {
	p := pod("batch-1", nil, map[string]string{"app": "batch"})
	p.Spec.NodeName = ""
	p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}}
	mutate(p)
	return p
}

func unschedMsg(p *corev1.Pod, msg string) { p.Status.Conditions[0].Message = msg }

func TestDiagnoseScheduling(t *testing.T) {
	busy := pod("other-ns-pod", nil, nil)
	busy.Namespace = "other"
	busy.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	tainted := node("node-gpu", "8", "8Gi")
	tainted.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	tests := []struct {
		name    string
		objs    []runtime.Object
		cat     Category
		details []string
	}{
		{
			name: "insufficient cpu with requested vs allocatable vs already requested",
			objs: []runtime.Object{node("node-1", "4", "8Gi"), busy, pendingPod(func(p *corev1.Pod) {
				unschedMsg(p, "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")
			})},
			cat: CategoryInsufficient,
			details: []string{"scheduler: 1 of 1 nodes: Insufficient cpu",
				"node node-1: insufficient cpu: pod requests 3000m, node allocatable 4000m, already requested 2000m (free 2000m)", "recreate the pod with requests that fit"},
		},
		{
			name: "untolerated taint",
			objs: []runtime.Object{tainted, pendingPod(func(p *corev1.Pod) {
				unschedMsg(p, "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
			})},
			cat: CategoryUntoleratedTaint, details: []string{"node node-gpu: untolerated taint dedicated=gpu:NoSchedule", "toleration"},
		},
		{
			// The selector picks the tainted node on purpose; the other nodes do not match it.
			// What blocks the pod is the taint, though more nodes fail the selector.
			name: "selector matches only a tainted node",
			objs: []runtime.Object{tainted, node("node-1", "8", "8Gi"), node("node-2", "8", "8Gi"), pendingPod(func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "node-gpu"}
				unschedMsg(p, "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 node(s) didn't match Pod's node affinity/selector.")
			})},
			cat: CategoryUntoleratedTaint, details: []string{"node node-gpu: untolerated taint dedicated=gpu:NoSchedule"},
		},
		{
			// A selector no node matches is the cause, even when a tainted node also refuses.
			name: "selector matches no node beside a tainted one",
			objs: []runtime.Object{tainted, node("node-1", "8", "8Gi"), pendingPod(func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"disktype": "ssdd"}
				unschedMsg(p, "0/2 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) didn't match Pod's node affinity/selector.")
			})},
			cat: CategoryNodeAffinity, details: []string{"node node-1: node selector/affinity does not match"},
		},
		{
			name: "node selector mismatch",
			objs: []runtime.Object{node("node-1", "8", "8Gi"), pendingPod(func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{"disktype": "ssd"}
				unschedMsg(p, "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.")
			})},
			cat: CategoryNodeAffinity, details: []string{"node node-1: node selector/affinity does not match (wants disktype=ssd, node has no disktype)"},
		},
		{
			name: "topology spread",
			objs: []runtime.Object{node("node-1", "8", "8Gi"), pendingPod(func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
				unschedMsg(p, "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label).")
			})},
			cat: CategoryTopologySpread, details: []string{"topologyKey topology.kubernetes.io/zone, maxSkew 1"},
		},
		{
			name: "unbound PVC with no StorageClass and no default",
			objs: []runtime.Object{node("node-1", "8", "8Gi"),
				&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns}, Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
					Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
				pendingPod(func(p *corev1.Pod) {
					p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
					unschedMsg(p, "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
				})},
			cat: CategoryUnboundPVC, details: []string{`persistentvolumeclaim "data" is Pending: no storageClassName, no default StorageClass, and no Available PersistentVolume matches`},
		},
		{
			name: "unbound PVC with a StorageClass that does not exist",
			objs: []runtime.Object{node("node-1", "8", "8Gi"),
				&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard"}, Provisioner: "x"},
				&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("fast"),
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
					Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
				pendingPod(func(p *corev1.Pod) {
					p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
					unschedMsg(p, "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
				})},
			cat: CategoryUnboundPVC, details: []string{`StorageClass "fast" does not exist`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.objs...)
			r := f.diagnose(t, Scope{})
			fd := find(r, "Pod", "batch-1", tt.cat)
			if fd == nil {
				t.Fatalf("no %s finding; got:%s", tt.cat, dump(r))
			}
			text := fd.Cause + "\n" + strings.Join(fd.Details, "\n") + "\n" + strings.Join(fd.Fix, "\n")
			for _, d := range tt.details {
				if !strings.Contains(text, d) {
					t.Errorf("finding lacks %q:\n%s", d, text)
				}
			}
		})
	}
}

func TestParseFailedScheduling(t *testing.T) {
	total, rs := ParseFailedScheduling("0/5 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.")
	want := []SchedulingReason{{1, "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"}, {2, "Insufficient memory"}, {2, "node(s) didn't match Pod's node affinity/selector"}}
	if total != 5 || fmt.Sprint(rs) != fmt.Sprint(want) {
		t.Errorf("got %d %v, want 5 %v", total, rs, want)
	}
	if _, rs := ParseFailedScheduling(`persistentvolumeclaim "data" not found.`); len(rs) != 1 || rs[0].Reason != `persistentvolumeclaim "data" not found` {
		t.Errorf("no-count message: %v", rs)
	}
}

func TestDiagnoseServices(t *testing.T) {
	t.Run("selector matches nothing: nearest miss", func(t *testing.T) {
		objs := healthyWeb()
		objs = append(objs, service("web-typo", map[string]string{"app": "web", "tier": "front"}, intstr.FromString("http")))
		r := newFixture(t, objs...).diagnose(t, Scope{})
		fd := find(r, "Service", "web-typo", CategoryServiceNoPods)
		if fd == nil {
			t.Fatalf("no finding:%s", dump(r))
		}
		if d := strings.Join(fd.Details, "\n"); !strings.Contains(d, "nearest miss: 2 pod(s) of deployment/web") || !strings.Contains(d, "selector wants tier=front, pods have no tier label") {
			t.Errorf("details = %s", d)
		}
		if !strings.Contains(fd.Fix[0], `"tier":null`) {
			t.Errorf("fix = %v", fd.Fix)
		}
	})
	t.Run("blue-green color with no deployment", func(t *testing.T) {
		blue := map[string]string{"app": "backend", "version": "blue"}
		d := deployment("backend-blue", blue, 1)
		rs := replicaSet(d, "1", 1, 1)
		svc := service("backend", map[string]string{"app": "backend", "version": "green"}, intstr.FromString("http"))
		r := newFixture(t, d, rs, pod("backend-blue-1-a", rs, blue), svc).diagnose(t, Scope{})
		fd := find(r, "Service", "backend", CategoryServiceColor)
		if fd == nil {
			t.Fatalf("no finding:%s", dump(r))
		}
		if !strings.Contains(fd.Cause, "version=green") || !strings.Contains(strings.Join(fd.Fix, ""), "kubectl feastflow switch blue backend") {
			t.Errorf("finding = %+v", fd)
		}
	})
	t.Run("named targetPort missing on pods", func(t *testing.T) {
		objs := healthyWeb()
		objs[4] = service("web", webLabels, intstr.FromString("web"))
		r := newFixture(t, objs...).diagnose(t, Scope{})
		fd := find(r, "Service", "web", CategoryTargetPort)
		if fd == nil || fd.Severity != SeverityError {
			t.Fatalf("no error finding:%s", dump(r))
		}
		if !strings.Contains(fd.Cause, `targetPort "web" is not a named containerPort of 2 of 2`) || !strings.Contains(fd.Fix[0], `"value":8080`) {
			t.Errorf("finding = %s / %v", fd.Cause, fd.Fix)
		}
	})
	t.Run("negative: numeric targetPort declared", func(t *testing.T) {
		objs := healthyWeb()
		objs[4] = service("web", webLabels, intstr.FromInt32(8080))
		if r := newFixture(t, objs...).diagnose(t, Scope{}); len(r.Findings) != 0 {
			t.Errorf("findings:%s", dump(r))
		}
	})
	t.Run("not-ready endpoints and why", func(t *testing.T) {
		objs := healthyWeb()
		p := objs[3].(*corev1.Pod)
		p.Status.ContainerStatuses[0].Ready = false
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}}
		objs[5] = slice("web", map[string]bool{"web-5d8f-a": true, "web-5d8f-b": false})
		objs = append(objs, event("Pod", "web-5d8f-b", "Unhealthy", "Warning", "Readiness probe failed: HTTP probe failed with statuscode: 503", 7, time.Minute))
		r := newFixture(t, objs...).diagnose(t, Scope{})
		fd := find(r, "Service", "web", CategoryNotReadyEndpoints)
		if fd == nil || fd.Severity != SeverityWarning {
			t.Fatalf("no warning:%s", dump(r))
		}
		if d := strings.Join(fd.Details, "\n"); !strings.Contains(d, "pod web-5d8f-b: readiness probe failing (7 times): Readiness probe failed: HTTP probe failed with statuscode: 503") {
			t.Errorf("details = %s", d)
		}
	})
}

func TestDiagnoseWorkloadsAndNodes(t *testing.T) {
	t.Run("deployment stuck", func(t *testing.T) {
		objs := healthyWeb()
		d := objs[0].(*appsv1.Deployment)
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-6c" has timed out progressing.`}}
		r := newFixture(t, objs...).diagnose(t, Scope{})
		if find(r, "Deployment", "web", CategoryDeploymentStuck) == nil {
			t.Fatalf("no finding:%s", dump(r))
		}
	})
	t.Run("quota exceeded from the ReplicaSet", func(t *testing.T) {
		objs := healthyWeb()
		rs := objs[1].(*appsv1.ReplicaSet)
		rs.Spec.Replicas = ptr(int32(3))
		rs.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
			Message: `pods "web-5d8f-c" is forbidden: exceeded quota: compute, requested: cpu=500m, used: cpu=1500m, limited: cpu=2`}}
		objs = append(objs, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: ns}, Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}, Used: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}})
		r := newFixture(t, objs...).diagnose(t, Scope{})
		fd := find(r, "Deployment", "web", CategoryQuotaExceeded)
		if fd == nil {
			t.Fatalf("no finding:%s", dump(r))
		}
		if d := strings.Join(fd.Details, "\n"); !strings.Contains(d, "requests cpu=500m; the namespace already uses cpu=1500m of the limit cpu=2") || !strings.Contains(d, "quota compute: cpu used 1500m of 2") {
			t.Errorf("details = %s", d)
		}
	})
	t.Run("stale config", func(t *testing.T) {
		objs := healthyWeb()
		for _, i := range []int{2, 3} {
			objs[i].(*corev1.Pod).Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}
		}
		r := newFixture(t, append(objs, configMeta("ConfigMap", "web-config", testNow.Add(-10*time.Minute), "A"))...).diagnose(t, Scope{})
		fd := find(r, "Deployment", "web", CategoryStaleConfig)
		if fd == nil || len(fd.Pods) != 2 || !strings.Contains(fd.Cause, "ConfigMap web-config changed (10m ago; pods started 2h ago)") {
			t.Fatalf("finding:%s", dump(r))
		}
		// Negative: config written before the pods started.
		objs = healthyWeb()
		objs[2].(*corev1.Pod).Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}
		if r := newFixture(t, append(objs, configMeta("ConfigMap", "web-config", testNow.Add(-3*time.Hour), "A"))...).diagnose(t, Scope{}); len(r.Findings) != 0 {
			t.Errorf("findings:%s", dump(r))
		}
	})
	t.Run("stale config by the recorded identity", func(t *testing.T) {
		// The recorded resourceVersion decides, whatever the clocks say.
		build := func(recorded string, written time.Time) []runtime.Object {
			objs := healthyWeb()
			for _, i := range []int{2, 3} {
				p := objs[i].(*corev1.Pod)
				p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}
				p.Annotations = map[string]string{ConfigVersionsAnnotation: "configmap/web-config=" + recorded}
			}
			cm := configMeta("ConfigMap", "web-config", written, "A")
			cm.ResourceVersion = "6"
			return append(objs, cm)
		}
		started := podStarted(healthyWeb()[2].(*corev1.Pod)).Time
		// Changed within the same second as the pods' start: the time rule could not tell.
		r := newFixture(t, build("5", started)...).diagnose(t, Scope{})
		fd := find(r, "Deployment", "web", CategoryStaleConfig)
		if fd == nil || fd.Confidence != ConfidenceHigh || !strings.Contains(fd.Cause, "recorded for ConfigMap web-config at resourceVersion 5; it is at 6 now") {
			t.Fatalf("finding:%s", dump(r))
		}
		// The recorded version is the current one: not stale, though written after the start.
		if r := newFixture(t, build("6", testNow.Add(-10*time.Minute))...).diagnose(t, Scope{}); find(r, "Deployment", "web", CategoryStaleConfig) != nil {
			t.Errorf("stale by time though the record matches:%s", dump(r))
		}
		// Changed since the record, but before these pods started: they read the new data.
		if r := newFixture(t, build("5", started.Add(-time.Hour))...).diagnose(t, Scope{}); find(r, "Deployment", "web", CategoryStaleConfig) != nil {
			t.Errorf("stale though the pods started after the change:%s", dump(r))
		}
	})
	t.Run("node NotReady and pressure with the pods affected", func(t *testing.T) {
		objs := healthyWeb()
		n := objs[6].(*corev1.Node)
		n.Status.Conditions = []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.", LastTransitionTime: ago(5 * time.Minute)},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasDiskPressure"},
		}
		r := newFixture(t, append(objs, node("node-idle", "4", "8Gi"))...).diagnose(t, Scope{})
		fd := find(r, "Node", "node-1", CategoryNodeNotReady)
		if fd == nil || !strings.Contains(strings.Join(fd.Details, "\n"), "pod affected: shop/web-5d8f-a") {
			t.Fatalf("finding:%s", dump(r))
		}
		if find(r, "Node", "node-1", CategoryNodePressure) == nil {
			t.Errorf("no pressure finding:%s", dump(r))
		}
	})
	t.Run("PDB that blocks every drain", func(t *testing.T) {
		objs := append(healthyWeb(), &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Status: policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, DesiredHealthy: 2, CurrentHealthy: 2, DisruptionsAllowed: 0}})
		if r := newFixture(t, objs...).diagnose(t, Scope{}); find(r, "PodDisruptionBudget", "web", CategoryPDBBlocking) == nil {
			t.Fatalf("no finding:%s", dump(r))
		}
	})
}

// TestDiagnoseOneListPerKind: the number of requests does not grow with the number of pods.
func TestDiagnoseOneListPerKind(t *testing.T) {
	counts := map[int]map[string]int{}
	for _, n := range []int{3, 600} {
		objs := healthyWeb()
		rs := objs[1].(*appsv1.ReplicaSet)
		for i := 0; i < n; i++ {
			p := pod(fmt.Sprintf("web-5d8f-%04d", i), rs, webLabels)
			if i%20 == 0 {
				crashing(p, 1, "Error")
			}
			objs = append(objs, p)
		}
		f := newFixture(t, objs...)
		r := f.diagnose(t, Scope{})
		counts[n] = f.countLists()
		for kind, c := range counts[n] {
			if c != 1 {
				t.Errorf("%d pods: %d LISTs of %s, want 1", n, c, kind)
			}
		}
		logs := 0
		for _, a := range f.kube.Actions() {
			if a.GetSubresource() == "log" {
				logs++
			}
			if a.GetVerb() == "get" && a.GetSubresource() != "log" {
				t.Errorf("GET per object: %v", a)
			}
			if a.GetResource().Resource == "secrets" {
				t.Errorf("typed client touched secrets (would read data): %v", a)
			}
		}
		if logs != 1 {
			t.Errorf("%d pods: %d log reads, want 1 (one per failing workload)", n, logs)
		}
		if fd := find(r, "Deployment", "web", CategoryCrashLoop); fd == nil || len(fd.Pods) != (n+19)/20 {
			t.Errorf("%d pods: grouped finding = %+v", n, fd)
		}
	}
	if fmt.Sprint(counts[3]) != fmt.Sprint(counts[600]) {
		t.Errorf("lists differ with the pod count: %v vs %v", counts[3], counts[600])
	}
	for _, kind := range []string{"pods", "events", "services", "endpointslices", "nodes", "persistentvolumeclaims", "replicasets", "deployments", "poddisruptionbudgets", "resourcequotas", "configmaps", "secrets"} {
		if counts[3][kind] != 1 {
			t.Errorf("no LIST of %s: %v", kind, counts[3])
		}
	}
}

func TestDiagnoseScopes(t *testing.T) {
	objs := healthyWeb()
	crashing(objs[3].(*corev1.Pod), 1, "Error")
	objs = append(objs, service("lonely", map[string]string{"app": "nothing"}, intstr.FromInt32(80)))
	f := newFixture(t, objs...)
	if r := f.diagnose(t, Scope{Kind: ScopePod, Name: "web-5d8f-a"}); len(r.Findings) != 0 {
		t.Errorf("healthy pod scope has findings:%s", dump(r))
	}
	r := f.diagnose(t, Scope{Kind: ScopePod, Name: "web-5d8f-b"})
	if len(r.Findings) != 1 || r.Findings[0].Object.Kind != "Pod" {
		t.Errorf("pod scope:%s", dump(r))
	}
	if r := f.diagnose(t, Scope{Kind: ScopeService, Name: "lonely"}); len(r.Findings) != 1 || r.Findings[0].Category != CategoryServiceNoPods {
		t.Errorf("service scope:%s", dump(r))
	}
	if r := f.diagnose(t, Scope{Kind: ScopeComponent, Name: "web"}); len(r.Findings) != 1 || r.Findings[0].Object.Name != "web" {
		t.Errorf("component scope:%s", dump(r))
	}
	_, err := Diagnose(t.Context(), f.kube, Scope{Namespace: ns, Kind: ScopeDeployment, Name: "nope"}, Options{Metadata: f.meta})
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), `Deployment "nope" not found in namespace shop`) {
		t.Errorf("err = %v", err)
	}
}

func TestDiagnoseForbiddenListIsSkipped(t *testing.T) {
	f := newFixture(t, healthyWeb()...)
	f.kube.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errForbidden("nodes")
	})
	r := f.diagnose(t, Scope{})
	if len(r.Skipped) != 1 || !strings.HasPrefix(r.Skipped[0], "nodes: Forbidden") {
		t.Errorf("skipped = %v", r.Skipped)
	}
}

func TestRanking(t *testing.T) {
	fs := []Finding{
		{Severity: SeverityInfo, Confidence: ConfidenceHigh, Object: ObjectRef{Name: "a"}},
		{Severity: SeverityError, Confidence: ConfidenceMedium, Object: ObjectRef{Name: "b"}},
		{Severity: SeverityWarning, Confidence: ConfidenceHigh, Object: ObjectRef{Name: "c"}},
		{Severity: SeverityError, Confidence: ConfidenceHigh, Object: ObjectRef{Name: "d"}},
	}
	rank(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.Object.Name)
	}
	if strings.Join(got, "") != "dbca" {
		t.Errorf("order = %v", got)
	}
}

func TestDiagnoseMaxLogs(t *testing.T) {
	objs := brokenPod("api-77c9-x", func(p *corev1.Pod) { crashing(p, 1, "Error") })
	f := newFixture(t, objs...)
	r, err := Diagnose(t.Context(), f.kube, Scope{Namespace: ns}, Options{Metadata: f.meta, MaxLogs: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range f.kube.Actions() {
		if a.GetSubresource() == "log" {
			t.Errorf("log read with MaxLogs < 0: %v", a)
		}
	}
	if fd := find(r, "Deployment", "api", CategoryCrashLoop); fd == nil || len(fd.Evidence.Logs) != 1 || fd.Evidence.Logs[0].Error == "" {
		t.Errorf("finding = %+v", fd)
	}
}

// TestDiagnoseNegatives: healthy variants of every workload, service and node rule report
// nothing.
func TestDiagnoseNegatives(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(objs []runtime.Object) []runtime.Object
	}{
		{"PDB that allows a disruption", func(o []runtime.Object) []runtime.Object {
			return append(o, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
				Status: policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, DesiredHealthy: 1, CurrentHealthy: 2, DisruptionsAllowed: 1}})
		}},
		{"PDB blocking only because a pod is down (not by configuration)", func(o []runtime.Object) []runtime.Object {
			return append(o, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
				Status: policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, DesiredHealthy: 2, CurrentHealthy: 1, DisruptionsAllowed: 0}})
		}},
		{"ReplicaSet with an old FailedCreate but all replicas", func(o []runtime.Object) []runtime.Object {
			return append(o, event("ReplicaSet", "web-5d8f", "FailedCreate", "Warning", "exceeded quota: q, requested: cpu=1, used: cpu=1, limited: cpu=1", 1, time.Minute))
		}},
		{"Deployment progressing normally", func(o []runtime.Object) []runtime.Object {
			o[0].(*appsv1.Deployment).Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}
			return o
		}},
		{"node without pressure, another node NotReady without our pods", func(o []runtime.Object) []runtime.Object {
			n := node("node-9", "4", "8Gi")
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
			return append(o, n)
		}},
		{"bound PVC", func(o []runtime.Object) []runtime.Object {
			p := o[2].(*corev1.Pod)
			p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}}}
			return append(o, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: ns}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}})
		}},
		{"every referenced key exists; optional missing ones ignored", func(o []runtime.Object) []runtime.Object {
			p := o[2].(*corev1.Pod)
			p.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "a"}}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "b", Optional: ptr(true)}}},
			}
			return append(o, configMeta("Secret", "s", testNow.Add(-5*time.Hour), "a"))
		}},
		{"blue-green Service on an existing color", func(o []runtime.Object) []runtime.Object {
			blue := map[string]string{"app": "b", "version": "blue"}
			d := deployment("b-blue", blue, 1)
			rs := replicaSet(d, "1", 1, 1)
			return append(o, d, rs, pod("b-blue-1-a", rs, blue), service("b", blue, intstr.FromString("http")), slice("b", map[string]bool{"b-blue-1-a": true}))
		}},
		{"terminating endpoint not counted as not ready", func(o []runtime.Object) []runtime.Object {
			es := o[5].(*discoveryv1.EndpointSlice)
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Terminating: ptr(true)}})
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFixture(t, tt.mutate(healthyWeb())...).diagnose(t, Scope{})
			if len(r.Findings) != 0 {
				t.Errorf("findings:%s", dump(r))
			}
		})
	}
}
