package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/maintenance"
)

type maintResult struct {
	stdout, stderr string
	code           int
}

// maintRun runs `kubectl feastflow maintenance ARGS` against a fake clientset as user alice,
// printing the error as main does.
func maintRun(t *testing.T, kube *fake.Clientset, args ...string) maintResult {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := &cobra.Command{Use: "feastflow", SilenceErrors: true, SilenceUsage: true,
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: rootName},
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			markStarted(c)
			return nil
		}}
	env := func() (*maintEnv, error) {
		return &maintEnv{kube: kube, user: func(context.Context) string { return "alice" }}, nil
	}
	root.AddCommand(newMaintenanceCmd(nil, streams, env))
	root.SetArgs(append([]string{"maintenance"}, args...))
	root.SetOut(out)
	root.SetErr(errOut)
	err := Execute(context.Background(), root)
	if err != nil {
		fmt.Fprintln(errOut, "error: "+ErrorLine(err))
	}
	return maintResult{stdout: out.String(), stderr: errOut.String(), code: ExitCode(err)}
}

func mNode(name string, unschedulable bool) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "7"},
		Spec:       corev1.NodeSpec{Unschedulable: unschedulable},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func mPod(ns, name, nodeName, ownerKind, owner string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name), Labels: map[string]string{"app": owner}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if ownerKind != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: ownerKind, Name: owner, UID: types.UID("owner-" + owner), Controller: &yes}}
	}
	return p
}

func mPDB(ns, app string, healthy, desired, allowed, expected int32) *policyv1.PodDisruptionBudget {
	minAvail := intstr.FromInt32(desired)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:     policyv1.PodDisruptionBudgetStatus{CurrentHealthy: healthy, DesiredHealthy: desired, DisruptionsAllowed: allowed, ExpectedPods: expected},
	}
}

// maintCluster: node-1 runs backend-1 (PDB with one disruption allowed) and a DaemonSet pod;
// node-2 runs backend-2 and backend-3.
func maintCluster(extra ...runtime.Object) *fake.Clientset {
	objs := []runtime.Object{
		mNode("node-1", false), mNode("node-2", false),
		mPod("shop", "backend-1", "node-1", "ReplicaSet", "backend"),
		mPod("shop", "backend-2", "node-2", "ReplicaSet", "backend"),
		mPod("shop", "backend-3", "node-2", "ReplicaSet", "backend"),
		mPod("kube-system", "agent-x", "node-1", "DaemonSet", "agent"),
		mPDB("shop", "backend", 3, 2, 1, 3),
	}
	c := fake.NewClientset(append(objs, extra...)...)
	podsGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		obj, err := c.Tracker().Get(podsGVR, ev.Namespace, ev.Name)
		if err != nil {
			return true, nil, err
		}
		list, _ := c.Tracker().List(schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
			schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, ev.Namespace)
		items := list.(*policyv1.PodDisruptionBudgetList).Items
		for i := range items {
			b := &items[i]
			sel, _ := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if sel.Matches(labels.Set(obj.(*corev1.Pod).Labels)) && b.Status.DisruptionsAllowed < 1 {
				return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
			}
		}
		return true, nil, c.Tracker().Delete(podsGVR, ev.Namespace, ev.Name)
	})
	return c
}

func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		switch a.GetVerb() {
		case "list", "watch", "get":
			continue
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource+"/"+a.GetSubresource())
	}
	return out
}

func TestMaintenancePlanHuman(t *testing.T) {
	c := maintCluster()
	r := maintRun(t, c, "plan", "node-1", "--ignore-daemonsets")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `NAME                  NODE     WORKLOAD             ACTION   DETAIL
kube-system/agent-x   node-1   DaemonSet/agent      skip     DaemonSet pod: ignored (--ignore-daemonsets), it stays
shop/backend-1        node-1   ReplicaSet/backend   evict    paced by poddisruptionbudget shop/backend: 1 disruption(s) allowed now

PODDISRUPTIONBUDGET   CURRENT-HEALTHY   DESIRED-HEALTHY   DISRUPTIONS-ALLOWED   EXPECTED-PODS   PODS-TO-EVICT
shop/backend          3                 2                 1                     3               1

capacity: the 1 re-created pod(s) (cpu 250m, memory 256Mi) fit on 1 schedulable node(s)
verdict: safe
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if w := writes(c); len(w) != 0 {
		t.Errorf("plan wrote: %v", w)
	}
}

func TestMaintenancePlanJSONAndBlocked(t *testing.T) {
	c := maintCluster()
	r := maintRun(t, c, "plan", "node-1", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Verdict    string `json:"verdict"`
		Problems   []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if got.APIVersion != "feastflow.dev/v1alpha1" || got.Kind != "DrainPlan" || got.Verdict != "WillBlock" {
		t.Errorf("got %+v", got)
	}
	if len(got.Problems) != 1 || !strings.Contains(got.Problems[0], "DaemonSet-managed pods (use --ignore-daemonsets to ignore): kube-system/agent-x") {
		t.Errorf("problems = %q", got.Problems)
	}
}

func TestMaintenanceDrain(t *testing.T) {
	c := maintCluster()
	r := maintRun(t, c, "drain", "node-1", "--ignore-daemonsets", "--yes", "--reason", "kernel")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "NODE     STATE     CORDON     EVICTED   TERMINATING   LEFT   SKIPPED   SECONDS\nnode-1   Drained   Cordoned   1         0             0      1         ") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	for _, line := range []string{
		"plan: cordon node-1, evict 1 pod(s), leave 1; verdict: safe",
		"node node-1 cordoned",
		"node node-1: evicted shop/backend-1",
		"node node-1: drained: 1 pod(s) evicted",
	} {
		if !strings.Contains(r.stderr, line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, r.stderr)
		}
	}
	n, _ := c.CoreV1().Nodes().Get(context.Background(), "node-1", metav1.GetOptions{})
	if n.Annotations[maintenance.AnnotationCordonedBy] != "alice" || n.Annotations[maintenance.AnnotationCordonReason] != "kernel" {
		t.Errorf("annotations = %v", n.Annotations)
	}
}

func TestMaintenanceDrainNeedsYesWithoutTerminal(t *testing.T) {
	c := maintCluster()
	r := maintRun(t, c, "drain", "node-1", "--ignore-daemonsets")
	if r.code != ExitError || r.stderr == "" || !strings.HasSuffix(r.stderr, "error: drain node node-1 (evict 1 pod(s)): refusing without --yes because stdin is not a terminal\n") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if w := writes(c); len(w) != 0 {
		t.Errorf("writes without confirmation: %v", w)
	}
}

func TestMaintenanceDrainRefusals(t *testing.T) {
	c := maintCluster(mPod("shop", "bare", "node-1", "", ""))
	r := maintRun(t, c, "drain", "node-1", "--yes")
	want := "error: cannot drain node node-1: DaemonSet-managed pods (use --ignore-daemonsets to ignore): kube-system/agent-x; pods that declare no controller (use --force to override): shop/bare; nothing changed\n"
	if r.code != ExitError || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant   %q", r.code, r.stdout, r.stderr, want)
	}
	if w := writes(c); len(w) != 0 {
		t.Errorf("refused drain wrote: %v", w)
	}
}

func TestMaintenanceDrainBlockedTimesOut(t *testing.T) {
	c := maintCluster()
	if err := c.Tracker().Update(schema.GroupVersionResource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}, mPDB("shop", "backend", 3, 3, 0, 3), "shop"); err != nil {
		t.Fatal(err)
	}
	r := maintRun(t, c, "drain", "node-1", "--ignore-daemonsets", "--yes", "--timeout", "300ms")
	if r.code != ExitError {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"node node-1: eviction blocked by poddisruptionbudget shop/backend: needs 3 healthy, has 3 (currentHealthy 3, desiredHealthy 3, disruptionsAllowed 0, expectedPods 3); waiting for it to change\n",
		"error: drain timed out after 300ms: node node-1: 1 pod(s) left: shop/backend-1 (blocked by poddisruptionbudget shop/backend, disruptionsAllowed 0); node node-1 stays cordoned",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "node-1   TimedOut") || !strings.Contains(r.stdout, "left on node-1: shop/backend-1") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestMaintenanceCordonUncordon(t *testing.T) {
	c := maintCluster(mNode("node-3", true))
	r := maintRun(t, c, "cordon", "node-1", "node-3")
	if r.code != ExitOK || r.stdout != "node node-1 cordoned\nnode node-3 was cordoned already; recorded\n" {
		t.Errorf("cordon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = maintRun(t, c, "uncordon", "node-1", "node-3")
	want := "node node-1 uncordoned\nnode node-3 kept cordoned: it was cordoned before kubectl feastflow cordoned it (use --force to uncordon it anyway); cordon records removed\n"
	if r.code != ExitOK || r.stdout != want {
		t.Errorf("uncordon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	n3, _ := c.CoreV1().Nodes().Get(context.Background(), "node-3", metav1.GetOptions{})
	if !n3.Spec.Unschedulable {
		t.Error("pre-existing cordon lifted")
	}
	r = maintRun(t, c, "uncordon", "node-3", "--force", "-o", "json")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"kind": "UncordonResult"`) || !strings.Contains(r.stdout, `"action": "Uncordoned"`) {
		t.Errorf("uncordon --force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestMaintenanceStatus(t *testing.T) {
	c := maintCluster()
	if r := maintRun(t, c, "status"); r.code != ExitOK || r.stdout != "" || r.stderr != "no node is cordoned or under maintenance\n" {
		t.Errorf("empty status: %+v", r)
	}
	if r := maintRun(t, c, "cordon", "node-2", "--reason", "disk swap"); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	r := maintRun(t, c, "status")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "NAME     SCHEDULABLE   CORDONED-BY   SINCE") ||
		!strings.Contains(r.stdout, "node-2   false         alice") || !strings.Contains(r.stdout, "disk swap") ||
		!strings.Contains(r.stdout, "  on node-2: shop/backend-2, shop/backend-3\n") {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestMaintenanceErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drain", "nope", "--yes"}, ExitError, "error: node \"nope\" not found: nothing changed (`kubectl get nodes` lists the nodes)\n"},
		{[]string{"plan"}, ExitUsage, "error: no node given: name one or more nodes, or use -l SELECTOR\n"},
		{[]string{"cordon", "node-1", "-l", "zone=a"}, ExitUsage, "error: give node names or -l SELECTOR, not both\n"},
		{[]string{"drain", "node-1", "--max-unavailable-nodes", "0"}, ExitUsage, "error: invalid --max-unavailable-nodes 0: must be at least 1\n"},
		{[]string{"bogus"}, ExitUsage, `unknown command "bogus"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := maintCluster()
			r := maintRun(t, c, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d, %q", r.code, r.stderr, tt.code, tt.want)
			}
			if w := writes(c); len(w) != 0 {
				t.Errorf("wrote: %v", w)
			}
			if tt.code == ExitUsage && len(c.Actions()) != 0 {
				t.Errorf("usage error after %d requests", len(c.Actions()))
			}
		})
	}
}
