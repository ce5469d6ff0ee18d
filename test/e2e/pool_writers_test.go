package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestMaintenancePoolNoticesAnUncordon: while a pool drain waits for the first node's
// replacements, someone uncordons the next node of the pool. The drain must notice before
// it evicts from that node, say so, stop, and not report it drained.
func TestMaintenancePoolNoticesAnUncordon(t *testing.T) {
	h := harness.For(t)
	p, ns, sel := slowPool(h, "6s", "e2e.feastflow.dev/rotate=yes", "orders", "ledger", "mailer")
	second := p.podsOn(ns, p.nodes[1])

	run := startFeastflow(t, h, "maintenance", "drain", "-l", sel, "--max-unavailable-nodes", "1", "--wait-ready", "--yes", "--timeout", "5m")
	run.waitLine(t, "node "+p.nodes[0]+": waiting for replacements to be Ready elsewhere", 60*time.Second)
	h.MustKubectl("uncordon", p.nodes[1]) // the second writer
	<-run.done
	_ = run.cmd.Wait()
	out := run.stdout.String() + run.text()
	if code := run.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1 (a node of the pool was uncordoned mid-drain):\n%s", code, out)
	}
	mustContain(t, "output", out, "node "+p.nodes[1]+": someone uncordoned the node during the drain")
	if strings.Contains(run.stdout.String(), p.nodes[1]+"   Drained") {
		t.Errorf("the uncordoned node is reported drained:\n%s", out)
	}
	// Nothing was evicted from it (the check comes before its first eviction), and the roll
	// stopped there: the third node keeps its pods.
	after := p.podsOn(ns, p.nodes[1])
	kept := map[string]bool{}
	for _, pod := range after {
		kept[string(pod.UID)] = true
	}
	for _, pod := range second {
		if !kept[string(pod.UID)] {
			t.Errorf("pod %s was evicted from the uncordoned node", pod.Name)
		}
	}
	if n := len(p.podsOn(ns, p.nodes[2])); n != 2 {
		t.Errorf("%d pods left on %s, want 2: the roll should have stopped", n, p.nodes[2])
	}
	if p.node(1).Spec.Unschedulable {
		t.Error("the drain cordoned the node again behind the second writer's back")
	}
	st := h.Feastflow("maintenance", "status", "-l", sel)
	mustContain(t, "status", st.Stdout, "Failed")
}

// TestMaintenancePoolDrainRestricted: a pool drain by an identity that may cordon nodes but
// not evict pods. The denied eviction is named, the roll stops at the first node, and no
// pod anywhere is removed; the nodes stay cordoned, as the error says.
func TestMaintenancePoolDrainRestricted(t *testing.T) {
	h := harness.For(t)
	p := newPool(h, 3, "4")
	ns := h.NewNamespace()
	for i, app := range []string{"orders", "ledger"} {
		p.onNode(i, func() { deployment(h, p, ns, app, 2, "100m", nil) })
	}
	before := map[string]int{p.nodes[0]: len(p.podsOn(ns, p.nodes[0])), p.nodes[1]: len(p.podsOn(ns, p.nodes[1]))}
	for _, n := range p.nodes[:2] {
		h.MustKubectl("label", "node", n, "e2e.feastflow.dev/rotate=yes")
	}
	sel := poolKey + "=" + p.id + ",e2e.feastflow.dev/rotate=yes"
	user := "e2e-pool-noevict-" + p.id
	restrictedUser(t, h, user, []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments", "statefulsets", "daemonsets"}, Verbs: []string{"get", "list"}},
	})

	r := h.Feastflow("maintenance", "drain", "-l", sel, "--max-unavailable-nodes", "1", "--wait-ready", "--yes", "--timeout", "2m", "--as", user)
	if r.ExitCode != 1 {
		t.Fatalf("drain as %s: exit %d\n%s%s", user, r.ExitCode, r.Stdout, r.Stderr)
	}
	out := r.Stdout + r.Stderr
	mustContain(t, "output", out, "forbidden", "pods/eviction", p.nodes[0])
	for n, want := range before {
		if got := len(p.podsOn(ns, n)); got != want {
			t.Errorf("%d pods on %s after the denied drain, %d before", got, n, want)
		}
	}
	for _, d := range []string{"orders", "ledger"} {
		if got := h.MustKubectl("-n", ns, "get", "deploy", d, "-o", "jsonpath={.status.readyReplicas}"); got != "2" {
			t.Errorf("deployment %s has %s ready replicas after the denied drain", d, got)
		}
	}
	if !p.node(0).Spec.Unschedulable || !p.node(1).Spec.Unschedulable || p.node(2).Spec.Unschedulable {
		t.Errorf("cordons: want the two pool nodes cordoned (as the error says) and the spare not")
	}
}

// restrictedUser binds a ClusterRole with rules to the user (for --as), for this test only.
func restrictedUser(t *testing.T, h *harness.H, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules}
	if _, err := h.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Client.RbacV1().ClusterRoles().Delete(context.Background(), user, metav1.DeleteOptions{})
	})
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
	if _, err := h.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), user, metav1.DeleteOptions{})
	})
}
