package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// inNamespace copies shop's objects into namespace ns.
func inNamespace(objs []runtime.Object, ns string) []runtime.Object {
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		c := o.DeepCopyObject()
		m := c.(metav1.Object)
		if _, isNS := c.(*corev1.Namespace); isNS {
			m.SetName(ns)
		} else {
			m.SetNamespace(ns)
		}
		out = append(out, c)
	}
	return out
}

func TestStatusAllNamespacesCommand(t *testing.T) {
	objs := append(cmdObjects(), inNamespace(cmdObjects(), "payments")...)
	// A namespace with a Deployment but no Service has no component and no item.
	lone := cmdDeployment("batch", map[string]string{"app": "batch"}, 1)
	lone.Namespace = "jobs"
	objs = append(objs, lone, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "jobs"}})

	out, stderr, code, _ := runRelease(t, objs, "status", "-A")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Namespace payments:", "Namespace shop:", "api         blue-green   blue     green", "4 components in 2 of 3 namespaces."} {
		if !strings.Contains(out, want) {
			t.Errorf("status -A lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Namespace payments:") > strings.Index(out, "Namespace shop:") {
		t.Errorf("namespaces not in order:\n%s", out)
	}

	out, _, code, _ = runRelease(t, objs, "status", "-A", "-o", "json")
	var list struct {
		Kind       string `json:"kind"`
		Namespaces int    `json:"namespaces"`
		Requests   int    `json:"requests"`
		Items      []struct {
			Namespace  string `json:"namespace"`
			Components []struct {
				Name        string `json:"name"`
				Deployments []struct {
					Name  string `json:"name"`
					Ready int32  `json:"ready"`
				} `json:"deployments"`
			} `json:"components"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
		t.Fatalf("status -A -o json: %v (exit %d)\n%s", err, code, out)
	}
	if list.Kind != "StatusReportList" || list.Namespaces != 3 || len(list.Items) != 2 || list.Items[0].Namespace != "payments" || len(list.Items[1].Components) != 2 {
		t.Fatalf("list = %+v", list)
	}
	// One LIST per kind (7 kinds, each one page here; no DaemonSet, so no revisions or
	// nodes), no per-namespace reads.
	if list.Requests != 7 {
		t.Errorf("requests = %d, want 7", list.Requests)
	}

	for _, args := range [][]string{{"status", "-A", "api"}, {"status", "-A", "--watch"}} {
		if _, stderr, code, _ := runRelease(t, objs, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage): %s", args, code, stderr)
		}
	}
}
