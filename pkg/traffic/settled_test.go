package traffic

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func readyPod(name, uid string) corev1.Pod {
	p := pod(name)
	p.UID = types.UID(uid)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	return p
}

// TestPodsSettled: only Ready pods are tested, and a set of pods that changed while the
// test ran (a pod replaced under the same name, a new one) never passes.
func TestPodsSettled(t *testing.T) {
	ok := map[string]http.HandlerFunc{
		"pods/a:5000/healthz": answer(200, "ok"),
		"pods/b:5000/healthz": answer(200, "ok"),
	}
	notReady := pod("c")
	cases := []struct {
		name        string
		first, then []corev1.Pod
		pass        bool
		want        []string
		replicas    int
	}{
		{"stable set passes", []corev1.Pod{readyPod("a", "1"), readyPod("b", "2"), notReady}, []corev1.Pod{readyPod("a", "1"), readyPod("b", "2"), notReady}, true, nil, 2},
		{"replaced under the same name", []corev1.Pod{readyPod("a", "1"), readyPod("b", "2")}, []corev1.Pod{readyPod("a", "1"), readyPod("b", "9")}, false, []string{"pod/b gone or not ready", "pod/b new", "not conclusive"}, 2},
		{"a pod became ready", []corev1.Pod{readyPod("a", "1"), notReady}, []corev1.Pod{readyPod("a", "1"), readyPod("c", "3")}, false, []string{"pod/c new"}, 1},
		{"no ready pod", []corev1.Pod{notReady}, []corev1.Pod{notReady}, false, []string{"no ready pod to test"}, 0},
		{"fewer ready than wanted", []corev1.Pod{readyPod("a", "1"), notReady}, []corev1.Pod{readyPod("a", "1"), notReady}, false, []string{"only 1 of 2 pods ready"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs, f := newFakeAPI(t, ok)
			calls := 0
			list := func(context.Context) ([]corev1.Pod, error) {
				calls++
				if calls == 1 {
					return tc.first, nil
				}
				return tc.then, nil
			}
			rep, err := (&Smoke{Client: cs, Path: "/healthz"}).PodsSettled(context.Background(), svc(nil), list, tc.replicas)
			if rep == nil || rep.Passed != tc.pass || (err == nil) != tc.pass {
				t.Fatalf("rep %+v err %v", rep, err)
			}
			if f.hits["pods/c:5000/healthz"] != 0 {
				t.Errorf("a pod that was not Ready was tested")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}
