package plugin

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// A StatefulSet and a DaemonSet component next to the Deployment ones.
func cmdWorkloadObjects() []runtime.Object {
	three, zero := int32(3), int32(0)
	db := map[string]string{"app": "db"}
	agent := map[string]string{"app": "agent"}
	return append(cmdObjects(),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: db}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: agent}},
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", Generation: 1, UID: "sts"},
			Spec: appsv1.StatefulSetSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: db},
				Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: db}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "pg:16"}}}},
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero}}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "db-abc", UpdateRevision: "db-abc"},
		},
		&appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop", Generation: 1, UID: "ds"},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: agent},
				Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: agent}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "fluent-bit:3"}}}},
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2},
		},
	)
}

func TestStatusWorkloads(t *testing.T) {
	out, stderr, code, _ := runRelease(t, cmdWorkloadObjects(), "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"db          statefulset", "agent       daemonset", "statefulset/db", "RollingUpdate partition 0 maxUnavailable 1 OrderedReady", "daemonset/agent"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

func TestWorkloadVerbsRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"canary-step", "agent"}, 1, "one pod per node"},
		{[]string{"deploy", "agent", "--canary", "--image", "x:1"}, 1, "one pod per node"},
		{[]string{"deploy", "web", "--canary", "--image", "x:1"}, 1, "--canary applies to statefulset components"},
		{[]string{"canary-step", "db"}, 1, "no release to step"},
		{[]string{"promote", "db", "--yes"}, 0, ""},
		{[]string{"abort", "db", "--yes"}, 0, ""},
	} {
		_, stderr, code, cs := runRelease(t, cmdWorkloadObjects(), append(tc.args, "--dry-run=client")...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || patches(cs) != 0 {
			t.Errorf("%v: exit %d (want %d), %d patches, stderr %q (want %q)", tc.args, code, tc.code, patches(cs), stderr, tc.want)
		}
	}
}
