package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// plantedValue is a Secret value that must never appear in any output of the plugin. It is
// applied with kubectl apply, so it also sits in the Secret's last-applied annotation, which
// the metadata API returns.
const plantedValue = "PLANTED-s3cr3t-e2e-91f3c"

// brokenShop is a namespace with one of each problem diagnose must find. Pods of kwok have
// no containers: failure states come from the cluster's simulation labels
// (sim.feastflow.dev/state) and image conventions (:initfail, :doesnotexist); scheduling,
// volumes, quotas, Services, EndpointSlices, Deployments and PDBs are the real controllers'.
const brokenShop = `
apiVersion: v1
kind: Secret
metadata: {name: db-credentials}
stringData: {password: ` + plantedValue + `}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: stale-config}
data: {MODE: one}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: stale}
spec:
  replicas: 2
  selector: {matchLabels: {app: stale}}
  template:
    metadata: {labels: {app: stale}}
    spec:
      containers:
      - name: app
        image: ghcr.io/feastflow/backend:1.4.0
        ports: [{name: http, containerPort: 5000}]
        envFrom: [{configMapRef: {name: stale-config}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: stale}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: stale}}
---
apiVersion: v1
kind: Service
metadata: {name: stale}
spec:
  selector: {app: stale}
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: typo}
spec:
  selector: {app: stale, tier: frontend}
  ports: [{port: 80, targetPort: 5000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop-blue}
spec:
  replicas: 1
  selector: {matchLabels: {app: shop, version: blue}}
  template:
    metadata: {labels: {app: shop, version: blue}}
    spec:
      containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0, ports: [{name: http, containerPort: 5000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: shop}
spec:
  selector: {app: shop, version: green}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: crash}
spec:
  replicas: 2
  selector: {matchLabels: {app: crash}}
  template:
    metadata: {labels: {app: crash, sim.feastflow.dev/state: crashloop}}
    spec:
      containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0, ports: [{name: http, containerPort: 5000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: crash}
spec:
  selector: {app: crash}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: oom}
spec:
  replicas: 1
  selector: {matchLabels: {app: oom}}
  template:
    metadata:
      labels: {app: oom, sim.feastflow.dev/state: crashloop}
      annotations: {sim.feastflow.dev/exit-code: "137", sim.feastflow.dev/reason: OOMKilled}
    spec:
      containers:
      - name: app
        image: ghcr.io/feastflow/backend:1.4.0
        resources: {limits: {memory: 64Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: migrate}
spec:
  replicas: 1
  selector: {matchLabels: {app: migrate}}
  template:
    metadata: {labels: {app: migrate}}
    spec:
      initContainers: [{name: db-migrations, image: "ghcr.io/feastflow/backend:initfail", command: [migrate, up]}]
      containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pull}
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: pull}}
  template:
    metadata: {labels: {app: pull}}
    spec:
      containers: [{name: app, image: "ghcr.io/feastflow/backend:doesnotexist"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pullsecret}
spec:
  replicas: 1
  selector: {matchLabels: {app: pullsecret}}
  template:
    metadata: {labels: {app: pullsecret, sim.feastflow.dev/state: errimagepull}}
    spec:
      imagePullSecrets: [{name: regcred}]
      containers: [{name: app, image: "registry.example.com/private/app:2.0.0"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: config}
spec:
  replicas: 1
  selector: {matchLabels: {app: config}}
  template:
    metadata: {labels: {app: config, sim.feastflow.dev/state: createcontainerconfigerror}}
    spec:
      containers:
      - name: app
        image: ghcr.io/feastflow/backend:1.4.0
        envFrom: [{configMapRef: {name: missing-config}}]
        env:
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db-credentials, key: password}}}
        - {name: DB_USER, valueFrom: {secretKeyRef: {name: db-credentials, key: username}}}
        - {name: FEATURE, valueFrom: {configMapKeyRef: {name: optional-config, key: x, optional: true}}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: widgets}
spec:
  hard: {requests.example.com/widget: "0"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: quota}
spec:
  replicas: 1
  selector: {matchLabels: {app: quota}}
  template:
    metadata: {labels: {app: quota}}
    spec:
      containers:
      - name: app
        image: ghcr.io/feastflow/backend:1.4.0
        resources: {requests: {example.com/widget: "1"}, limits: {example.com/widget: "1"}}
---
apiVersion: v1
kind: Pod
metadata: {name: big, labels: {app: big}}
spec:
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0, resources: {requests: {cpu: "64"}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: picky, labels: {app: picky}}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
---
apiVersion: v1
kind: Pod
metadata: {name: spread, labels: {app: spread}}
spec:
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: example.com/rack, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  storageClassName: does-not-exist
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: claim, labels: {app: claim}}
spec:
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
---
apiVersion: v1
kind: Pod
metadata: {name: evicted, labels: {app: evicted}}
spec:
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: slowstart}
spec:
  replicas: 1
  selector: {matchLabels: {app: slowstart}}
  template:
    metadata:
      labels: {app: slowstart, sim.feastflow.dev/state: crashloop}
      annotations: {sim.feastflow.dev/exit-code: "137"}
    spec:
      containers:
      - name: app
        image: ghcr.io/feastflow/backend:1.4.0
        livenessProbe: {httpGet: {path: /api/health, port: 5000}, initialDelaySeconds: 2, periodSeconds: 2, failureThreshold: 3}
---
apiVersion: v1
kind: Pod
metadata: {name: ghost, labels: {app: ghost}}
spec:
  nodeName: node-that-was-deleted
  containers: [{name: app, image: ghcr.io/feastflow/backend:1.4.0}]
`

// want is one problem of brokenShop: the finding diagnose must report.
type want struct {
	kind, name string
	category   troubleshoot.Category
	text       string // a substring of the cause, details or fix
}

var brokenShopWants = []want{
	{"Deployment", "crash", troubleshoot.CategoryCrashLoop, "exit code 1"},
	{"Deployment", "oom", troubleshoot.CategoryOOMKilled, "memory limit 64Mi"},
	{"Deployment", "migrate", troubleshoot.CategoryInitFailed, "app containers app never started"},
	{"Deployment", "pull", troubleshoot.CategoryImagePull, "not found or no access"},
	{"Deployment", "pull", troubleshoot.CategoryImagePull, "exceeded its progress deadline"}, // the stuck rollout folded in
	{"Deployment", "pullsecret", troubleshoot.CategoryImagePull, `imagePullSecret "regcred" (on the pod) does not exist`},
	{"Deployment", "config", troubleshoot.CategoryConfigError, `key "username" not found in Secret "db-credentials"`},
	{"Deployment", "config", troubleshoot.CategoryConfigError, `ConfigMap "missing-config" not found`},
	{"Deployment", "quota", troubleshoot.CategoryQuotaExceeded, "ResourceQuota widgets"},
	{"Pod", "big", troubleshoot.CategoryInsufficient, "insufficient cpu: pod requests 64000m"},
	{"Pod", "picky", troubleshoot.CategoryNodeAffinity, "wants disktype=ssd"},
	{"Pod", "spread", troubleshoot.CategoryTopologySpread, "topologyKey example.com/rack"},
	{"Pod", "claim", troubleshoot.CategoryUnboundPVC, `StorageClass "does-not-exist" does not exist`},
	{"Pod", "ghost", troubleshoot.CategoryNodeGone, `"node-that-was-deleted", which no longer exists`},
	{"Service", "typo", troubleshoot.CategoryServiceNoPods, "selector wants tier=frontend, pods have no tier label"},
	{"Service", "shop", troubleshoot.CategoryServiceColor, "version=green"},
	{"Service", "stale", troubleshoot.CategoryTargetPort, `targetPort "web"`},
	{"Deployment", "stale", troubleshoot.CategoryStaleConfig, "ConfigMap stale-config changed"},
	{"PodDisruptionBudget", "stale", troubleshoot.CategoryPDBBlocking, "allows 0 disruptions"},
	{"Pod", "evicted", troubleshoot.CategoryEvicted, "low on resource: memory"},
	{"Deployment", "slowstart", troubleshoot.CategoryProbeFailing, "no startupProbe"},
}

func TestDiagnoseBrokenNamespace(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, brokenShop)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The healthy Deployment first: its pods must start before its ConfigMap changes.
	h.WaitForRollout(ns, "stale")
	waitBroken(ctx, h, ns)
	// Change the ConfigMap after the pods started (managedFields times have one-second
	// resolution; the waits above take longer than that).
	h.MustKubectl("patch", "configmap", "stale-config", "-n", ns, "--type=merge", "-p", `{"data":{"MODE":"two"}}`)
	// Kwok has no kubelet: the test plays it for an eviction (the pod's status) and for a
	// liveness probe that kills a slow start (the kubelet's Unhealthy event).
	h.WaitForPod(ns, "evicted", "Ready", harness.PodReady)
	h.MustKubectl("patch", "pod", "evicted", "-n", ns, "--subresource=status", "--type=merge", "-p",
		`{"status":{"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory. Threshold quantity: 100Mi, available: 48Mi."}}`)
	slow := harness.WaitFor(ctx, h.Pods(ns, "app=slowstart"), "slowstart pod", func(ps []*corev1.Pod) (bool, error) { return len(ps) == 1, nil })
	if _, err := h.Client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "slowstart-"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: slow[0].Name, UID: slow[0].UID, FieldPath: "spec.containers{app}"},
		Reason:         "Unhealthy", Type: "Warning", Message: `Liveness probe failed: Get "http://10.101.0.9:5000/api/health": dial tcp 10.101.0.9:5000: connect: connection refused`,
		Count: 9, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "kubelet"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Server text with terminal escapes, on an Event of a crashing pod.
	crashPod := h.Pods(ns, "app=crash")
	pods := harness.WaitFor(ctx, crashPod, "crash pods", func(ps []*corev1.Pod) (bool, error) { return len(ps) > 0, nil })
	_, err := h.Client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "evil-"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pods[0].Name, UID: pods[0].UID},
		Reason:         "Evil", Type: "Warning", Message: "\x1b[31mred\x1b[0m \x1b]0;title\x07 done", Count: 1,
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "e2e"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// JSON: every problem found with the right category; the schema round-trips.
	r := h.Feastflow("diagnose", "-n", ns, "-o", "json")
	if r.ExitCode != 3 {
		t.Fatalf("diagnose -o json: exit %d, want 3\n%s", r.ExitCode, r.Stderr)
	}
	var rep troubleshoot.Report
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode: %v\n%s", err, r.Stdout)
	}
	again, _ := json.MarshalIndent(&rep, "", "  ")
	if string(again)+"\n" != r.Stdout {
		t.Error("the JSON report does not round-trip through troubleshoot.Report")
	}
	if rep.APIVersion != "feastflow.dev/v1alpha1" || rep.Kind != "DiagnoseReport" {
		t.Errorf("TypeMeta = %+v", rep.TypeMeta)
	}
	categories := map[troubleshoot.Category]bool{}
	for _, w := range brokenShopWants {
		f := findFinding(&rep, w.kind, w.name, w.category)
		if f == nil && w.category == troubleshoot.CategoryNodeGone {
			// The pod garbage collector deletes pods bound to a missing node (after its
			// quarantine); once it has, there is nothing left to report.
			if _, err := h.Client.CoreV1().Pods(ns).Get(ctx, w.name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				t.Logf("pod %s was garbage-collected before diagnose ran", w.name)
				categories[w.category] = true
				continue
			}
		}
		if f == nil {
			t.Errorf("no %s finding for %s/%s", w.category, w.kind, w.name)
			continue
		}
		categories[w.category] = true
		text := f.Cause + "\n" + strings.Join(f.Details, "\n") + "\n" + strings.Join(f.Fix, "\n")
		if !strings.Contains(text, w.text) {
			t.Errorf("%s %s/%s lacks %q:\n%s", w.category, w.kind, w.name, w.text, text)
		}
	}
	if len(categories) < 13 {
		t.Errorf("only %d different categories found", len(categories))
	}
	if f := findFinding(&rep, "Deployment", "crash", troubleshoot.CategoryCrashLoop); f != nil {
		if len(f.Evidence.Logs) != 1 || !strings.Contains(strings.Join(f.Evidence.Logs[0].Lines, "\n"), "panic") || !f.Evidence.Logs[0].Previous {
			t.Errorf("crash loop logs = %+v, want the previous log with the panic", f.Evidence.Logs)
		}
		if len(f.Pods) != 2 {
			t.Errorf("crash loop pods = %v, want both replicas in one finding", f.Pods)
		}
		// Its Service's not-ready endpoints are this finding's symptom, not a second finding.
		if f.Impact != troubleshoot.ImpactOutage || f.Severity != troubleshoot.SeverityError || !strings.Contains(strings.Join(f.Affects, "\n"), "affects service crash: none of its 2 endpoints is ready") {
			t.Errorf("crash loop impact %s, affects %v: want the down Service folded in", f.Impact, f.Affects)
		}
		if findFinding(&rep, "Service", "crash", troubleshoot.CategoryNotReadyEndpoints) != nil {
			t.Error("service crash's not-ready endpoints are a second finding")
		}
	}
	if f := findFinding(&rep, "Deployment", "migrate", troubleshoot.CategoryInitFailed); f != nil {
		if len(f.Evidence.Logs) != 1 || !strings.Contains(strings.Join(f.Evidence.Logs[0].Lines, "\n"), "migration") {
			t.Errorf("init container logs = %+v, want the migration error", f.Evidence.Logs)
		}
	}
	if f := findFinding(&rep, "Deployment", "config", troubleshoot.CategoryConfigError); f != nil && strings.Contains(strings.Join(f.Details, "\n"), "optional-config") {
		t.Errorf("an optional reference was reported: %v", f.Details)
	}
	// Efficiency: a LIST per kind (pages of 500), a few conditional reads, logs per workload.
	if rep.Summary.APIRequests > 35 {
		t.Errorf("%d API requests, want one LIST per kind plus a few", rep.Summary.APIRequests)
	}

	// People: escaped server text, exit 3, and the secret nowhere.
	human := h.Feastflow("diagnose", "-n", ns)
	if human.ExitCode != 3 {
		t.Errorf("diagnose: exit %d, want 3", human.ExitCode)
	}
	if !strings.Contains(human.Stdout, `\x1b[31mred\x1b[0m \x1b]0;title\a done`) {
		t.Errorf("escaped event message not shown:\n%s", human.Stdout)
	}
	if strings.ContainsAny(human.Stdout+human.Stderr, "\x1b\x07") {
		t.Error("raw control characters reached the terminal")
	}
	outputs := []harness.Result{r, human,
		h.Feastflow("diagnose", "-n", ns, "-o", "yaml"),
		h.Feastflow("diagnose", "deploy/config", "-n", ns),
		h.Feastflow("diagnose", "-A", "-o", "json"),
		h.Feastflow("preflight", "-n", ns),
		h.Feastflow("preflight", "-n", ns, "-o", "json"),
	}
	for i, o := range outputs {
		if strings.Contains(o.Stdout+o.Stderr, plantedValue) {
			t.Errorf("output %d contains the planted Secret value", i)
		}
	}

	// Scopes and exit codes.
	if o := h.Feastflow("diagnose", "pod/big", "-n", ns, "-o", "json"); o.ExitCode != 3 || !strings.Contains(o.Stdout, `"InsufficientResources"`) || strings.Contains(o.Stdout, `"CrashLoopBackOff"`) {
		t.Errorf("pod scope: exit %d\n%s", o.ExitCode, o.Stdout)
	}
	if o := h.Feastflow("diagnose", "node/"+pods[0].Spec.NodeName, "-o", "json"); o.ExitCode != 3 || !strings.Contains(o.Stdout, `"name": "crash"`) {
		t.Errorf("node scope: exit %d\n%s", o.ExitCode, o.Stdout)
	}
	if o := h.Feastflow("diagnose", "node/no-such-node"); o.ExitCode != 1 || !strings.Contains(o.Stderr, `Node "no-such-node" not found`) {
		t.Errorf("unknown node: exit %d, %s", o.ExitCode, o.Stderr)
	}
	if o := h.Feastflow("diagnose", "svc/nope", "-n", ns); o.ExitCode != 1 || !strings.Contains(o.Stderr, `Service "nope" not found`) {
		t.Errorf("unknown service: exit %d, %s", o.ExitCode, o.Stderr)
	}
	if o := h.Feastflow("diagnose", "configmap/x", "-n", ns); o.ExitCode != 2 {
		t.Errorf("bad kind: exit %d, want 2", o.ExitCode)
	}
}

// waitBroken waits until the real controllers and the simulation have put every broken
// object of brokenShop in its state.
func waitBroken(ctx context.Context, h *harness.H, ns string) {
	h.T.Helper()
	waiting := func(reason string) func(p *corev1.Pod) bool {
		return func(p *corev1.Pod) bool {
			all := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
			for i := range all {
				if w := all[i].State.Waiting; w != nil && w.Reason == reason {
					return true
				}
			}
			return false
		}
	}
	unschedulable := func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true
			}
		}
		return false
	}
	for sel, cond := range map[string]func(*corev1.Pod) bool{
		"app=crash": waiting("CrashLoopBackOff"), "app=oom": waiting("CrashLoopBackOff"), "app=migrate": waiting("CrashLoopBackOff"),
		"app=slowstart": waiting("CrashLoopBackOff"),
		"app=pull":      waiting("ImagePullBackOff"), "app=pullsecret": waiting("ErrImagePull"), "app=config": waiting("CreateContainerConfigError"),
		"app=big": unschedulable, "app=picky": unschedulable, "app=spread": unschedulable, "app=claim": unschedulable,
	} {
		harness.WaitFor(ctx, h.Pods(ns, sel), sel+" broken", func(ps []*corev1.Pod) (bool, error) {
			if len(ps) == 0 {
				return false, nil
			}
			for _, p := range ps {
				if !cond(p) {
					return false, nil
				}
			}
			return true, nil
		})
	}
	harness.WaitFor(ctx, h.Deployments(ns), "pull stuck and quota refused", func(ds []*appsv1.Deployment) (bool, error) {
		stuck, refused := false, false
		for _, d := range ds {
			for _, c := range d.Status.Conditions {
				stuck = stuck || d.Name == "pull" && c.Reason == "ProgressDeadlineExceeded"
				refused = refused || d.Name == "quota" && c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue
			}
		}
		return stuck && refused, nil
	})
	harness.WaitFor(ctx, h.EndpointSlices(ns, "crash"), "crash endpoints not ready", func(ss []*discoveryv1.EndpointSlice) (bool, error) {
		n := 0
		for _, s := range ss {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					n++
				}
			}
		}
		return n == 2, nil
	})
	// The disruption controller's status of the PDB.
	lw := cache.NewListWatchFromClient(h.Client.PolicyV1().RESTClient(), "poddisruptionbudgets", ns, fields.Everything())
	if _, err := watchtools.UntilWithSync(ctx, lw, &policyv1.PodDisruptionBudget{}, nil, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*policyv1.PodDisruptionBudget)
		return ok && p.Status.ExpectedPods == 2 && p.Status.CurrentHealthy == 2 && p.Status.DisruptionsAllowed == 0, nil
	}); err != nil {
		h.T.Fatalf("wait for the PDB status: %v", err)
	}
}

func findFinding(r *troubleshoot.Report, kind, name string, cat troubleshoot.Category) *troubleshoot.Finding {
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Object.Kind == kind && f.Object.Name == name && f.Category == cat {
			return f
		}
	}
	return nil
}

func TestDiagnoseHealthyExample(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	for _, d := range []string{"postgres", "feastflow-backend-blue", "feastflow-backend-green", "feastflow-frontend"} {
		h.WaitForRollout(ns, d)
	}
	rec := h.RecordEndpoints(ns, "feastflow-backend")
	rec.WaitUntil("2 blue endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 2 })
	rec.Stop()

	r := h.Feastflow("diagnose", "-n", ns, "-o", "json")
	var rep troubleshoot.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("decode: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	for _, f := range rep.Findings {
		if f.Severity != troubleshoot.SeverityInfo {
			t.Errorf("healthy example: %s %s %s: %s", f.Severity, f.Category, f.Object, f.Cause)
		}
	}
	if r.ExitCode != 0 {
		t.Errorf("exit %d, want 0", r.ExitCode)
	}
	human := h.Feastflow("diagnose", "-n", ns)
	if human.ExitCode != 0 || !strings.Contains(human.Stdout, "namespace "+ns+": no problems found") {
		t.Errorf("exit %d:\n%s%s", human.ExitCode, human.Stdout, human.Stderr)
	}
	if o := h.Feastflow("diagnose", "feastflow-backend", "-n", ns, "--fail-on", "info"); o.ExitCode != 0 {
		t.Errorf("component scope with --fail-on info: exit %d\n%s", o.ExitCode, o.Stdout)
	}
	// preflight: no FAIL on the example (its warnings are about preStop and postgres).
	pf := h.Feastflow("preflight", "feastflow-backend", "-n", ns)
	if pf.ExitCode != 0 || !strings.Contains(pf.Stdout, "PASS     rbac") || strings.Contains(pf.Stdout, "FAIL ") {
		t.Errorf("preflight: exit %d\n%s%s", pf.ExitCode, pf.Stdout, pf.Stderr)
	}
	if o := h.Feastflow("preflight", "-n", ns, "--fail-on", "warning"); o.ExitCode != 3 {
		t.Errorf("preflight --fail-on warning: exit %d, want 3 (postgres has one replica)", o.ExitCode)
	}
}
