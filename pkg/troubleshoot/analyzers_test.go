package troubleshoot

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clienttesting "k8s.io/client-go/testing"
)

func TestEditDistanceAndKinds(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"paymnet", "payment", 1}, {"deplyo", "deploy", 1}, {"web", "job", 2}, {"", "ab", 2}, {"db-url", "db_url", 1}} {
		if got := EditDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
	for in, want := range map[string]string{"deplyo": "deployment", "sevrice": "service", "pdo": "pod", "cm": "", "ingres": "ingress", "statefulste": "statefulset"} {
		if got := SuggestKind(in); got != want {
			t.Errorf("SuggestKind(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{"deplyo": true, "web": false, "api-v2": false, "podss": true, "node1": false, "checkout": false} {
		if got := LooksLikeKind(in); got != want {
			t.Errorf("LooksLikeKind(%q) = %v, want %v", in, got, want)
		}
	}
}

// A Service down by a one-label typo: the near miss by edit distance and the exact patch;
// the Ingress in front of it folds into it; outage first.
func TestDiagnoseSelectorTypoAndFolding(t *testing.T) {
	objs := healthyWeb()
	pay := map[string]string{"app": "payment"}
	d := deployment("payment", pay, 1)
	rs := replicaSet(d, "7c9d", 1, 1)
	objs = append(objs, d, rs, pod("payment-7c9d-a", rs, pay), service("payment", map[string]string{"app": "paymnet"}, intstr.FromString("http")),
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.local",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/pay",
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "payment", Port: networkingv1.ServiceBackendPort{Name: "http"}}}}}}}}}}})
	crashing(objs[3].(*corev1.Pod), 1, "Error")
	r := newFixture(t, objs...).diagnose(t, Scope{})
	if len(r.Findings) == 0 || r.Findings[0].Object.Name != "payment" || r.Findings[0].Impact != ImpactOutage {
		t.Fatalf("outage not first:%s", dump(r))
	}
	f := r.Findings[0]
	if want := `kubectl patch service payment -n shop --type=merge -p '{"spec":{"selector":{"app":"payment"}}}'`; len(f.Fix) == 0 || f.Fix[0] != want {
		t.Errorf("fix %v, want %q", f.Fix, want)
	}
	if !strings.Contains(strings.Join(f.Affects, "\n"), "affects ingress shop: shop.local/pay") {
		t.Errorf("ingress not folded: %v", f.Affects)
	}
	if find(r, "Ingress", "shop", CategoryIngressDown) != nil {
		t.Error("the ingress symptom is a second finding")
	}
	if r.Summary.ServicesDown != 1 {
		t.Errorf("services down = %d", r.Summary.ServicesDown)
	}
}

// A numeric targetPort that no pod declares refuses every request: an outage, an error.
func TestDiagnoseNumericTargetPortIsOutage(t *testing.T) {
	objs := healthyWeb()
	objs[4] = service("web", webLabels, intstr.FromInt32(9090))
	r := newFixture(t, objs...).diagnose(t, Scope{})
	f := find(r, "Service", "web", CategoryTargetPort)
	if f == nil || f.Severity != SeverityError || f.Impact != ImpactOutage {
		t.Errorf("numeric targetPort:%s", dump(r))
	}
}

func TestQuotaFix(t *testing.T) {
	obj := ObjectRef{Kind: "Deployment", Namespace: ns, Name: "web"}
	ex, fix := quotaFix("q", ns, obj, "pods=1", "pods=2", "pods=2")
	if len(ex) != 1 || !strings.HasPrefix(ex[0], "pods:") || strings.Contains(strings.Join(fix, "\n"), "lower the requests") ||
		!strings.Contains(fix[0], `{"spec":{"hard":{"pods":"3"}}}`) {
		t.Errorf("pods quota: %v %v", ex, fix)
	}
	ex, fix = quotaFix("q", ns, obj, "requests.cpu=500m,requests.memory=64Mi", "requests.cpu=1800m,requests.memory=64Mi", "requests.cpu=2,requests.memory=1Gi")
	if len(ex) != 1 || !strings.HasPrefix(ex[0], "requests.cpu") || !strings.Contains(strings.Join(fix, "\n"), "--requests=cpu=<smaller>") {
		t.Errorf("cpu quota: %v %v", ex, fix)
	}
}

func TestNearKey(t *testing.T) {
	have := map[string]bool{"db_url": true, "password": true}
	for in, want := range map[string]string{"db-url": "db_url", "DB_URL": "db_url", "passwd": "password", "token": ""} {
		if got := nearKey(in, have); got != want {
			t.Errorf("nearKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// The revert comes first when the previous ReplicaSet still serves.
func TestDiagnoseRevertFirst(t *testing.T) {
	d := deployment("web", webLabels, 2)
	old := replicaSet(d, "1111", 2, 2)
	old.Annotations = map[string]string{revisionAnnotation: "1"}
	old.Status.AvailableReplicas = 2
	cur := replicaSet(d, "2222", 1, 1)
	cur.Annotations = map[string]string{revisionAnnotation: "2"}
	bad := pod("web-2222-a", cur, webLabels)
	crashing(bad, 1, "Error")
	objs := []runtime.Object{node("node-1", "4", "8Gi"), d, old, cur, pod("web-1111-a", old, webLabels), pod("web-1111-b", old, webLabels), bad,
		service("web", webLabels, intstr.FromString("http")), slice("web", map[string]bool{"web-1111-a": true, "web-1111-b": true, "web-2222-a": false})}
	r := newFixture(t, objs...).diagnose(t, Scope{})
	f := find(r, "Deployment", "web", CategoryCrashLoop)
	if f == nil || !strings.HasPrefix(f.Fix[0], "kubectl rollout undo deployment/web -n shop  # back to revision 1") {
		t.Fatalf("revert not first:%s", dump(r))
	}
	if f.Impact != ImpactDegraded || !strings.Contains(strings.Join(f.Affects, ""), "affects service web: 1 of 3 endpoints not ready") || find(r, "Service", "web", CategoryNotReadyEndpoints) != nil {
		t.Errorf("endpoints not folded:%s", dump(r))
	}
}

func TestDiagnosePDBAndNetworkPolicy(t *testing.T) {
	objs := healthyWeb()
	objs = append(objs,
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: ns}, Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "wbe"}}}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: ns}, Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: webLabels}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}})
	r := newFixture(t, objs...).diagnose(t, Scope{})
	if f := find(r, "PodDisruptionBudget", "typo", CategoryPDBSelectsNothing); f == nil || !strings.Contains(f.Fix[0], `"matchLabels":{"app":"web"}`) {
		t.Errorf("pdb:%s", dump(r))
	}
	if f := find(r, "Service", "web", CategoryNetworkPolicyBlocks); f == nil || f.Impact != ImpactOutage || !strings.Contains(f.Fix[0], `{"spec":{"ingress":[{"ports":[{"port":8080`) {
		t.Errorf("netpol:%s", dump(r))
	}
}

// A completed pod whose native sidecar was stopped with 143 is not a failure.
func TestSidecarExitIsNotFailure(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	p := &corev1.Pod{
		Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always}}, Containers: []corev1.Container{{Name: "task"}}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143}}}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "task", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}},
	}
	if f := ClassifyPod(p); f != nil {
		t.Errorf("sidecar exit classified: %v", f)
	}
	p.Status.ContainerStatuses[0].State.Terminated.ExitCode = 1
	if f := ClassifyPod(p); f == nil || f.Container != "task" {
		t.Errorf("failed task: %v", f)
	}
}

// Without the pods LIST a namespace verdict is an error.
func TestDiagnoseForbiddenPodsFails(t *testing.T) {
	f := newFixture(t, healthyWeb()...)
	f.kube.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, errForbidden("pods") })
	_, err := Diagnose(t.Context(), f.kube, Scope{Namespace: ns}, Options{Metadata: f.meta})
	if fe, ok := err.(*ForbiddenError); !ok || !strings.Contains(fe.Error(), "forbidden to list pods in namespace shop") {
		t.Errorf("err = %v", err)
	}
}
