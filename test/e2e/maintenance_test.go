package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Node maintenance mutates nodes, which every test shares. These tests never touch the
// cluster's own nodes: each creates a private pool of kwok nodes (kwok manages any node
// annotated kwok.x-k8s.io/node=fake) with a taint only its own pods tolerate, so no other
// test's pod lands there and no drain here evicts another test's pod. The pools are deleted
// when the test ends, whatever state the drain left them in.

const poolKey = "e2e.feastflow.dev/maintenance-pool"

type pool struct {
	h     *harness.H
	id    string
	nodes []string
}

// newPool creates n Ready nodes with cpu CPUs each, only for this test's pods.
func newPool(h *harness.H, n int, cpu string) *pool {
	h.T.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	p := &pool{h: h, id: hex.EncodeToString(b)}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("e2e-maint-%s-%d", p.id, i)
		res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, poolKey: p.id}},
			Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: poolKey, Value: p.id, Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
		}
		if _, err := h.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			h.T.Fatalf("create node %s: %v", name, err)
		}
		h.T.Cleanup(func() { _ = h.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
		p.nodes = append(p.nodes, name)
	}
	harness.WaitFor(ctx, h.Nodes(), "pool "+p.id+" Ready", func(ns []*corev1.Node) (bool, error) {
		ready := 0
		for _, n := range ns {
			if n.Labels[poolKey] != p.id {
				continue
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == n, nil
	})
	return p
}

// pin makes a pod template land on the pool only.
func (p *pool) pin(spec *corev1.PodSpec) {
	spec.NodeSelector = map[string]string{poolKey: p.id}
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: poolKey, Operator: corev1.TolerationOpEqual, Value: p.id, Effect: corev1.TaintEffectNoSchedule})
}

// onNode runs create with every other pool node cordoned, so the pods it creates land on node
// i, and waits for them before lifting the cordons.
func (p *pool) onNode(i int, create func()) {
	p.h.T.Helper()
	for j, n := range p.nodes {
		if j != i {
			p.h.MustKubectl("cordon", n)
		}
	}
	create()
	for j, n := range p.nodes {
		if j != i {
			p.h.MustKubectl("uncordon", n)
		}
	}
}

func (p *pool) podsOn(ns, node string) []corev1.Pod {
	p.h.T.Helper()
	l, err := p.h.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		p.h.T.Fatal(err)
	}
	return l.Items
}

func (p *pool) node(i int) *corev1.Node {
	p.h.T.Helper()
	n, err := p.h.Client.CoreV1().Nodes().Get(context.Background(), p.nodes[i], metav1.GetOptions{})
	if err != nil {
		p.h.T.Fatal(err)
	}
	return n
}

func template(p *pool, app, cpu string) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/" + app + ":1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
	p.pin(&t.Spec)
	return t
}

func deployment(h *harness.H, p *pool, ns, name string, replicas int32, cpu string, mutate func(*appsv1.Deployment)) {
	h.T.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: template(p, name, cpu)},
	}
	if mutate != nil {
		mutate(d)
	}
	if _, err := h.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		h.T.Fatal(err)
	}
	h.WaitForRollout(ns, name)
}

func podDisruptionBudget(h *harness.H, ns, name, app string, minAvailable int) {
	h.T.Helper()
	m := intstr.FromInt(minAvailable)
	b := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &m, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
	if _, err := h.Client.PolicyV1().PodDisruptionBudgets(ns).Create(context.Background(), b, metav1.CreateOptions{}); err != nil {
		h.T.Fatal(err)
	}
	// Wait until the disruption controller has computed the status evictions are judged by.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		got, err := h.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Status.ObservedGeneration >= got.Generation && got.Status.ExpectedPods > 0 {
			return
		}
		w, err := h.Client.PolicyV1().PodDisruptionBudgets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: got.ResourceVersion})
		if err != nil {
			h.T.Fatalf("watch pdb %s: %v", name, err)
		}
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			h.T.Fatalf("pdb %s/%s status never computed", ns, name)
		}
		w.Stop()
	}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestMaintenanceDrainFeastflowBackend drains the node that runs FeastFlow's backend: the
// PDB (minAvailable 1) paces the evictions so the Service never has zero ready endpoints, and
// with --wait-ready the drain returns only once the replacements are Ready elsewhere.
func TestMaintenanceDrainFeastflowBackend(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, "feastflow-backend-blue")
	tol := fmt.Sprintf(`{"key":%q,"operator":"Equal","value":%q,"effect":"NoSchedule"}`, poolKey, p.id)
	p.onNode(0, func() {
		// A readiness delay makes each replacement take a second to serve: without the PDB
		// the endpoints would drop to zero.
		h.MustKubectl("patch", "-n", ns, "deployment/feastflow-backend-blue", "-p", fmt.Sprintf(
			`{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/ready-delay":"1500ms"}},"spec":{"nodeSelector":{%q:%q},"tolerations":[%s]}}}}`,
			poolKey, p.id, tol))
		h.WaitForRollout(ns, "feastflow-backend-blue")
	})
	if got := len(p.podsOn(ns, p.nodes[0])); got != 2 {
		t.Fatalf("%d backend pods on %s, want 2", got, p.nodes[0])
	}
	rec := h.RecordEndpoints(ns, "feastflow-backend")
	rec.WaitUntil("2 ready backend endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 2 })

	start := time.Now()
	r := h.Feastflow("maintenance", "drain", p.nodes[0], "--ignore-daemonsets", "--wait-ready", "--yes", "--reason", "e2e")
	took := time.Since(start)
	if r.ExitCode != 0 {
		t.Fatalf("drain: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	// Right when drain returns, both replacements serve from the other node.
	ready := 0
	for _, pod := range p.podsOn(ns, p.nodes[1]) {
		if harness.PodReady(&pod) && pod.DeletionTimestamp == nil {
			ready++
		}
	}
	if ready != 2 {
		t.Errorf("drain --wait-ready returned with %d ready replacements on %s, want 2\n%s", ready, p.nodes[1], r.Stderr)
	}
	if n := rec.MinReady(); n < 1 {
		t.Errorf("backend endpoints dropped to %d during the drain", n)
	}
	mustContain(t, "stderr", r.Stderr, "node "+p.nodes[0]+" cordoned", "eviction blocked by poddisruptionbudget "+ns+"/feastflow-backend", "replacements Ready elsewhere")
	mustContain(t, "stdout", r.Stdout, "Drained,ReplacementsReady")
	t.Logf("drain with two PDB-paced evictions and 1.5 s readiness took %s", took.Round(time.Millisecond))
	if !p.node(0).Spec.Unschedulable {
		t.Error("drained node not cordoned")
	}
	// Status shows the node, by whom and why; re-running changes nothing.
	st := h.Feastflow("maintenance", "status", p.nodes[0])
	mustContain(t, "status", st.Stdout, p.nodes[0], "e2e", "drained")
	again := h.Feastflow("maintenance", "drain", p.nodes[0], "--ignore-daemonsets", "--yes")
	if again.ExitCode != 0 || !strings.Contains(again.Stdout, "AlreadyCordoned") {
		t.Errorf("re-run: exit %d\n%s%s", again.ExitCode, again.Stdout, again.Stderr)
	}
}

// TestMaintenancePDBBlocks: minAvailable = replicas can never allow a disruption. plan says
// so; drain names the PDB at once and gives up after --timeout, leaving the node cordoned.
func TestMaintenancePDBBlocks(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	ns := h.NewNamespace()
	p.onNode(0, func() { deployment(h, p, ns, "web", 2, "100m", nil) })
	podDisruptionBudget(h, ns, "web", "web", 2)

	plan := h.Feastflow("maintenance", "plan", p.nodes[0])
	if plan.ExitCode != 0 {
		t.Fatalf("plan: exit %d: %s", plan.ExitCode, plan.Stderr)
	}
	mustContain(t, "plan", plan.Stdout, "blocked: poddisruptionbudget "+ns+"/web needs 2 healthy, has 2", "disruptionsAllowed 0", "it can never allow a disruption", "verdict: will block")

	// --timeout 2s: the PDB must be named within those 2 s, and the drain must then end.
	start := time.Now()
	r := h.Feastflow("maintenance", "drain", p.nodes[0], "--yes", "--timeout", "2s")
	took := time.Since(start)
	if r.ExitCode != 1 {
		t.Fatalf("drain: exit %d, want 1\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr,
		"eviction blocked by poddisruptionbudget "+ns+"/web: needs 2 healthy, has 2 (currentHealthy 2, desiredHealthy 2, disruptionsAllowed 0, expectedPods 2)",
		"error: drain timed out after 2s: node "+p.nodes[0]+": 2 pod(s) left",
		"node "+p.nodes[0]+" stays cordoned")
	if took > 10*time.Second {
		t.Errorf("drain with --timeout 2s took %s", took)
	}
	if !p.node(0).Spec.Unschedulable {
		t.Error("node not left cordoned after the timeout")
	}
	if got := len(p.podsOn(ns, p.nodes[0])); got != 2 {
		t.Errorf("%d pods left on the node, want 2 (none may be evicted)", got)
	}
}

// TestMaintenanceTwoPDBs: the Eviction API refuses a pod under two PDBs forever; drain refuses
// up front and changes nothing.
func TestMaintenanceTwoPDBs(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	ns := h.NewNamespace()
	p.onNode(0, func() { deployment(h, p, ns, "web", 2, "100m", nil) })
	podDisruptionBudget(h, ns, "web-a", "web", 1)
	podDisruptionBudget(h, ns, "web-b", "web", 1)

	plan := h.Feastflow("maintenance", "plan", p.nodes[0], "-o", "json")
	mustContain(t, "plan -o json", plan.Stdout, `"code": "MultiplePDBs"`, `"verdict": "WillBlock"`)
	r := h.Feastflow("maintenance", "drain", p.nodes[0], "--yes")
	if r.ExitCode != 1 {
		t.Fatalf("drain: exit %d\n%s", r.ExitCode, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "pods selected by more than one poddisruptionbudget", "("+ns+"/web-a, "+ns+"/web-b)", "nothing changed")
	if p.node(0).Spec.Unschedulable {
		t.Error("refused drain cordoned the node")
	}
}

// TestMaintenancePodKinds: DaemonSet, emptyDir, unmanaged and StatefulSet pods. Without the
// flags drain refuses with kubectl's hints; with them it leaves the DaemonSet pod, deletes the
// bare pod for good, and the StatefulSet pod comes back under its name on the other node.
func TestMaintenancePodKinds(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	ns := h.NewNamespace()
	ctx := context.Background()
	p.onNode(0, func() {
		deployment(h, p, ns, "cache", 2, "50m", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		})
		one := int32(1)
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Template: template(p, "db", "50m")}}
		if _, err := h.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: ns}, Spec: template(p, "bare", "50m").Spec}
		if _, err := h.Client.CoreV1().Pods(ns).Create(ctx, bare, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		h.WaitForPodsReady(ns, "app=db", 1)
		h.WaitForPod(ns, "bare", "Ready", harness.PodReady)
	})
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: template(p, "agent", "10m")}}
	if _, err := h.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.WaitForPodsReady(ns, "app=agent", 2)
	dbBefore := h.WaitForPod(ns, "db-0", "Ready", harness.PodReady)

	r := h.Feastflow("maintenance", "drain", p.nodes[0], "--yes")
	if r.ExitCode != 1 {
		t.Fatalf("drain without flags: exit %d\n%s", r.ExitCode, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr,
		"DaemonSet-managed pods (use --ignore-daemonsets to ignore): "+ns+"/agent-",
		"pods with local storage (use --delete-emptydir-data to override): "+ns+"/cache-",
		"pods that declare no controller (use --force to override): "+ns+"/bare",
		"nothing changed")
	if p.node(0).Spec.Unschedulable {
		t.Fatal("refused drain cordoned the node")
	}

	plan := h.Feastflow("maintenance", "plan", p.nodes[0], "--ignore-daemonsets", "--delete-emptydir-data", "--force")
	mustContain(t, "plan", plan.Stdout, "the only replica of StatefulSet/db", "declares no controller: deleted for good (--force)", "emptyDir data is deleted", "DaemonSet pod: ignored")

	r = h.Feastflow("maintenance", "drain", p.nodes[0], "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--wait-ready", "--yes")
	if r.ExitCode != 0 {
		t.Fatalf("drain with flags: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	left := p.podsOn(ns, p.nodes[0])
	if len(left) != 1 || !strings.HasPrefix(left[0].Name, "agent-") {
		names := []string{}
		for _, l := range left {
			names = append(names, l.Name)
		}
		t.Errorf("pods left on the drained node: %v, want only the DaemonSet's", names)
	}
	db := h.WaitForPod(ns, "db-0", "Ready on the other node", func(pod *corev1.Pod) bool {
		return harness.PodReady(pod) && pod.Spec.NodeName == p.nodes[1]
	})
	if db.UID == dbBefore.UID {
		t.Error("StatefulSet pod not replaced")
	}
	if _, err := h.Client.CoreV1().Pods(ns).Get(ctx, "bare", metav1.GetOptions{}); err == nil {
		t.Error("unmanaged pod still exists after drain --force")
	}
}

// TestMaintenanceCapacity: the evicted pods fit nowhere else; plan says so.
func TestMaintenanceCapacity(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "2")
	ns := h.NewNamespace()
	p.onNode(0, func() { deployment(h, p, ns, "big", 1, "1500m", nil) })
	p.onNode(1, func() { deployment(h, p, ns, "filler", 1, "1500m", nil) })
	r := h.Feastflow("maintenance", "plan", p.nodes[0])
	if r.ExitCode != 0 {
		t.Fatalf("plan: exit %d: %s", r.ExitCode, r.Stderr)
	}
	mustContain(t, "plan", r.Stdout, "capacity: 1 of the 1 re-created pod(s) (cpu 1500m", "insufficient cpu", "do not match its node selector or affinity", "verdict: will cause downtime")
	j := h.Feastflow("maintenance", "plan", p.nodes[0], "-o", "json")
	mustContain(t, "plan -o json", j.Stdout, `"fits": false`)
}

// TestMaintenanceUncordonKeepsForeignCordon: a cordon that was there before stays.
func TestMaintenanceUncordonKeepsForeignCordon(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	h.MustKubectl("cordon", p.nodes[0])
	r := h.Feastflow("maintenance", "cordon", p.nodes[0], p.nodes[1], "--reason", "rack move")
	if r.ExitCode != 0 {
		t.Fatalf("cordon: %s", r.Stderr)
	}
	mustContain(t, "cordon", r.Stdout, "node "+p.nodes[0]+" was cordoned already; recorded", "node "+p.nodes[1]+" cordoned")
	if ann := p.node(1).Annotations; ann["feastflow.dev/cordoned-by"] == "" || ann["feastflow.dev/cordon-reason"] != "rack move" || ann["feastflow.dev/was-unschedulable"] != "false" {
		t.Errorf("annotations = %v", ann)
	}
	r = h.Feastflow("maintenance", "uncordon", p.nodes[0], p.nodes[1])
	if r.ExitCode != 0 {
		t.Fatalf("uncordon: %s", r.Stderr)
	}
	mustContain(t, "uncordon", r.Stdout, "node "+p.nodes[0]+" kept cordoned", "use --force", "node "+p.nodes[1]+" uncordoned")
	if !p.node(0).Spec.Unschedulable || p.node(1).Spec.Unschedulable {
		t.Errorf("after uncordon: %s unschedulable=%v, %s unschedulable=%v", p.nodes[0], p.node(0).Spec.Unschedulable, p.nodes[1], p.node(1).Spec.Unschedulable)
	}
	r = h.Feastflow("maintenance", "uncordon", p.nodes[0], "--force")
	if r.ExitCode != 0 || p.node(0).Spec.Unschedulable {
		t.Errorf("uncordon --force: exit %d, unschedulable %v: %s", r.ExitCode, p.node(0).Spec.Unschedulable, r.Stderr)
	}
}

// TestMaintenanceFailedCordonEvictsNothing: a user who may evict but not patch nodes gets a
// clear error and not a single eviction.
func TestMaintenanceFailedCordonEvictsNothing(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	ns := h.NewNamespace()
	p.onNode(0, func() { deployment(h, p, ns, "web", 2, "100m", nil) })
	before := p.podsOn(ns, p.nodes[0])
	user := "e2e-maint-nopatch-" + p.id
	restrictedUser(t, h, user, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes", "pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/eviction", "events"}, Verbs: []string{"create"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "watch"}},
	})

	r := h.Feastflow("maintenance", "drain", p.nodes[0], "--ignore-daemonsets", "--yes", "--as", user)
	if r.ExitCode != 1 {
		t.Fatalf("drain as %s: exit %d\n%s%s", user, r.ExitCode, r.Stdout, r.Stderr)
	}
	mustContain(t, "stderr", r.Stderr, "error: cordon node "+p.nodes[0]+": forbidden", "no pod was evicted")
	after := p.podsOn(ns, p.nodes[0])
	if len(after) != len(before) {
		t.Fatalf("%d pods on the node after the failed cordon, %d before", len(after), len(before))
	}
	for i := range before {
		if before[i].UID != after[i].UID {
			t.Errorf("pod %s was replaced", before[i].Name)
		}
	}
	if p.node(0).Spec.Unschedulable {
		t.Error("node cordoned despite the error")
	}
}

func TestMaintenanceUnknownNode(t *testing.T) {
	h := harness.For(t)
	for _, args := range [][]string{{"plan"}, {"drain", "--yes"}, {"cordon"}, {"uncordon"}, {"status"}} {
		verb := args[0]
		r := h.Feastflow(append([]string{"maintenance", verb, "no-such-node-e2e"}, args[1:]...)...)
		if r.ExitCode != 1 || r.Stderr != "error: node \"no-such-node-e2e\" not found: nothing changed (`kubectl get nodes` lists the nodes)\n" {
			t.Errorf("%s: exit %d, stderr %q", verb, r.ExitCode, r.Stderr)
		}
	}
}

// running is a plugin process whose stderr lines are read as they come, with their time.
type running struct {
	cmd     *exec.Cmd
	started time.Time
	// stdout is complete once the command has exited (done closed and cmd.Wait returned).
	stdout *bytes.Buffer
	mu     sync.Mutex
	lines  []stampedLine
	more   chan struct{}
	done   chan struct{}
}

type stampedLine struct {
	at   time.Time
	text string
}

// startFeastflow runs `kubectl feastflow args...` in the background, the way the harness does
// (the plugin under test first on PATH), so that a test can watch its progress and signal it.
// kubectl execs the plugin, so the process signalled is the plugin itself.
func startFeastflow(t *testing.T, h *harness.H, args ...string) *running {
	t.Helper()
	plugin := pluginBinary(t, h)
	cmd := exec.Command(h.Env.Kubectl, append([]string{"feastflow"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.Env.Kubeconfig, "NO_COLOR=1",
		"PATH="+filepath.Dir(plugin)+string(os.PathListSeparator)+filepath.Dir(h.Env.Kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := &bytes.Buffer{}
	cmd.Stdout = stdout
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{cmd: cmd, started: started, stdout: stdout, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, stampedLine{at: time.Now(), text: s.Text()})
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-r.done; _ = cmd.Wait() })
	return r
}

// pluginBinary is the plugin under test: FEASTFLOW_PLUGIN, or a fresh build (the harness
// keeps the path of its own build private).
func pluginBinary(t *testing.T, h *harness.H) string {
	t.Helper()
	if p := os.Getenv(harness.EnvPlugin); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	out := filepath.Join(t.TempDir(), "kubectl-feastflow")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/kubectl-feastflow")
	cmd.Dir = h.Env.ModuleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kubectl-feastflow: %v\n%s", err, msg)
	}
	return out
}

// waitLine waits until a stderr line contains s and returns when it came.
func (r *running) waitLine(t *testing.T, s string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.After(within)
	for {
		r.mu.Lock()
		for _, l := range r.lines {
			if strings.Contains(l.text, s) {
				r.mu.Unlock()
				return l.at
			}
		}
		all := r.text()
		r.mu.Unlock()
		select {
		case <-r.more:
		case <-r.done:
			t.Fatalf("process ended without printing %q:\n%s", s, all)
		case <-deadline:
			t.Fatalf("no line %q within %s:\n%s", s, within, all)
		}
	}
}

func (r *running) text() string {
	var b strings.Builder
	for _, l := range r.lines {
		b.WriteString(l.text + "\n")
	}
	return b.String()
}

// TestMaintenanceInterruptAndRerun: Ctrl-C while a PDB blocks stops evicting, exits 130,
// leaves the node cordoned; a re-run after the PDB relents finishes the job. The PDB line
// must come within 2 s of the start.
func TestMaintenanceInterruptAndRerun(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 2, "4")
	ns := h.NewNamespace()
	p.onNode(0, func() {
		deployment(h, p, ns, "web", 2, "100m", nil)
		deployment(h, p, ns, "api", 2, "100m", nil)
	})
	podDisruptionBudget(h, ns, "web", "web", 2)

	run := startFeastflow(t, h, "maintenance", "drain", p.nodes[0], "--ignore-daemonsets", "--yes", "--timeout", "2m")
	at := run.waitLine(t, "eviction blocked by poddisruptionbudget "+ns+"/web", 10*time.Second)
	if d := at.Sub(run.started); d > 2*time.Second {
		t.Errorf("blocking PDB named after %s, want within 2s", d.Round(time.Millisecond))
	}
	run.waitLine(t, "evicted "+ns+"/api-", 10*time.Second)
	if err := run.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-run.done
	err := run.cmd.Wait()
	code := run.cmd.ProcessState.ExitCode()
	if code != 130 {
		t.Fatalf("exit %d (%v) after SIGINT, want 130:\n%s", code, err, run.text())
	}
	mustContain(t, "stderr", run.text(), "error: interrupted: drain interrupted: node "+p.nodes[0]+": ",
		"/web-", "(blocked by poddisruptionbudget "+ns+"/web, disruptionsAllowed 0)", "stays cordoned")
	// Each pod once: the two api pods evicted (gone or still terminating, as the re-read
	// after the interrupt found them), the two web pods not evicted; no api pod among them.
	m := regexp.MustCompile(`node \S+: (\d+) evicted, (\d+) still terminating, (\d+) not evicted: (.*?); node`).FindStringSubmatch(run.text())
	if m == nil {
		t.Fatalf("no per-pod summary in the interrupt error:\n%s", run.text())
	}
	// The second api eviction may not have been sent when the interrupt came: then it is
	// "not evicted yet", and counted there only.
	evicted, _ := strconv.Atoi(m[1])
	notEvicted := atoi(m[3])
	apiLeft := strings.Count(m[4], "/api-")
	// An api pod left is one whose eviction was not sent yet; a web pod is blocked by its
	// PDB, or not tried yet when the interrupt came.
	apiNotYet := len(regexp.MustCompile(`/api-\S+ \(not evicted yet\)`).FindAllString(m[4], -1))
	if evicted+atoi(m[2])+notEvicted != 4 || notEvicted-apiLeft != 2 || evicted+atoi(m[2]) < 1 || apiLeft != apiNotYet {
		t.Errorf("interrupt summary %q: want each of the 4 pods once, at least one api pod evicted or terminating and the 2 web pods not evicted", m[0])
	}
	mustContain(t, "stdout", run.stdout.String(), "TERMINATING", "left on "+p.nodes[0]+": "+ns+"/web-")
	for _, l := range strings.Split(run.stdout.String(), "\n") {
		if i := strings.Index(l, "left on "+p.nodes[0]+": "+ns+"/api-"); i >= 0 && !strings.Contains(l, "not evicted yet") {
			t.Errorf("an evicted pod is listed as left:\n%s", run.stdout.String())
		}
	}
	if !p.node(0).Spec.Unschedulable {
		t.Error("node not cordoned after the interrupt")
	}

	// The PDB relents (minAvailable 1); the re-run continues without cordoning again.
	h.MustKubectl("patch", "-n", ns, "pdb/web", "--type=merge", "-p", `{"spec":{"minAvailable":1}}`)
	r := h.Feastflow("maintenance", "drain", p.nodes[0], "--ignore-daemonsets", "--yes", "--timeout", "1m")
	if r.ExitCode != 0 {
		t.Fatalf("re-run: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	mustContain(t, "re-run stdout", r.Stdout, "AlreadyCordoned")
	for _, pod := range p.podsOn(ns, p.nodes[0]) {
		t.Errorf("pod %s still on the drained node", pod.Name)
	}
}

// TestMaintenanceDrainSeveralNodes drains two nodes picked by a label selector, both at once
// (--max-unavailable-nodes 2): every pod ends on the third node, and both stay cordoned.
func TestMaintenanceDrainSeveralNodes(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 3, "4")
	ns := h.NewNamespace()
	p.onNode(0, func() { deployment(h, p, ns, "a", 3, "100m", nil) })
	p.onNode(1, func() { deployment(h, p, ns, "b", 3, "100m", nil) })
	for _, n := range p.nodes[:2] {
		h.MustKubectl("label", "node", n, "e2e.feastflow.dev/retire=true")
	}
	sel := poolKey + "=" + p.id + ",e2e.feastflow.dev/retire=true"

	dry := h.Feastflow("maintenance", "drain", "-l", sel, "--dry-run=client", "-o", "json")
	if dry.ExitCode != 0 {
		t.Fatalf("client dry run: exit %d: %s", dry.ExitCode, dry.Stderr)
	}
	mustContain(t, "client dry run", dry.Stdout, `"kind": "DrainResult"`, `"dryRun": "client"`, `"state": "DryRun"`)
	if p.node(0).Spec.Unschedulable || p.node(1).Spec.Unschedulable {
		t.Fatal("client dry run cordoned a node")
	}

	r := h.Feastflow("maintenance", "drain", "-l", sel, "--max-unavailable-nodes", "2", "--yes")
	if r.ExitCode != 0 {
		t.Fatalf("drain: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	mustContain(t, "stdout", r.Stdout, p.nodes[0]+"   Drained", p.nodes[1]+"   Drained")
	// Without --wait-ready the drain returns once the evicted pods are gone; the
	// replacements follow.
	for _, pod := range h.WaitForPodsReady(ns, "", 6) {
		if pod.Spec.NodeName != p.nodes[2] {
			t.Errorf("pod %s on %s, want %s", pod.Name, pod.Spec.NodeName, p.nodes[2])
		}
	}
	for i := 0; i < 2; i++ {
		if !p.node(i).Spec.Unschedulable {
			t.Errorf("%s not cordoned", p.nodes[i])
		}
	}
	st := h.Feastflow("maintenance", "status", "-l", sel, "-o", "yaml")
	mustContain(t, "status -o yaml", st.Stdout, "kind: MaintenanceStatus", "progress: drained")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
