package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appsclient "k8s.io/client-go/kubernetes/typed/apps/v1"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// kubectlClient is the kubernetes.Interface handed to k8s.io/kubectl's rollback and
// history helpers. Those helpers take no context, GET the Deployment the plugin has just
// listed and LIST ReplicaSets once per Deployment, and PATCH without field manager, dry
// run or precondition. This client:
//   - serves GETs of the Deployments it knows from memory (no request),
//   - LISTs the namespace's ReplicaSets once and answers every selector from that list,
//   - makes the rollback PATCH the plugin's kind of write: the last-operation annotation
//     added to the patch, a `test` of the generation read first, the field manager and
//     the dry-run mode (a client dry run sends nothing),
//   - uses the caller's ctx for every request.
type kubectlClient struct {
	kubernetes.Interface
	ctx  context.Context
	env  *Env
	deps map[string]*appsv1.Deployment
	rs   []appsv1.ReplicaSet
	// listed is true once the ReplicaSets were listed.
	listed bool

	// Set by a rollback PATCH.
	patched        *appsv1.Deployment
	targetRevision int64
	targetHash     string
	targetImages   string
	op             audit.Operation
	patchErr       error
	// hold keeps the rollback PATCH (body, with its test and record) instead of sending
	// it: the rollback plans it, then sends it as a step (send).
	hold bool
	body []byte
}

func newKubectlClient(ctx context.Context, env *Env, deps ...*appsv1.Deployment) *kubectlClient {
	k := &kubectlClient{Interface: env.Client, ctx: ctx, env: env, deps: map[string]*appsv1.Deployment{}}
	for _, d := range deps {
		k.deps[d.Name] = d
	}
	return k
}

// newRollbackClient is the client of one rollback of d.
func newRollbackClient(ctx context.Context, env *Env, d *appsv1.Deployment) *kubectlClient {
	return newKubectlClient(ctx, env, d)
}

// AppsV1 wraps the apps client.
func (k *kubectlClient) AppsV1() appsclient.AppsV1Interface {
	return &kubectlApps{AppsV1Interface: k.Interface.AppsV1(), k: k}
}

type kubectlApps struct {
	appsclient.AppsV1Interface
	k *kubectlClient
}

func (a *kubectlApps) Deployments(ns string) appsclient.DeploymentInterface {
	return &kubectlDeployments{DeploymentInterface: a.AppsV1Interface.Deployments(ns), k: a.k, ns: ns}
}

func (a *kubectlApps) ReplicaSets(ns string) appsclient.ReplicaSetInterface {
	return &kubectlReplicaSets{ReplicaSetInterface: a.AppsV1Interface.ReplicaSets(ns), k: a.k}
}

type kubectlDeployments struct {
	appsclient.DeploymentInterface
	k  *kubectlClient
	ns string
}

func (d *kubectlDeployments) Get(_ context.Context, name string, opts metav1.GetOptions) (*appsv1.Deployment, error) {
	if dep, ok := d.k.deps[name]; ok && dep.Namespace == d.ns {
		return dep.DeepCopy(), nil
	}
	return d.DeploymentInterface.Get(d.k.ctx, name, opts)
}

// Patch receives kubectl's rollback patch: a JSON patch replacing /spec/template and
// /metadata/annotations.
func (d *kubectlDeployments) Patch(_ context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, sub ...string) (*appsv1.Deployment, error) {
	k := d.k
	cur, ok := k.deps[name]
	if !ok || pt != types.JSONPatchType {
		return nil, fmt.Errorf("unexpected %s patch of deployment %s/%s from the rollback helper", pt, d.ns, name)
	}
	var ops []map[string]json.RawMessage
	if err := json.Unmarshal(data, &ops); err != nil {
		return nil, fmt.Errorf("decode rollback patch: %w", err)
	}
	target := &corev1.PodTemplateSpec{}
	for _, op := range ops {
		var path string
		_ = json.Unmarshal(op["path"], &path)
		if path == "/spec/template" {
			if err := json.Unmarshal(op["value"], target); err != nil {
				return nil, fmt.Errorf("decode rollback template: %w", err)
			}
		}
	}
	k.targetImages = imagesText(TemplateImages(target))
	for i := range k.rs {
		if metav1.IsControlledBy(&k.rs[i], cur) && EqualIgnoreHash(&k.rs[i].Spec.Template, target) {
			k.targetRevision, _ = deploymentutil.Revision(&k.rs[i])
			k.targetHash = k.rs[i].Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		}
	}
	fromRev, _ := deploymentutil.Revision(cur)
	k.op = k.env.Writer.Operation("rollback", fmt.Sprintf("revision %d (%s)", fromRev, imagesText(TemplateImages(&cur.Spec.Template))), fmt.Sprintf("revision %d (%s)", k.targetRevision, k.targetImages))
	// The precondition is the generation, not the resourceVersion: the controller's status
	// updates change the latter every few hundred milliseconds during a rollout, while the
	// generation changes only when someone changes the spec, which is the conflict to catch.
	out := []any{map[string]any{"op": "test", "path": "/metadata/generation", "value": cur.Generation}}
	for _, op := range ops {
		var path string
		_ = json.Unmarshal(op["path"], &path)
		if path == "/metadata/annotations" {
			ann := map[string]string{}
			_ = json.Unmarshal(op["value"], &ann)
			ann[audit.LastOperationAnnotation] = k.op.Annotation()
			// kubectl rollout undo keeps the restored revision's cause; a rollback is a
			// release of its own, with its reason: `kubectl rollout history` shows it.
			ann[ChangeCauseAnnotation] = "kubectl feastflow " + k.op.Message()
			out = append(out, map[string]any{"op": "replace", "path": path, "value": ann})
			continue
		}
		out = append(out, op)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode rollback patch: %w", err)
	}
	if k.env.Writer.Client() || k.hold {
		k.body = body
		k.patched = cur.DeepCopy()
		k.patched.Spec.Template = *target
		return k.patched, nil
	}
	return k.send(k.ctx, name, body)
}

// send sends a held rollback PATCH of deployment name.
func (k *kubectlClient) send(ctx context.Context, name string, body []byte) (*appsv1.Deployment, error) {
	cur := k.deps[name]
	res, err := k.Interface.AppsV1().Deployments(cur.Namespace).Patch(ctx, name, types.JSONPatchType, body, k.env.Writer.PatchOptions())
	if err != nil {
		k.patchErr = err
		return nil, err
	}
	k.patched = res
	return res, nil
}

// renumbered reports whether d's current ReplicaSet once was revision rev (its
// deployment.kubernetes.io/revision-history annotation lists it), and its revision now.
func (k *kubectlClient) renumbered(d *appsv1.Deployment, rev int64) (int64, bool) {
	want := strconv.FormatInt(rev, 10)
	for i := range k.rs {
		rs := &k.rs[i]
		if !metav1.IsControlledBy(rs, d) || !EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			continue
		}
		for _, old := range strings.Split(rs.Annotations[deploymentutil.RevisionHistoryAnnotation], ",") {
			if strings.TrimSpace(old) == want {
				now, err := deploymentutil.Revision(rs)
				return now, err == nil
			}
		}
	}
	return 0, false
}

type kubectlReplicaSets struct {
	appsclient.ReplicaSetInterface
	k *kubectlClient
}

// List answers from one LIST of the namespace's ReplicaSets.
func (r *kubectlReplicaSets) List(_ context.Context, opts metav1.ListOptions) (*appsv1.ReplicaSetList, error) {
	k := r.k
	if !k.listed {
		list, err := r.ReplicaSetInterface.List(k.ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		k.rs, k.listed = list.Items, true
	}
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("parse selector %q: %w", opts.LabelSelector, err)
	}
	out := &appsv1.ReplicaSetList{}
	for i := range k.rs {
		if sel.Matches(labels.Set(k.rs[i].Labels)) {
			out.Items = append(out.Items, *k.rs[i].DeepCopy())
		}
	}
	return out, nil
}
