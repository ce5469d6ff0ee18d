package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

const analyzersApp = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, version: v1}}
    spec:
      containers: [{name: app, image: registry.local/web:1.0, ports: [{name: http, containerPort: 8080}], resources: {requests: {cpu: 10m, memory: 16Mi}}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: app, image: registry.local/api:1.0, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-admin-only}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: 9999}]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: edge}
spec:
  ingressClassName: e2e-no-such-class
  tls: [{hosts: [shop.local], secretName: shop-tls}]
  rules:
  - host: shop.local
    http:
      paths:
      - {path: /pay, pathType: Prefix, backend: {service: {name: paymnt, port: {number: 80}}}}
      - {path: /admin, pathType: Prefix, backend: {service: {name: web, port: {number: 8443}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 1
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ghost}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: typo}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: wbe}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-a}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-b}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache}
spec:
  replicas: 2
  serviceName: cache
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: app, image: registry.local/cache:1.0}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: app, image: registry.local/db:1.0, volumeMounts: [{name: data, mountPath: /data}]}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], storageClassName: e2e-does-not-exist, resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent, sim.feastflow.dev/state: crashloop}}
    spec:
      containers: [{name: agent, image: registry.local/agent:1.0}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: report}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {sim.feastflow.dev/state: manual}}
    spec:
      restartPolicy: Never
      containers: [{name: report, image: registry.local/report:1.0}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: registry.local/job:1.0}]
---
apiVersion: v1
kind: Pod
metadata: {name: gated}
spec:
  schedulingGates: [{name: example.com/quota-check}]
  containers: [{name: app, image: registry.local/app:1.0}]
---
apiVersion: v1
kind: Pod
metadata: {name: done, labels: {sim.feastflow.dev/state: manual}}
spec:
  restartPolicy: Never
  initContainers: [{name: proxy, image: registry.local/proxy:1.0, restartPolicy: Always}]
  containers: [{name: task, image: registry.local/task:1.0}]
`

// Every analyzer on the real controllers (HPA, StatefulSet, DaemonSet, Job, CronJob,
// disruption, endpoint slices, scheduler) or on status written through the status
// subresource where the simulation has no kubelet: a private tainted node for the
// DaemonSet, a Job pod that fails, a pod whose sidecar exited non-zero after its task.
func TestDiagnoseAnalyzers(t *testing.T) {
	h := harness.For(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := h.NewNamespace()
	suffix := ns[len(ns)-6:]
	// A private tainted node the DaemonSet does not tolerate (kwok-managed, so it is Ready).
	tainted := "e2e-ds-tainted-" + suffix
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
	if _, err := h.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: tainted, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}, Labels: map[string]string{"kubernetes.io/hostname": tainted}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "e2e.feastflow.dev/dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
		Status:     corev1.NodeStatus{Capacity: res, Allocatable: res},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Client.CoreV1().Nodes().Delete(context.Background(), tainted, metav1.DeleteOptions{}) })
	h.Apply(ns, analyzersApp)
	h.WaitForRollout(ns, "web")
	h.WaitForRollout(ns, "api")

	// StatefulSet held by its partition: the controller updates only ordinals ≥ 1.
	harness.WaitFor(ctx, h.Pods(ns, "app=cache"), "cache pods ready", func(ps []*corev1.Pod) (bool, error) {
		return len(ps) == 2 && harness.PodReady(ps[0]) && harness.PodReady(ps[1]), nil
	})
	h.MustKubectl("set", "image", "statefulset/cache", "app=registry.local/cache:1.1", "-n", ns)
	waitObj(ctx, t, "cache held by the partition", func() bool {
		ss, err := h.Client.AppsV1().StatefulSets(ns).Get(ctx, "cache", metav1.GetOptions{})
		return err == nil && ss.Status.UpdatedReplicas == 1 && ss.Status.ReadyReplicas == 2 && ss.Status.CurrentRevision != ss.Status.UpdateRevision
	})
	// The Job's pod fails (written as a kubelet would); backoffLimit 0 fails the Job.
	jobPods := harness.WaitFor(ctx, h.Pods(ns, "job-name=report"), "report pod", func(ps []*corev1.Pod) (bool, error) { return len(ps) == 1, nil })
	now := metav1.Now()
	writePodStatus(ctx, t, h, ns, jobPods[0].Name, func(st *corev1.PodStatus) {
		st.Phase = corev1.PodFailed
		st.ContainerStatuses = []corev1.ContainerStatus{{Name: "report", Image: "registry.local/report:1.0",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", StartedAt: now, FinishedAt: now}}}}
	})
	waitObj(ctx, t, "job report failed", func() bool {
		j, err := h.Client.BatchV1().Jobs(ns).Get(ctx, "report", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	// The task finished; its sidecar was stopped with SIGTERM (143): not a failure.
	h.WaitForPod(ns, "done", "scheduled", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	writePodStatus(ctx, t, h, ns, "done", func(st *corev1.PodStatus) {
		st.Phase = corev1.PodFailed
		st.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error", StartedAt: now, FinishedAt: now}}}}
		st.ContainerStatuses = []corev1.ContainerStatus{{Name: "task", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}}}}
	})
	// The CronJob controller reads lastScheduleTime: ten hours ago is 120 missed runs (more
	// than the 100 it tolerates before it says so).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cj, err := h.Client.BatchV1().CronJobs(ns).Get(ctx, "nightly", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cj.Status.LastScheduleTime = &metav1.Time{Time: time.Now().Add(-10 * time.Hour)}
		_, err = h.Client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(ctx, h.Events(ns, "nightly"), "missed schedule events", func(evs []*corev1.Event) (bool, error) {
		for _, e := range evs {
			if e.Reason == "TooManyMissedTimes" || e.Reason == "MissSchedule" {
				return true, nil
			}
		}
		return false, nil
	})
	// The HPA controller finds no metrics API (and no cpu request on api's pods).
	waitObj(ctx, t, "hpa web ScalingActive=False", func() bool {
		hpa, err := h.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range hpa.Status.Conditions {
			if c.Type == autoscalingv2.ScalingActive && c.Status == corev1.ConditionFalse {
				return true
			}
		}
		return false
	})
	waitObj(ctx, t, "daemonset agent unavailable", func() bool {
		ds, err := h.Client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && ds.Status.NumberUnavailable > 0 && ds.Status.DesiredNumberScheduled > 0
	})
	waitObj(ctx, t, "pdb status", func() bool {
		p, err := h.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web-a", metav1.GetOptions{})
		return err == nil && p.Status.ExpectedPods == 2
	})
	h.WaitForPod(ns, "db-0", "Unschedulable", func(p *corev1.Pod) bool { return troubleshoot.ClassifyPod(p) != nil })

	rep, code := diagnoseReport(t, h, "-n", ns)
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	t.Logf("findings:\n%s", findingLines(rep))
	for _, w := range []struct {
		kind, name string
		category   troubleshoot.Category
		text       string
	}{
		{"Ingress", "edge", troubleshoot.CategoryIngressBackend, "routes shop.local/pay to service paymnt, which does not exist"},
		{"Ingress", "edge", troubleshoot.CategoryIngressBackend, "to port 8443 of service web, which has no such port"},
		{"Ingress", "edge", troubleshoot.CategoryIngressClass, "IngressClass e2e-no-such-class, which does not exist"},
		{"Ingress", "edge", troubleshoot.CategoryIngressTLS, "TLS Secret shop-tls for shop.local does not exist"},
		{"HorizontalPodAutoscaler", "web", troubleshoot.CategoryHPACannotScale, "ScalingActive=False"},
		{"HorizontalPodAutoscaler", "api", troubleshoot.CategoryHPANoRequests, "kubectl set resources deployment/api -n " + ns + " --requests=cpu=100m"},
		{"HorizontalPodAutoscaler", "ghost", troubleshoot.CategoryHPATargetMissing, "deployment/ghost, which does not exist"},
		{"PodDisruptionBudget", "typo", troubleshoot.CategoryPDBSelectsNothing, `{"matchLabels":{"app":"web"},"matchExpressions":null}`},
		{"PodDisruptionBudget", "web-a", troubleshoot.CategoryPDBOverlap, "web-a and web-b select the same 2 pod(s)"},
		{"Service", "api", troubleshoot.CategoryNetworkPolicyBlocks, "NetworkPolicy api-admin-only select(s) all 1 of its pods and admit nothing on port 8080/TCP"},
		{"StatefulSet", "cache", troubleshoot.CategoryStatefulSetStuck, "held by partition 1"},
		{"StatefulSet", "db", troubleshoot.CategoryUnboundPVC, "volumeClaimTemplate data: claim data-db-0 is Pending"},
		{"DaemonSet", "agent", troubleshoot.CategoryCrashLoop, "affects daemonset agent"},
		{"DaemonSet", "agent", troubleshoot.CategoryDaemonSetTaint, tainted + " (e2e.feastflow.dev/dedicated=gpu:NoSchedule)"},
		{"Job", "report", troubleshoot.CategoryJobFailed, "backoffLimit 0 reached"},
		{"CronJob", "nightly", troubleshoot.CategoryCronJobMissed, "missed scheduled runs"},
		{"Pod", "gated", troubleshoot.CategorySchedulingGated, "example.com/quota-check"},
	} {
		var texts []string
		for _, f := range rep.Findings {
			if f.Object.Kind == w.kind && f.Object.Name == w.name && f.Category == w.category {
				texts = append(texts, strings.Join(append(append(append([]string{f.Cause}, f.Details...), f.Affects...), f.Fix...), "\n"))
			}
		}
		if len(texts) == 0 {
			t.Errorf("no %s finding for %s/%s", w.category, w.kind, w.name)
			continue
		}
		if all := strings.Join(texts, "\n--\n"); !strings.Contains(all, w.text) {
			t.Errorf("%s %s/%s lacks %q:\n%s", w.category, w.kind, w.name, w.text, all)
		}
	}
	if f := findFinding(rep, "Service", "api", troubleshoot.CategoryNetworkPolicyBlocks); f != nil && (f.Impact != troubleshoot.ImpactOutage || f.Severity != troubleshoot.SeverityError) {
		t.Errorf("blocked service api: %s %s, want an outage error", f.Impact, f.Severity)
	}
	for _, f := range rep.Findings {
		if f.Object.Name == "done" || f.Category == troubleshoot.CategoryDaemonSetUnavailable || f.Category == troubleshoot.CategoryStatefulSetNotReady {
			t.Errorf("unexpected finding (a completed pod, or a symptom not folded): %s %s: %s", f.Category, f.Object, f.Cause)
		}
	}
	// The analyzers' TYPE scopes.
	for _, s := range []struct{ arg, category string }{
		{"ing/edge", "IngressClassMissing"}, {"hpa/ghost", "HPATargetMissing"}, {"pdb/typo", "PDBSelectsNothing"},
		{"sts/cache", "StatefulSetRolloutStuck"}, {"ds/agent", "DaemonSetNotOnTaintedNodes"}, {"job/report", "JobFailed"},
		{"cronjob/nightly", "CronJobMissedSchedule"}, {"pvc/data-db-0", "UnboundPVC"},
	} {
		if got := diagnoseCategories(t, h, s.arg, "-n", ns); !got[s.category] {
			t.Errorf("diagnose %s: categories %v, want %s", s.arg, got, s.category)
		}
	}
}

func waitObj(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	// A condition polled on a short period: these states come from controllers whose
	// objects the test does not hold a watch on; the deadline is the context's.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func writePodStatus(ctx context.Context, t *testing.T, h *harness.H, ns, name string, edit func(*corev1.PodStatus)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := h.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(&p.Status)
		_, err = h.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("write status of pod %s: %v", name, err)
	}
}

// Quota and stale-config fixes run as printed.
func TestDiagnoseQuotaAndStaleConfigFixes(t *testing.T) {
	h := harness.For(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := h.NewNamespace()
	h.Apply(ns, `
apiVersion: v1
kind: ResourceQuota
metadata: {name: pods}
spec: {hard: {pods: "1"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: reader-config}
data: {MODE: one}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reader}
spec:
  replicas: 2
  selector: {matchLabels: {app: reader}}
  template:
    metadata: {labels: {app: reader}}
    spec:
      containers: [{name: app, image: registry.local/reader:1.0, envFrom: [{configMapRef: {name: reader-config}}], resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}}]
---
apiVersion: v1
kind: Service
metadata: {name: reader}
spec:
  selector: {app: reader}
  ports: [{port: 80, targetPort: 8080}]
`)
	waitObj(ctx, t, "quota refusal", func() bool {
		d, err := h.Client.AppsV1().Deployments(ns).Get(ctx, "reader", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	rep, _ := diagnoseReport(t, h, "deploy/reader", "-n", ns)
	f := findFinding(rep, "Deployment", "reader", troubleshoot.CategoryQuotaExceeded)
	if f == nil {
		t.Fatalf("no quota finding:\n%s", findingLines(rep))
	}
	if !strings.Contains(f.Cause, "exhausted on pods") || strings.Contains(strings.Join(f.Fix, "\n"), "lower the requests") {
		t.Errorf("pod-count quota: cause %q, fix %v", f.Cause, f.Fix)
	}
	want := fmt.Sprintf(`kubectl patch resourcequota pods -n %s --type=merge -p '{"spec":{"hard":{"pods":"2"}}}'`, ns)
	if !strings.HasPrefix(f.Fix[0], want) {
		t.Fatalf("fix %q, want %q", f.Fix[0], want)
	}
	if r := h.Shell(f.Fix[0]); r.ExitCode != 0 {
		t.Fatalf("fix: exit %d %s", r.ExitCode, r.Stderr)
	}
	h.WaitForRollout(ns, "reader")

	// A config change after the pods started: StaleConfig, and its restart runs as printed.
	// The plugin's restart records the config versions on the template; the change right
	// after is judged by that identity, not by how many seconds apart the writes were.
	// Room for the rolling restart's surge pod under the pod-count quota.
	h.MustKubectl("-n", ns, "patch", "resourcequota", "pods", "--type=merge", "-p", `{"spec":{"hard":{"pods":"4"}}}`)
	if r := h.Feastflow("restart", "reader", "-n", ns); r.ExitCode != 0 {
		t.Fatalf("restart reader: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	h.WaitForRollout(ns, "reader")
	if rec := h.MustKubectl("-n", ns, "get", "deploy", "reader", "-o", `jsonpath={.spec.template.metadata.annotations.feastflow\.dev/config-versions}`); !strings.HasPrefix(rec, "configmap/reader-config=") {
		t.Fatalf("restart recorded no config versions on the template: %q", rec)
	}
	h.MustKubectl("patch", "configmap", "reader-config", "-n", ns, "--type=merge", "-p", `{"data":{"MODE":"two"}}`)
	var stale *troubleshoot.Finding
	waitObj(ctx, t, "StaleConfig finding", func() bool {
		r, _ := diagnoseReport(t, h, "-n", ns)
		stale = findFinding(r, "Deployment", "reader", troubleshoot.CategoryStaleConfig)
		return stale != nil
	})
	line := stale.Fix[len(stale.Fix)-1]
	cmd := strings.TrimPrefix(line, "or: ")
	if !strings.HasPrefix(cmd, "kubectl feastflow restart reader --changed-config -n "+ns) {
		t.Fatalf("StaleConfig fix %q, want the component's restart", line)
	}
	if r := h.Shell(cmd); r.ExitCode != 0 {
		t.Fatalf("%s: exit %d\n%s%s", cmd, r.ExitCode, r.Stdout, r.Stderr)
	}
}

// Forbidden is never healthy: an identity that may read nothing gets exit 1 naming what it
// may not list, for the namespace, for one Service and for preflight; one that may read
// only pods gets a report that names every kind it could not check.
func TestDiagnoseWithoutPermission(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, appService("web", "", "")+`---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nobody}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: pods-only}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pods-only}
rules: [{apiGroups: [""], resources: [pods], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pods-only}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pods-only}
subjects: [{kind: ServiceAccount, name: pods-only}]
`)
	h.WaitForRollout(ns, "web")
	nobody := "--as=system:serviceaccount:" + ns + ":nobody"
	for _, args := range [][]string{
		{"diagnose", "-n", ns, nobody},
		{"diagnose", "-n", ns, nobody, "--fail-on", "info", "-o", "json"},
		{"diagnose", "svc/web", "-n", ns, nobody},
		{"diagnose", "pod", "-n", ns, nobody},
		{"preflight", "web", "-n", ns, nobody},
	} {
		r := h.Feastflow(args...)
		if r.ExitCode != 1 || !strings.Contains(r.Stderr, "forbidden to list") || strings.Contains(r.Stdout+r.Stderr, "no problems") || strings.Contains(r.Stderr, "not found") {
			t.Errorf("%v: exit %d, want 1 naming what is forbidden\n%s%s", args, r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	r := h.Feastflow("diagnose", "-n", ns, "--as=system:serviceaccount:"+ns+":pods-only")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "not checked (no permission): ") || !strings.Contains(r.Stdout, "services: Forbidden") {
		t.Errorf("pods only: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}
