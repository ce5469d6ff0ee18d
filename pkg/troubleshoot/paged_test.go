package troubleshoot

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
	"github.com/feastflow/kubectl-feastflow/pkg/pages/pagestest"
)

// mixedNamespace is a namespace with more pods than one page and problems of several
// rules: a Service selecting nothing (nearest miss), a blue-green color with no
// Deployment, a crash-looping pod, and 1,100 healthy pods behind a Service.
func mixedNamespace() []runtime.Object {
	objs := healthyWeb()
	objs = append(objs, service("web-typo", map[string]string{"app": "web", "tier": "front"}, intstr.FromString("http")))
	objs = append(objs, brokenPod("api-77c9-x", func(p *corev1.Pod) { crashing(p, 1, "Error") })[:3]...)
	blue := map[string]string{"app": "backend", "version": "blue"}
	d := deployment("backend-blue", blue, 1)
	rs := replicaSet(d, "1", 1, 1)
	objs = append(objs, d, rs, pod("backend-blue-1-a", rs, blue), service("backend", map[string]string{"app": "backend", "version": "green"}, intstr.FromString("http")))
	bulk := map[string]string{"app": "bulk"}
	bd := deployment("bulk", bulk, 1100)
	brs := replicaSet(bd, "9f", 1100, 1100)
	objs = append(objs, bd, brs, service("bulk", bulk, intstr.FromString("http")))
	for i := range 1100 {
		p := pod(fmt.Sprintf("bulk-9f-%04d", i), brs, bulk)
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
		objs = append(objs, p)
	}
	return objs
}

func findingsJSON(t *testing.T, r *Report) string {
	t.Helper()
	b, err := json.Marshal(r.Findings)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The snapshot read in pages (here of at most 50 items, so every kind with more objects
// takes several) gives exactly the findings of one unpaged read, and one LIST per page.
func TestDiagnosePagedEqualsUnpaged(t *testing.T) {
	whole := newFixture(t, mixedNamespace()...).diagnose(t, Scope{})
	f := newFixture(t, mixedNamespace()...)
	req := pagestest.Paginate(&f.kube.Fake, f.kube.Tracker(), 50)
	paged := f.diagnose(t, Scope{})
	if a, b := findingsJSON(t, whole), findingsJSON(t, paged); a != b {
		t.Fatalf("paged findings differ:\nunpaged %s\npaged   %s", a, b)
	}
	for _, want := range []CategoryWant{{"Service", "web-typo", CategoryServiceNoPods}, {"Service", "backend", CategoryServiceColor}} {
		if find(paged, want.kind, want.name, want.cat) == nil {
			t.Errorf("missing %v:%s", want, dump(paged))
		}
	}
	if paged.Summary.Pods != whole.Summary.Pods || paged.Summary.Pods < 1100 {
		t.Fatalf("pods %d vs %d", paged.Summary.Pods, whole.Summary.Pods)
	}
	// 1,104 pods in pages of 50 = 23 LISTs; every other typed kind one page.
	if got := req.Lists("pods"); got != (paged.Summary.Pods+49)/50 {
		t.Errorf("pod LISTs = %d, want %d", got, (paged.Summary.Pods+49)/50)
	}
	for _, l := range req.Limits("pods") {
		if l != pages.Size {
			t.Fatalf("pod LIST limits %v, want %d", req.Limits("pods"), pages.Size)
		}
	}
	// Every request is counted in the report: typed pages, the two metadata lists and the
	// crashed container's previous log.
	logs := 0
	for _, a := range f.kube.Actions() {
		if a.GetSubresource() == "log" {
			logs++
		}
	}
	if paged.Summary.APIRequests != req.Total()+2+logs {
		t.Errorf("report counts %d requests, the server saw %d typed LISTs + 2 metadata + %d logs", paged.Summary.APIRequests, req.Total(), logs)
	}
}

type CategoryWant struct {
	kind, name string
	cat        Category
}

// Pages arrive trimmed: the snapshot keeps no managedFields of typed objects.
func TestSnapshotTrimsAsPagesArrive(t *testing.T) {
	f := newFixture(t, mixedNamespace()...)
	pagestest.Paginate(&f.kube.Fake, f.kube.Tracker(), 0)
	s, err := take(t.Context(), f.kube, f.meta, ns, "", allKinds)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.pods) < 1100 || cap(s.pods) != len(s.pods) {
		t.Fatalf("pods len %d cap %d: want > 1100, sized once", len(s.pods), cap(s.pods))
	}
	for i := range s.pods {
		if m := s.pods[i].pod(); m.ManagedFields != nil {
			t.Fatalf("pod %s kept its managedFields", m.Name)
		}
	}
	if s.requests.Load() != int64(len(s.known))+2 { // pods take 3 pages of 500
		t.Errorf("requests %d for %d kinds", s.requests.Load(), len(s.known))
	}
}
