package strategy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// fxSmokeProxy is an API server that answers every pods/proxy GET with 200 and allows every
// access review: the smoke test's own requests, kept apart from the fake cluster's reads.
func fxSmokeProxy(t *testing.T) kubernetes.Interface {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprint(w, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":true}}`)
			return
		}
		_, _ = fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// fxSmokeRolling is the rolling component "api" at revision 2 (template hash h2), its
// Service asking for a smoke test of /livez, and two Ready pods of h2.
func fxSmokeRolling() []runtime.Object {
	objs := fxRolling(2, false, "api:1", "api:2")
	for i, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			s = s.DeepCopy()
			s.Annotations = map[string]string{traffic.SmokePathAnnotation: "/livez"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(5000)}}
			objs[i] = s
		}
	}
	for _, p := range fxPods("api-h2", map[string]string{"app": "api", appsv1.DefaultDeploymentUniqueLabelKey: "h2"}, 2, 0) {
		p := p.(*corev1.Pod)
		p.UID = types.UID("uid-" + p.Name)
		p.Spec.Containers = []corev1.Container{{Name: "app", Image: "api:2", Ports: []corev1.ContainerPort{{ContainerPort: 5000}}}}
		objs = append(objs, p)
	}
	return objs
}

// fxReads counts the read requests by "verb resource".
func fxReads(client *fake.Clientset) map[string]int {
	out := map[string]int{}
	for _, a := range client.Actions() {
		out[a.GetVerb()+" "+a.GetResource().Resource]++
	}
	return out
}

// TestDeploySmokeUsesTheHashTheWaitEndedOn: given the template its wait ended on, the
// deploy's smoke test lists that template's pods by hash (two pod LISTs) and reads the
// Deployment once, after the test — no GET + ReplicaSet LIST before each pod LIST as
// without it. A template changed by someone else after the wait does not pass: the old
// pods are still Ready, so only the re-read can tell, and it names the field and manager.
func TestDeploySmokeUsesTheHashTheWaitEndedOn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		waited    bool
		foreign   bool
		wantReads map[string]int
		wantErr   []string
	}{
		{name: "no wait: looked up before each pod LIST", wantReads: map[string]int{"get deployments": 2, "list replicasets": 2, "list pods": 2}},
		{name: "the wait's hash", waited: true, wantReads: map[string]int{"list pods": 2, "get deployments": 1}},
		{name: "template changed after the wait", waited: true, foreign: true, wantReads: map[string]int{"list pods": 2, "get deployments": 1},
			wantErr: []string{"not conclusive", "deployment/api spec.template changed to api:3", `field manager "kubectl-set"`, "the pods tested (template h2) are not its template"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fxClient(fxSmokeRolling()...)
			env, _ := fxEnv(client, audit.DryRunNone)
			c := fxLoad(t, client, "api")
			res := &DeployResult{Deployment: "api", Replicas: 2, Ready: true}
			if tc.waited {
				res.waited = &waitedTemplate{deployment: c.Deployment.DeepCopy(), hash: "h2"}
			}
			if tc.foreign {
				d := c.Deployment.DeepCopy()
				d.Generation++
				d.Spec.Template.Spec.Containers[0].Image = "api:3"
				d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{"f:spec":{}}}}`)}}
				// The fake tracker keeps no managedFields of its own: serve the changed copy.
				client.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) { return true, d, nil })
			}
			client.ClearActions()
			err := smokeDeployed(t.Context(), env, c, &traffic.Smoke{Client: fxSmokeProxy(t)}, res)
			if got := fxReads(client); fmt.Sprint(got) != fmt.Sprint(tc.wantReads) {
				t.Errorf("requests %v, want %v", got, tc.wantReads)
			}
			if len(res.Smoke) != 1 || len(res.Smoke[0].Results) != 2 {
				t.Fatalf("smoke reports %+v", res.Smoke)
			}
			if tc.wantErr == nil {
				if err != nil || !res.Smoke[0].Passed || !res.Ready {
					t.Fatalf("smoke did not pass: %v %+v", err, res.Smoke)
				}
				return
			}
			var smokeErr *traffic.SmokeError
			if !errors.As(err, &smokeErr) || res.Smoke[0].Passed || res.Ready {
				t.Fatalf("smoke on a replaced template passed: %v %+v", err, res.Smoke)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestDeploySmokeAfterTheWait: a rolling deploy hands its wait's template to the smoke test:
// the ReplicaSets are listed once (by the wait, to find the new template's hash) and the
// Deployment is read once after the test, instead of twice each for the test.
func TestDeploySmokeAfterTheWait(t *testing.T) {
	client := fxClient(fxSmokeRolling()...)
	env, _ := fxEnv(client, audit.DryRunNone)
	c := fxLoad(t, client, "api")
	client.ClearActions()
	res, err := Deploy(t.Context(), env, c, DeployOptions{Images: []ImageSpec{{Image: "api:3"}}, Smoke: &traffic.Smoke{Client: fxSmokeProxy(t)}})
	if err != nil || !res.Ready || len(res.Smoke) != 1 || !res.Smoke[0].Passed || len(res.Smoke[0].Results) != 2 {
		t.Fatalf("deploy: %v %+v", err, res)
	}
	if res.waited == nil || res.waited.hash != templateDigest(&res.waited.deployment.Spec.Template)[:10] {
		t.Fatalf("the wait's template was not handed on: %+v", res.waited)
	}
	reads := fxReads(client)
	if reads["list replicasets"] != 1 || reads["get deployments"] != 1 {
		t.Errorf("requests %v: want 1 ReplicaSet LIST (the wait's) and 1 Deployment GET (after the smoke test)", reads)
	}
}
