package pages_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
	"github.com/feastflow/kubectl-feastflow/pkg/pages/pagestest"
)

func pods(n int) []runtime.Object {
	out := make([]runtime.Object, n)
	for i := range n {
		out[i] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("p-%05d", i), Namespace: "a",
			Annotations:   map[string]string{pages.LastApplied: "{...}", "keep": "me"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		}}
	}
	return out
}

func podItems(l *corev1.PodList) []corev1.Pod { return l.Items }

func TestReadPagesTrimsAndSizesOnce(t *testing.T) {
	cs := fake.NewClientset(pods(1234)...)
	req := pagestest.Paginate(&cs.Fake, cs.Tracker(), 0)
	var got []corev1.Pod
	n, err := pages.Read(context.Background(), metav1.ListOptions{}, cs.CoreV1().Pods("").List, podItems, &got, func(p *corev1.Pod) { pages.TrimMeta(&p.ObjectMeta) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || req.Lists("pods") != 3 {
		t.Fatalf("requests = %d (server saw %d), want 3 pages of 500", n, req.Lists("pods"))
	}
	for _, l := range req.Limits("pods") {
		if l != pages.Size {
			t.Fatalf("limits %v, want %d each", req.Limits("pods"), pages.Size)
		}
	}
	if len(got) != 1234 || cap(got) != 1234 {
		t.Fatalf("len %d cap %d, want 1234 (sized once from the remaining count)", len(got), cap(got))
	}
	seen := map[string]bool{}
	for i := range got {
		p := &got[i]
		if seen[p.Name] {
			t.Fatalf("%s read twice", p.Name)
		}
		seen[p.Name] = true
		if p.ManagedFields != nil || p.Annotations[pages.LastApplied] != "" || p.Annotations["keep"] != "me" {
			t.Fatalf("%s not trimmed as promised: %+v", p.Name, p.ObjectMeta)
		}
	}
}

func TestReadShortPagesAndEmptyList(t *testing.T) {
	// A server may answer with fewer items than the limit: the continue token decides.
	cs := fake.NewClientset(pods(10)...)
	req := pagestest.Paginate(&cs.Fake, cs.Tracker(), 3)
	var got []corev1.Pod
	n, err := pages.Read(context.Background(), metav1.ListOptions{}, cs.CoreV1().Pods("a").List, podItems, &got, nil)
	if err != nil || n != 4 || len(got) != 10 || req.Lists("pods") != 4 {
		t.Fatalf("n=%d len=%d lists=%d err=%v, want 4 pages, 10 pods", n, len(got), req.Lists("pods"), err)
	}
	got = nil
	n, err = pages.Read(context.Background(), metav1.ListOptions{}, cs.CoreV1().Pods("empty").List, podItems, &got, nil)
	if err != nil || n != 1 || len(got) != 0 {
		t.Fatalf("empty namespace: n=%d len=%d err=%v", n, len(got), err)
	}
}

func TestReadExpiredContinueRestartsUnpaged(t *testing.T) {
	cs := fake.NewClientset(pods(1200)...)
	pagestest.Paginate(&cs.Fake, cs.Tracker(), 0)
	expired := 0
	cs.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.(clienttesting.ListActionImpl).ListOptions.Continue == "1000" && expired == 0 {
			expired++
			return true, nil, apierrors.NewResourceExpired("the continue token is too old")
		}
		return false, nil, nil
	})
	var got []corev1.Pod
	n, err := pages.Read(context.Background(), metav1.ListOptions{}, cs.CoreV1().Pods("").List, podItems, &got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1200 || n != 4 {
		t.Fatalf("len=%d requests=%d, want the 1200 pods once after 3 paged + 1 unpaged requests", len(got), n)
	}
}

func TestReadErrorIsReturned(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", fmt.Errorf("no"))
	})
	var got []corev1.Pod
	if _, err := pages.Read(context.Background(), metav1.ListOptions{}, cs.CoreV1().Pods("").List, podItems, &got, nil); !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want Forbidden", err)
	}
}

// Stream hands every item of every page to each, says the total once, and on an expired
// continue token says 0 (drop what was kept) and reads again unpaged.
func TestStreamRestartsOnExpiredToken(t *testing.T) {
	calls := 0
	list := func(_ context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
		calls++
		left := int64(1)
		switch {
		case calls == 1:
			return &corev1.PodList{ListMeta: metav1.ListMeta{Continue: "c1", RemainingItemCount: &left}, Items: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}}}, nil
		case calls == 2 && opts.Continue == "c1":
			return nil, apierrors.NewResourceExpired("too old")
		case opts.Limit == 0 && opts.Continue == "":
			return &corev1.PodList{Items: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}}}, nil
		}
		t.Fatalf("unexpected call %d %+v", calls, opts)
		return nil, nil
	}
	var starts []int
	var names []string
	n, err := pages.Stream(context.Background(), metav1.ListOptions{}, list, func(l *corev1.PodList) []corev1.Pod { return l.Items },
		func(total int) { starts, names = append(starts, total), nil },
		func(p *corev1.Pod) { names = append(names, p.Name) })
	if err != nil || n != 3 {
		t.Fatalf("requests %d, err %v", n, err)
	}
	if fmt.Sprint(starts) != "[2 0]" || fmt.Sprint(names) != "[a b]" {
		t.Errorf("starts %v, items %v", starts, names)
	}
}
