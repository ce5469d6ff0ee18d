package strategy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// fxRolling is a rolling component "api" whose Deployment is at revision cur of the given
// images (revision i+1 runs images[i]).
func fxRolling(cur int, paused bool, images ...string) []runtime.Object {
	labels := map[string]string{"app": "api"}
	d := fxDeployment("api", 2, images[cur-1], labels)
	d.UID = "uid-api"
	d.Spec.Paused = paused
	d.Annotations = map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(cur)}
	objs := []runtime.Object{fxNamespace(), fxService("api", labels, nil), d}
	zero := int32(0)
	for i, im := range images {
		tpl := d.Spec.Template.DeepCopy()
		tpl.Spec.Containers[0].Image = im
		tpl.Labels = map[string]string{"app": "api", appsv1.DefaultDeploymentUniqueLabelKey: fmt.Sprintf("h%d", i+1)}
		objs = append(objs, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("api-h%d", i+1), Namespace: fxNS, Labels: tpl.Labels, UID: types.UID(fmt.Sprintf("rs-%d", i+1)),
				CreationTimestamp: metav1.NewTime(fxNow.Add(time.Duration(i-len(images)) * time.Hour)),
				Annotations:       map[string]string{"deployment.kubernetes.io/revision": fmt.Sprint(i + 1), ChangeCauseAnnotation: "deploy " + im},
				OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
			},
			Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels}, Template: *tpl},
		})
	}
	return objs
}

func TestRollbackRolling(t *testing.T) {
	tests := []struct {
		name      string
		cur       int
		paused    bool
		to        int64
		wantImage string
		wantErr   string
		noop      bool
	}{
		{name: "previous", cur: 3, wantImage: "api:2"},
		{name: "to revision 1", cur: 3, to: 1, wantImage: "api:1"},
		{name: "already there", cur: 3, to: 3, noop: true},
		{name: "unknown revision", cur: 3, to: 9, wantErr: "unable to find specified revision 9 in history"},
		{name: "paused", cur: 3, paused: true, wantErr: "you cannot rollback a paused deployment; resume it first"},
		{name: "no history", cur: 1, wantErr: `no rollout history found for deployment "api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			images := []string{"api:1", "api:2", "api:3"}[:max(tt.cur, 1)]
			client := fxClient(fxRolling(tt.cur, tt.paused, images...)...)
			env, _ := fxEnv(client, audit.DryRunNone)
			res, err := Rollback(t.Context(), env, fxLoad(t, client, "api"), RollbackOptions{ToRevision: tt.to})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				fxEqual(t, "writes", fxWrites(client), nil)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.noop {
				if res.Changed || !strings.Contains(res.Message, "skipped rollback (current template already matches revision 3)") {
					t.Errorf("result = %+v", res)
				}
				fxEqual(t, "writes", fxWrites(client), nil)
				return
			}
			d := fxGetDeployment(t, client, "api")
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tt.wantImage {
				t.Errorf("image after rollback = %s, want %s", got, tt.wantImage)
			}
			op, ok := audit.ParseOperation(d.Annotations)
			if !ok || op.Verb != "rollback" || !strings.Contains(op.To, tt.wantImage) {
				t.Errorf("last-operation = %+v", op)
			}
			// kubectl's patch and the plugin's record are one request, with a precondition.
			var patches []k8stesting.PatchActionImpl
			for _, a := range client.Actions() {
				if pa, ok := a.(k8stesting.PatchActionImpl); ok {
					patches = append(patches, pa)
				}
			}
			if len(patches) != 1 || !strings.Contains(string(patches[0].Patch), `{"op":"test","path":"/metadata/generation","value":1}`) || patches[0].PatchOptions.FieldManager != audit.FieldManager {
				t.Errorf("patches = %d: %s %+v", len(patches), patches[0].Patch, patches[0].PatchOptions)
			}
		})
	}
}

func TestRollbackRollingConflict(t *testing.T) {
	client := fxClient(fxRolling(3, false, "api:1", "api:2", "api:3")...)
	client.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errConflict
	})
	env, _ := fxEnv(client, audit.DryRunNone)
	_, err := Rollback(t.Context(), env, fxLoad(t, client, "api"), RollbackOptions{})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a ConflictError", err)
	}
}

func TestRollbackRollingClientDryRun(t *testing.T) {
	client := fxClient(fxRolling(3, false, "api:1", "api:2", "api:3")...)
	env, _ := fxEnv(client, audit.DryRunClient)
	res, err := Rollback(t.Context(), env, fxLoad(t, client, "api"), RollbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "would roll deployment/api back from revision 3 to revision 2 (api:2)") {
		t.Errorf("message = %s", res.Message)
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}

func TestHistory(t *testing.T) {
	client := fxClient(fxRolling(3, false, "api:1", "api:2", "api:3")...)
	env, _ := fxEnv(client, audit.DryRunNone)
	res, err := History(t.Context(), env, fxLoad(t, client, "api"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deployments) != 1 || len(res.Deployments[0].Revisions) != 3 {
		t.Fatalf("history = %+v", res)
	}
	for i, r := range res.Deployments[0].Revisions {
		want := fmt.Sprintf("api:%d", i+1)
		if r.Revision != int64(i+1) || r.Images[0].Image != want || r.ChangeCause != "deploy "+want || r.Current != (i == 2) {
			t.Errorf("revision %d = %+v", i+1, r)
		}
	}
	lists := 0
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "replicasets" {
			lists++
		}
		if a.GetResource().Resource == "deployments" && a.GetVerb() == "get" {
			t.Errorf("history fetched the deployment again")
		}
	}
	if lists != 1 {
		t.Errorf("%d replicaset requests, want 1", lists)
	}
}

// failRollout makes the fake answer a patch that sets image like a controller whose new
// generation exceeded its progress deadline (the fake has no controller).
func failRollout(client *fake.Clientset, image string) {
	client.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pa := a.(k8stesting.PatchActionImpl)
		if !strings.Contains(string(pa.Patch), `"image":"`+image+`"`) {
			return false, nil, nil
		}
		handled, obj, err := k8stesting.ObjectReaction(client.Tracker())(a)
		d := obj.(*appsv1.Deployment).DeepCopy()
		d.Generation++
		d.Status.ObservedGeneration = d.Generation
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}
		if uerr := client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, d.Namespace); uerr != nil {
			return true, nil, uerr
		}
		return handled, d, err
	})
}

func TestDeployRollingAutoRollback(t *testing.T) {
	// The fake has no controller: the wait sees the new generation fail its progress
	// deadline, which is a RolloutFailedError like a failing pod.
	client := fxClient(fxRolling(2, false, "api:1", "api:2")...)
	failRollout(client, "api:bad")
	env, _ := fxEnv(client, audit.DryRunNone)
	res, err := Deploy(t.Context(), env, fxLoad(t, client, "api"), DeployOptions{Images: []ImageSpec{{Image: "api:bad"}}, AutoRollback: true})
	if err == nil || !strings.Contains(err.Error(), "ProgressDeadlineExceeded") || !strings.Contains(err.Error(), "rolled deployment api back to revision 2 (api:2)") {
		t.Fatalf("error = %v", err)
	}
	if !res.RolledBack || res.Failure == nil {
		t.Errorf("result = %+v", res)
	}
	if got := fxGetDeployment(t, client, "api").Spec.Template.Spec.Containers[0].Image; got != "api:2" {
		t.Errorf("image after auto-rollback = %s", got)
	}
}

// --auto-rollback returns to the last revision that was available, not to the previous
// template: after a failed deploy without it (revision 2, stuck, revision 1 still
// serving), a second failed deploy goes back to revision 1, not to the first failure.
// When no revision was available, nothing is rolled back and the error says why.
func TestDeployRollingAutoRollbackToLastAvailable(t *testing.T) {
	for _, tt := range []struct {
		name        string
		oldServing  bool
		wantErr     string
		wantImage   string
		wantWriteNo int
	}{
		{name: "to the revision still serving", oldServing: true, wantErr: "rolled deployment api back to revision 1 (api:1), the last one that was available", wantImage: "api:1", wantWriteNo: 2},
		{name: "no revision available", wantErr: "not rolled back: no revision of deployment api was available before this deploy", wantImage: "api:bad2", wantWriteNo: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := fxRolling(2, false, "api:1", "api:bad1")
			for _, o := range objs {
				switch x := o.(type) {
				case *appsv1.Deployment:
					x.Status.UpdatedReplicas, x.Status.AvailableReplicas, x.Status.Replicas = 1, 0, 3
					if tt.oldServing {
						x.Status.AvailableReplicas = 2
					}
				case *appsv1.ReplicaSet:
					if x.Name == "api-h1" && tt.oldServing {
						x.Status.AvailableReplicas = 2
					}
				}
			}
			client := fxClient(objs...)
			failRollout(client, "api:bad2")
			env, _ := fxEnv(client, audit.DryRunNone)
			res, err := Deploy(t.Context(), env, fxLoad(t, client, "api"), DeployOptions{Images: []ImageSpec{{Image: "api:bad2"}}, AutoRollback: true})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if got := fxGetDeployment(t, client, "api").Spec.Template.Spec.Containers[0].Image; got != tt.wantImage {
				t.Errorf("image after the failed deploy = %s, want %s", got, tt.wantImage)
			}
			if len(fxWrites(client)) != tt.wantWriteNo || res.RolledBack != (tt.wantWriteNo == 2) {
				t.Errorf("writes %v, result %+v", fxWrites(client), res)
			}
		})
	}
}

// Every template write carries kubernetes.io/change-cause with the --reason, which the
// deployment controller copies to the revision: the rollback too.
func TestRollbackSetsChangeCause(t *testing.T) {
	client := fxClient(fxRolling(3, false, "api:1", "api:2", "api:3")...)
	env, _ := fxEnv(client, audit.DryRunNone)
	env.Writer.Reason = "api:3 leaks memory"
	if _, err := Rollback(t.Context(), env, fxLoad(t, client, "api"), RollbackOptions{}); err != nil {
		t.Fatal(err)
	}
	cause := fxGetDeployment(t, client, "api").Annotations[ChangeCauseAnnotation]
	if !strings.HasPrefix(cause, "kubectl feastflow rollback from revision 3 (api:3) to revision 2 (api:2)") || !strings.HasSuffix(cause, ": api:3 leaks memory") {
		t.Errorf("change-cause = %q", cause)
	}
}

// Re-running rollback --to-revision N after it succeeded is a no-op: revision N was
// renumbered to the newest one, and its ReplicaSet remembers the old number.
func TestRollbackRollingRerunAfterRenumbering(t *testing.T) {
	// After "rollback --to-revision 1" from revision 2: api:1's ReplicaSet is revision 3 and
	// remembers 1; there is no revision 1 any more.
	objs := fxRolling(2, false, "api:2", "api:1")
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.ReplicaSet:
			if o.Name == "api-h1" {
				o.Annotations["deployment.kubernetes.io/revision"] = "2"
			} else {
				o.Annotations["deployment.kubernetes.io/revision"] = "3"
				o.Annotations["deployment.kubernetes.io/revision-history"] = "1"
			}
		case *appsv1.Deployment:
			o.Annotations["deployment.kubernetes.io/revision"] = "3"
		}
	}
	client := fxClient(objs...)
	env, _ := fxEnv(client, audit.DryRunNone)
	res, err := Rollback(t.Context(), env, fxLoad(t, client, "api"), RollbackOptions{ToRevision: 1})
	if err != nil || res.Changed || !strings.Contains(res.Message, "already runs revision 1 (renumbered 3") {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}
