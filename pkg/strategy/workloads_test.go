package strategy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

func wxStatefulSet(name string, replicas int32, image string, partition int32) *appsv1.StatefulSet {
	labels := map[string]string{"tier": "db"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, Generation: 1, UID: "uid-sts"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: image}}},
			},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: replicas, ReadyReplicas: replicas, CurrentReplicas: replicas, UpdatedReplicas: replicas, CurrentRevision: name + "-1", UpdateRevision: name + "-1"},
	}
}

func wxDaemonSet(name string) *appsv1.DaemonSet {
	labels := map[string]string{"tier": "agent"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fxNS, Generation: 1, UID: "uid-ds"},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: labels},
			Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

func TestRecogniseWorkloads(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		want Kind
		sts  int
	}{
		{"one statefulset", []runtime.Object{fxService("db", map[string]string{"tier": "db"}, nil), wxStatefulSet("db", 3, "pg:1", 0)}, StatefulSetStrategy, 1},
		{"one daemonset", []runtime.Object{fxService("db", map[string]string{"tier": "agent"}, nil), wxDaemonSet("agent")}, DaemonSetStrategy, 0},
		{"two statefulsets", []runtime.Object{fxService("db", map[string]string{"tier": "db"}, nil), wxStatefulSet("db", 3, "pg:1", 0), wxStatefulSet("db2", 3, "pg:1", 0)}, Unknown, 2},
		{"a deployment wins", []runtime.Object{fxService("db", map[string]string{"tier": "db"}, nil), wxStatefulSet("db", 3, "pg:1", 0), fxDeployment("web", 1, "web:1", map[string]string{"tier": "db"})}, Rolling, 0},
		{"nothing", []runtime.Object{fxService("db", map[string]string{"tier": "none"}, nil), wxStatefulSet("db", 3, "pg:1", 0)}, Unknown, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			c := fxLoad(t, client, "db")
			if c.Strategy != tc.want || len(c.StatefulSets) != tc.sts {
				t.Errorf("strategy %s with %d statefulsets, want %s with %d", c.Strategy, len(c.StatefulSets), tc.want, tc.sts)
			}
			inv, err := List(t.Context(), client, fxNS)
			if err != nil {
				t.Fatal(err)
			}
			comps := inv.Components(Keys{})
			if tc.want != Unknown && (len(comps) != 1 || comps[0].Strategy != tc.want) {
				t.Errorf("inventory components: %v", names(comps, nil))
			}
		})
	}
}

// deploy --canary records the release on the Service before it writes the StatefulSet, and
// stages the template with partition = replicas in one generation-tested JSON patch.
func TestDeployStatefulSetCanaryStages(t *testing.T) {
	client := fake.NewClientset(fxNamespace(), fxService("db", map[string]string{"tier": "db"}, nil), wxStatefulSet("db", 5, "pg:1", 0))
	env, _ := fxEnv(client, "")
	c := fxLoad(t, client, "db")
	res, err := DeployStatefulSet(t.Context(), env, c, WorkloadDeployOptions{DeployOptions: DeployOptions{Images: []ImageSpec{{Image: "pg:2"}}}, Canary: true})
	if err != nil {
		t.Fatal(err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{"patch services/db", "patch statefulsets/db", "patch services/db"})
	var stsPatch string
	for _, a := range client.Actions() {
		if p, ok := a.(interface{ GetPatch() []byte }); ok && a.GetResource().Resource == "statefulsets" {
			stsPatch = string(p.GetPatch())
		}
	}
	for _, want := range []string{`"op":"test","path":"/metadata/generation","value":1`, `"path":"/spec/template/spec/containers/0/image","value":"pg:2"`, `"path":"/spec/updateStrategy/rollingUpdate/partition","value":5`} {
		if !strings.Contains(stsPatch, want) {
			t.Errorf("statefulset patch lacks %s:\n%s", want, stsPatch)
		}
	}
	if svc := fxGetService(t, client, "db"); !strings.Contains(svc.Annotations[ReleaseAnnotation], `"workload":{"kind":"StatefulSet"`) {
		t.Errorf("release record lacks the workload: %v", svc.Annotations)
	}
	st := readWorkloadState(fxLoad(t, client, "db"))
	if st == nil || st.Phase != workloadStaged || st.Weight != 0 || st.Partition != 5 || st.FromRevision != "db-1" || st.Images != "pg:2" {
		t.Errorf("recorded state: %+v", st)
	}
	if !strings.Contains(res.Message, "staged pg:2 with partition 5 of 5 replicas") || !strings.Contains(res.Message, "OrderedReady, maxUnavailable 1") {
		t.Errorf("message: %s", res.Message)
	}
}

// A step maps the weight onto the highest ordinals: 20 % of 5 is partition 4, 60 % is 2;
// a weight below the one set is refused; in a client dry run nothing is sent.
func TestStepStatefulSetPartition(t *testing.T) {
	state := `{"kind":"StatefulSet","name":"db","uid":"uid-sts","phase":"staged","verb":"deploy","fromRevision":"db-1","images":"pg:2","fromWeight":0,"weight":20,"partition":4}`
	svc := fxService("db", map[string]string{"tier": "db"}, map[string]string{WorkloadStateAnnotation: state})
	sts := wxStatefulSet("db", 5, "pg:2", 4)
	sts.Status.UpdateRevision = "db-2"
	client := fake.NewClientset(fxNamespace(), svc, sts)
	env, _ := fxEnv(client, audit.DryRunClient)
	c := fxLoad(t, client, "db")
	res, err := StepStatefulSet(t.Context(), env, c, CanaryStepOptions{Weight: 60})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].From != "4" || res.Changes[0].To != "2" || res.Plan.Canary != 3 {
		t.Errorf("changes %+v plan %+v", res.Changes, res.Plan)
	}
	fxEqual(t, "writes in a client dry run", fxWrites(client), nil)
	if _, err := StepStatefulSet(t.Context(), env, c, CanaryStepOptions{Weight: 10}); err == nil || !strings.Contains(err.Error(), "only moves forward") {
		t.Errorf("step back: %v", err)
	}
	res, err = StepStatefulSet(t.Context(), env, c, CanaryStepOptions{Weight: 20})
	if err != nil || !strings.Contains(res.Message, "already at 20 %") {
		t.Errorf("same step: %v %v", res, err)
	}
}

// A StatefulSet changed since it was read (a second writer) fails the generation test: a
// conflict naming the object, nothing written to it.
func TestPatchStatefulSetSecondWriter(t *testing.T) {
	sts := wxStatefulSet("db", 5, "pg:1", 0)
	client := fake.NewClientset(sts)
	env, _ := fxEnv(client, "")
	moved := sts.DeepCopy()
	moved.Generation = 2
	if _, err := client.AppsV1().StatefulSets(fxNS).Update(t.Context(), moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := patchStatefulSet(t.Context(), env, sts, partitionOps(sts, 3), nil, env.Writer.Operation("canary-step", "", ""), "Partitioned")
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "statefulset shop/db was changed by someone else") {
		t.Errorf("err = %v", err)
	}
}

func TestDaemonSetCanaryRefused(t *testing.T) {
	client := fake.NewClientset(fxService("agent", map[string]string{"tier": "agent"}, nil), wxDaemonSet("agent"))
	c := fxLoad(t, client, "agent")
	if err := DaemonSetCanaryError(c); !strings.Contains(err.Error(), "one pod per node") {
		t.Error(err)
	}
}

func TestPodOrdinal(t *testing.T) {
	for name, want := range map[string]int{"db-0": 0, "db-12": 12, "db-x": -1, "db2-1": -1, "db-": -1} {
		if got := podOrdinal("db", name); got != want {
			t.Errorf("podOrdinal(db, %s) = %d, want %d", name, got, want)
		}
	}
}

func wxPod(set *appsv1.StatefulSet, ordinal int, revision string, ready bool, waiting string) *corev1.Pod {
	t := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: set.Name + "-" + string(rune('0'+ordinal)), Namespace: fxNS, UID: "pod-uid-" + types.UID(revision) + types.UID(rune('0'+ordinal)),
			Labels:          map[string]string{"tier": "db", appsv1.ControllerRevisionHashLabelKey: revision},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: set.Name, UID: set.UID, Controller: &t}}},
		Spec:   corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "db", Image: "pg"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
	if waiting != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "db", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "back-off 40s restarting failed container"}}}}
	}
	return p
}

// The wait decides from the pods of the ordinals promised: done when they are Ready on the
// update revision, whatever the older ordinals do; a crash-looping new pod fails it at once.
func TestWaitUpdatedPods(t *testing.T) {
	sts := wxStatefulSet("db", 3, "pg:2", 1)
	sts.Status.UpdateRevision = "db-2"
	objs := []runtime.Object{sts, wxPod(sts, 0, "db-1", false, ""), wxPod(sts, 1, "db-2", true, ""), wxPod(sts, 2, "db-2", true, "")}
	client := fake.NewClientset(objs...)
	env, _ := fxEnv(client, "")
	r := &stsRelease{env: env, c: &Component{Service: fxService("db", nil, nil)}, s: sts.DeepCopy()}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.waitUpdated(ctx, 1, 0, "canary-step"); err != nil {
		t.Fatalf("ordinals 1-2 Ready on db-2: %v", err)
	}
	crash := wxPod(sts, 2, "db-2", false, "CrashLoopBackOff")
	client = fake.NewClientset(sts, wxPod(sts, 0, "db-1", true, ""), wxPod(sts, 1, "db-2", true, ""), crash)
	env, _ = fxEnv(client, "")
	r = &stsRelease{env: env, c: &Component{Service: fxService("db", nil, nil)}, s: sts.DeepCopy()}
	err := r.waitUpdated(ctx, 1, 0, "canary-step")
	var fe *WorkloadFailedError
	if !errors.As(err, &fe) || fe.Pod != "db-2" || !strings.Contains(err.Error(), "CrashLoopBackOff") {
		t.Fatalf("err = %v", err)
	}
}

// A spec change by someone else while waiting (kubectl scale) stops the wait and says what.
func TestWaitUpdatedSecondWriter(t *testing.T) {
	sts := wxStatefulSet("db", 3, "pg:2", 1)
	sts.Status.UpdateRevision = "db-2"
	client := fake.NewClientset(sts, wxPod(sts, 2, "db-2", false, ""))
	env, rec := fxEnv(client, "")
	r := &stsRelease{env: env, c: &Component{Service: fxService("db", nil, nil)}, s: sts.DeepCopy()}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { err := r.waitUpdated(ctx, 1, 0, "canary-step"); errc <- err }()
	for !strings.Contains(strings.Join(rec.Messages(), "\n"), "pods (ordinals 1-2)") {
		select {
		case err := <-errc:
			t.Fatalf("wait ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	scaled := sts.DeepCopy()
	four := int32(4)
	scaled.Spec.Replicas, scaled.Generation = &four, 2
	if _, err := client.AppsV1().StatefulSets(fxNS).Update(ctx, scaled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	var sw *SecondWriterError
	if !errors.As(err, &sw) || !strings.Contains(err.Error(), "replicas 3 → 4") || !strings.Contains(err.Error(), "re-run kubectl feastflow canary-step") {
		t.Fatalf("err = %v", err)
	}
}

// A Service recorded by an older version (feastflow.dev/workload-state) is read through the
// release record; the first write stores the workload in feastflow.dev/release and removes
// the older annotation, preconditioned on the Service's resourceVersion.
func TestWorkloadStateMigratesIntoRelease(t *testing.T) {
	state := `{"kind":"StatefulSet","name":"db","uid":"uid-sts","phase":"staged","verb":"deploy","fromRevision":"db-1","images":"pg:2","fromWeight":0,"weight":20,"partition":4}`
	svc := fxService("db", map[string]string{"tier": "db"}, map[string]string{WorkloadStateAnnotation: state})
	svc.ResourceVersion = "7"
	client := fake.NewClientset(fxNamespace(), svc, wxStatefulSet("db", 5, "pg:2", 4))
	env, _ := fxEnv(client, "")
	c := fxLoad(t, client, "db")
	st := readWorkloadState(c)
	if st == nil || st.Weight != 20 || st.Partition != 4 {
		t.Fatalf("migrated state: %+v", st)
	}
	if err := saveWorkloadState(t.Context(), env, c, st); err != nil {
		t.Fatal(err)
	}
	var patch string
	for _, a := range client.Actions() {
		if p, ok := a.(interface{ GetPatch() []byte }); ok {
			patch = string(p.GetPatch())
		}
	}
	for _, want := range []string{`"feastflow.dev/workload-state":null`, `"resourceVersion":"7"`, `\"phase\":\"canary\"`, `\"weight\":20`} {
		if !strings.Contains(patch, want) {
			t.Errorf("patch lacks %s:\n%s", want, patch)
		}
	}
	rec, err := ReadRelease(fxLoad(t, client, "db"))
	if err != nil || rec.Workload == nil || rec.Workload.FromRevision != "db-1" || len(rec.MigratedFrom) != 0 {
		t.Errorf("stored record: %+v (%v)", rec, err)
	}
	if err := saveWorkloadState(t.Context(), env, c, nil); err != nil {
		t.Fatal(err)
	}
	if rec, _ := ReadRelease(fxLoad(t, client, "db")); rec.Workload != nil || rec.Operation != nil || rec.Phase != PhaseDeployed {
		t.Errorf("ended record: %+v", rec)
	}
}

// A user who may not list StatefulSets gets the denied read named (an error, exit 1), never
// "unknown strategy": what the Service fronts cannot be told. A Service that reaches a
// Deployment needs no such read.
func TestResolveNamesForbiddenWorkloadList(t *testing.T) {
	client := fake.NewClientset(fxNamespace(), fxService("db", map[string]string{"tier": "db"}, nil), wxStatefulSet("db", 3, "pg:1", 0))
	client.PrependReactor("list", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, "", errors.New(`User "bob" cannot list resource "statefulsets"`))
	})
	_, err := Resolve(t.Context(), client, fxNS, "db", Keys{}, false)
	if err == nil || !strings.Contains(err.Error(), "statefulsets") || !strings.Contains(err.Error(), "forbidden") || strings.Contains(err.Error(), "unknown") {
		t.Fatalf("err = %v", err)
	}
	var ce *ComponentError
	if errors.As(err, &ce) {
		t.Errorf("a denied read reported as a component error: %v", err)
	}
}
