package strategy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	appsclient "k8s.io/client-go/kubernetes/typed/apps/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// RolledBackAnnotation on a StatefulSet or DaemonSet records the last rollback: the revision
// number asked for and the ControllerRevision it restored (which the controller renumbers
// as the newest), so that re-running the same rollback is recognised as done.
const RolledBackAnnotation = "feastflow.dev/rolled-back"

// WorkloadHistory is one StatefulSet's or DaemonSet's revisions, oldest first, as `kubectl
// rollout history sts/NAME` (or ds/NAME) lists them, with images and change causes.
type WorkloadHistory struct {
	Kind      string             `json:"kind"`
	Name      string             `json:"name"`
	Current   int64              `json:"currentRevision"`
	Revisions []WorkloadRevision `json:"revisions"`
}

// WorkloadRevision is one ControllerRevision.
type WorkloadRevision struct {
	Revision           int64            `json:"revision"`
	ControllerRevision string           `json:"controllerRevision"`
	Images             []ContainerImage `json:"images"`
	ChangeCause        string           `json:"changeCause,omitempty"`
	Created            time.Time        `json:"created"`
	// Pods counts the pods running this revision now.
	Pods    int  `json:"pods"`
	Current bool `json:"current"`
}

// workloadClient is the kubernetes.Interface handed to k8s.io/kubectl's StatefulSet and
// DaemonSet history viewers and rollbackers: it serves the GET of the workload the plugin
// has loaded from memory, LISTs the namespace's ControllerRevisions once, and turns the
// rollbacker's strategic-merge PATCH into the plugin's kind of write (a resourceVersion
// precondition, the last-operation and change-cause annotations in the same patch, the
// field manager and dry-run mode; nothing sent in a client dry run).
type workloadClient struct {
	kubernetes.Interface
	ctx       context.Context
	env       *Env
	sts       *appsv1.StatefulSet
	ds        *appsv1.DaemonSet
	revisions []appsv1.ControllerRevision
	listed    bool

	// annotate builds the annotations a rollback patch adds, from the revision restored.
	annotate func(target *appsv1.ControllerRevision) (audit.Operation, map[string]string)
	target   *appsv1.ControllerRevision
	op       audit.Operation
	patchErr error
	patched  bool
}

func (k *workloadClient) AppsV1() appsclient.AppsV1Interface {
	return &workloadApps{AppsV1Interface: k.Interface.AppsV1(), k: k}
}

type workloadApps struct {
	appsclient.AppsV1Interface
	k *workloadClient
}

func (a *workloadApps) StatefulSets(ns string) appsclient.StatefulSetInterface {
	return &workloadSTS{StatefulSetInterface: a.AppsV1Interface.StatefulSets(ns), k: a.k}
}

func (a *workloadApps) DaemonSets(ns string) appsclient.DaemonSetInterface {
	return &workloadDS{DaemonSetInterface: a.AppsV1Interface.DaemonSets(ns), k: a.k}
}

func (a *workloadApps) ControllerRevisions(ns string) appsclient.ControllerRevisionInterface {
	return &workloadRevisions{ControllerRevisionInterface: a.AppsV1Interface.ControllerRevisions(ns), k: a.k}
}

type workloadSTS struct {
	appsclient.StatefulSetInterface
	k *workloadClient
}

func (s *workloadSTS) Get(_ context.Context, name string, opts metav1.GetOptions) (*appsv1.StatefulSet, error) {
	if s.k.sts != nil && s.k.sts.Name == name {
		return s.k.sts.DeepCopy(), nil
	}
	return s.StatefulSetInterface.Get(s.k.ctx, name, opts)
}

func (s *workloadSTS) Patch(_ context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, sub ...string) (*appsv1.StatefulSet, error) {
	body, err := s.k.rollbackPatch(s.k.sts.ResourceVersion, s.k.sts.Annotations, data)
	if err != nil || s.k.env.Writer.Client() {
		return s.k.sts, err
	}
	out, err := s.StatefulSetInterface.Patch(s.k.ctx, name, pt, body, s.k.env.Writer.PatchOptions(), sub...)
	s.k.patchErr = err
	if err == nil && s.k.env.Writer.Live() {
		*s.k.sts = *out
	}
	return out, err
}

type workloadDS struct {
	appsclient.DaemonSetInterface
	k *workloadClient
}

func (d *workloadDS) Get(_ context.Context, name string, opts metav1.GetOptions) (*appsv1.DaemonSet, error) {
	if d.k.ds != nil && d.k.ds.Name == name {
		return d.k.ds.DeepCopy(), nil
	}
	return d.DaemonSetInterface.Get(d.k.ctx, name, opts)
}

func (d *workloadDS) Patch(_ context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, sub ...string) (*appsv1.DaemonSet, error) {
	body, err := d.k.rollbackPatch(d.k.ds.ResourceVersion, d.k.ds.Annotations, data)
	if err != nil || d.k.env.Writer.Client() {
		return d.k.ds, err
	}
	out, err := d.DaemonSetInterface.Patch(d.k.ctx, name, pt, body, d.k.env.Writer.PatchOptions(), sub...)
	d.k.patchErr = err
	if err == nil && d.k.env.Writer.Live() {
		*d.k.ds = *out
	}
	return out, err
}

// rollbackPatch adds the precondition and the annotations to the revision's patch.
func (k *workloadClient) rollbackPatch(rv string, _ map[string]string, data []byte) ([]byte, error) {
	for i := range k.revisions {
		if bytes.Equal(k.revisions[i].Data.Raw, data) {
			k.target = &k.revisions[i]
		}
	}
	if k.target == nil {
		return nil, fmt.Errorf("the rollback helper sent a revision this client did not list")
	}
	var patch map[string]any
	if err := json.Unmarshal(data, &patch); err != nil {
		return nil, fmt.Errorf("decode revision patch: %w", err)
	}
	op, extra := k.annotate(k.target)
	k.op = op
	ann := map[string]any{audit.LastOperationAnnotation: op.Annotation()}
	for key, v := range extra {
		ann[key] = v
	}
	patch = deepMerge(patch, map[string]any{"metadata": map[string]any{"resourceVersion": rv, "annotations": ann}})
	k.patched = true
	return json.Marshal(patch)
}

type workloadRevisions struct {
	appsclient.ControllerRevisionInterface
	k *workloadClient
}

// List answers every selector from one LIST of the namespace's ControllerRevisions.
func (r *workloadRevisions) List(_ context.Context, opts metav1.ListOptions) (*appsv1.ControllerRevisionList, error) {
	k := r.k
	if !k.listed {
		list, err := r.ControllerRevisionInterface.List(k.ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		k.revisions, k.listed = list.Items, true
	}
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("parse selector %q: %w", opts.LabelSelector, err)
	}
	out := &appsv1.ControllerRevisionList{}
	for i := range k.revisions {
		if sel.Matches(labels.Set(k.revisions[i].Labels)) {
			out.Items = append(out.Items, *k.revisions[i].DeepCopy())
		}
	}
	return out, nil
}

func newWorkloadClient(ctx context.Context, env *Env, c *Component) (*workloadClient, schema.GroupKind, string) {
	k := &workloadClient{Interface: env.Client, ctx: ctx, env: env}
	if s := c.StatefulSet(); s != nil {
		k.sts = s
		return k, schema.GroupKind{Group: "apps", Kind: kindStatefulSet}, s.Name
	}
	k.ds = c.DaemonSet()
	return k, schema.GroupKind{Group: "apps", Kind: kindDaemonSet}, k.ds.Name
}

// owned are the listed ControllerRevisions controlled by uid, oldest first.
func (k *workloadClient) owned(uid types.UID) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for i := range k.revisions {
		if ref := metav1.GetControllerOf(&k.revisions[i]); ref != nil && ref.UID == uid {
			out = append(out, &k.revisions[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

// workloadHistories reads the revisions of a StatefulSet or DaemonSet component with
// k8s.io/kubectl's history viewer (`kubectl rollout history`), from one LIST of
// ControllerRevisions and one of pods.
func workloadHistories(ctx context.Context, env *Env, c *Component) ([]WorkloadHistory, error) {
	if !IsWorkload(c) {
		return nil, nil
	}
	k, gk, name := newWorkloadClient(ctx, env, c)
	viewer, err := polymorphichelpers.HistoryViewerFor(gk, k)
	if err != nil {
		return nil, err
	}
	revs, err := viewer.GetHistory(c.Namespace(), name)
	if err != nil {
		return nil, fmt.Errorf("history of %s %s/%s: %w", strings.ToLower(gk.Kind), c.Namespace(), name, err)
	}
	h := WorkloadHistory{Kind: gk.Kind, Name: name, Revisions: []WorkloadRevision{}}
	var uid types.UID
	var sel *metav1.LabelSelector
	hashKey := appsv1.ControllerRevisionHashLabelKey
	current := ""
	if k.sts != nil {
		uid, sel, current = k.sts.UID, k.sts.Spec.Selector, k.sts.Status.UpdateRevision
	} else {
		uid, sel, hashKey = k.ds.UID, k.ds.Spec.Selector, appsv1.DefaultDaemonSetUniqueLabelKey
	}
	pods, err := listSelectorPods(ctx, env, c.Namespace(), workloadRef(gk.Kind, name), sel)
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	owned := ownedPods(pods, string(uid), true)
	for i := range owned {
		count[owned[i].Labels[hashKey]]++
	}
	own := k.owned(uid)
	if current == "" && len(own) > 0 {
		current = own[len(own)-1].Name
	}
	for _, cr := range own {
		r := WorkloadRevision{Revision: cr.Revision, ControllerRevision: cr.Name, ChangeCause: cr.Annotations[ChangeCauseAnnotation], Created: cr.CreationTimestamp.UTC(), Current: cr.Name == current}
		switch obj := revs[cr.Revision].(type) {
		case *appsv1.StatefulSet:
			r.Images = TemplateImages(&obj.Spec.Template)
			r.Pods = count[cr.Name]
		case *appsv1.DaemonSet:
			r.Images = TemplateImages(&obj.Spec.Template)
			r.Pods = count[cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]]
		}
		if r.Current {
			h.Current = cr.Revision
		}
		h.Revisions = append(h.Revisions, r)
	}
	return []WorkloadHistory{h}, nil
}

// RollbackWorkload returns a StatefulSet or DaemonSet component to a revision (0: the
// previous one). A StatefulSet release in progress is aborted instead (the recorded revision
// is the one to return to).
func RollbackWorkload(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	if !IsWorkload(c) {
		return nil, WrongStrategyError(c, WorkloadKinds()...)
	}
	_, _, _, st := workloadIdentity(c)
	return rollbackWorkload(ctx, env, c, opts, st)
}

func rollbackWorkload(ctx context.Context, env *Env, c *Component, opts RollbackOptions, st *workloadState) (*Result, error) {
	res := newRolloutResult("RollbackResult", "rollback", c, env)
	if opts.ToRevision < 0 {
		return nil, fmt.Errorf("invalid revision %d: revisions are positive (see kubectl feastflow history %s)", opts.ToRevision, c.Name())
	}
	if st != nil && st.Paused != nil {
		return nil, fmt.Errorf("%s is paused (recorded on service/%s): resume it first with kubectl feastflow resume %s; rollback changed nothing", workloadRef(st.Kind, st.Name), c.Name(), c.Name())
	}
	if s := c.StatefulSet(); s != nil {
		if st != nil && st.Phase != "" {
			if opts.ToRevision != 0 {
				return nil, fmt.Errorf("component %s has a release in progress (%s to %d %%, recorded on service/%s): abort it first (kubectl feastflow abort %s), then roll back to a revision; nothing changed", c.Name(), st.Verb, st.Weight, c.Name(), c.Name())
			}
			env.report("a release of %s is in progress: rollback aborts it, back to revision %s (%s)", c.Name(), st.FromRevision, st.FromImages)
			r, err := newSTSRelease(env, c)
			if err != nil {
				return nil, err
			}
			ab, err := r.abort(ctx, opts.Timeout)
			if ab != nil {
				res.Changes, res.Changed, res.Message = ab.Changes, ab.Changed, ab.Message
			}
			return res, err
		}
		if stsPartition(s) != 0 {
			return nil, fmt.Errorf("%s has partition %d, set outside kubectl feastflow: a rollback would move only the ordinals from %d up; set the partition to 0 first (kubectl patch sts %s -p '{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":0}}}}'); nothing changed", workloadRef(kindStatefulSet, s.Name), stsPartition(s), stsPartition(s), s.Name)
		}
	}
	if d := c.DaemonSet(); d != nil && d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return nil, fmt.Errorf("daemonset %s/%s uses updateStrategy OnDelete: a rollback would not replace any pod; set RollingUpdate first; nothing changed", d.Namespace, d.Name)
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	k, gk, name := newWorkloadClient(ctx, env, c)
	ref := workloadRef(gk.Kind, name)
	var fromImages string
	var meta metav1.Object
	var obj runtime.Object
	if k.sts != nil {
		fromImages, meta, obj = imagesText(TemplateImages(&k.sts.Spec.Template)), k.sts, k.sts
	} else {
		fromImages, meta, obj = imagesText(TemplateImages(&k.ds.Spec.Template)), k.ds, k.ds
	}
	k.annotate = func(target *appsv1.ControllerRevision) (audit.Operation, map[string]string) {
		op := env.Writer.Operation("rollback", fromImages, fmt.Sprintf("revision %d", target.Revision))
		mark, _ := json.Marshal(map[string]any{"to": target.Revision, "revision": target.Name})
		return op, map[string]string{ChangeCauseAnnotation: changeCause(fmt.Sprintf("rollback %s --to-revision %d", c.Name(), target.Revision), op), RolledBackAnnotation: string(mark)}
	}
	rollbacker, err := polymorphichelpers.RollbackerFor(gk, k)
	if err != nil {
		return nil, err
	}
	// The dry run is the client's business (it sends nothing or dryRun=All), so that the
	// rollbacker's checks run in every mode.
	msg, err := rollbacker.Rollback(obj, nil, opts.ToRevision, cmdutil.DryRunNone)
	if err != nil {
		if k.patchErr != nil {
			return nil, writeError("patch", strings.ToLower(gk.Kind), c.Namespace(), name, k.patchErr)
		}
		if strings.Contains(err.Error(), "unable to find specified revision") && rolledBackTo(meta, k, opts.ToRevision) {
			res.Message = fmt.Sprintf("%s already runs revision %d (renumbered when it was rolled back to): nothing to change", ref, opts.ToRevision)
			return res, nil
		}
		return nil, fmt.Errorf("roll back %s in %s: %s (list the revisions with kubectl feastflow history %s)", ref, c.Namespace(), err, c.Name())
	}
	if !k.patched {
		res.Message = fmt.Sprintf("%s: %s; nothing to change", ref, msg)
		return res, nil
	}
	target := k.target
	tgtImages := ""
	if tpl, err := workloadRevisionImages(k, target); err == nil {
		tgtImages = tpl
	}
	addChange(res, &Change{Object: ref, Field: "spec.template", From: fromImages, To: fmt.Sprintf("revision %d (%s)", target.Revision, tgtImages)})
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would roll %s back to revision %d (%s)", env.Writer.DryRun, ref, target.Revision, tgtImages)
		return res, nil
	}
	if k.sts != nil {
		env.event(ctx, kindStatefulSet, "apps/v1", k.sts, "RolledBack", k.op)
		r := &stsRelease{env: env, c: c, s: k.sts}
		env.report("%s rolled back to revision %d (%s); waiting for every pod (%s)", ref, target.Revision, tgtImages, stsPolicyText(k.sts))
		if err := r.waitUpdated(ctx, 0, opts.Timeout, "rollback"); err != nil {
			return res, fmt.Errorf("%w (the rollback to revision %d was applied)", err, target.Revision)
		}
	} else {
		env.event(ctx, kindDaemonSet, "apps/v1", k.ds, "RolledBack", k.op)
		env.report("%s rolled back to revision %d (%s); waiting for every node", ref, target.Revision, tgtImages)
		if err := waitDaemonSet(ctx, env, c, k.ds, opts.Timeout, "rollback"); err != nil {
			return res, fmt.Errorf("%w (the rollback to revision %d was applied)", err, target.Revision)
		}
	}
	if st != nil {
		if err := saveWorkloadState(ctx, env, c, nil); err != nil {
			return res, err
		}
	}
	res.Message = fmt.Sprintf("%s rolled back to revision %d (%s), all pods ready", ref, target.Revision, tgtImages)
	return res, nil
}

// rolledBackTo reports whether the workload's last rollback went to revision rev and its
// template is still that revision's (the controller renumbered it as the newest).
func rolledBackTo(meta metav1.Object, k *workloadClient, rev int64) bool {
	var mark struct {
		To       int64  `json:"to"`
		Revision string `json:"revision"`
	}
	if err := json.Unmarshal([]byte(meta.GetAnnotations()[RolledBackAnnotation]), &mark); err != nil || mark.To != rev {
		return false
	}
	own := k.owned(meta.GetUID())
	return len(own) > 0 && own[len(own)-1].Name == mark.Revision
}

func workloadRevisionImages(k *workloadClient, cr *appsv1.ControllerRevision) (string, error) {
	var tpl *corev1.PodTemplateSpec
	var err error
	if k.sts != nil {
		tpl, err = revisionTemplate(k.sts, cr)
	} else {
		tpl, err = daemonSetRevisionTemplate(k.ds, cr)
	}
	if err != nil {
		return "", err
	}
	return imagesText(TemplateImages(tpl)), nil
}

// daemonSetRevisionTemplate is the pod template a DaemonSet's ControllerRevision records.
func daemonSetRevisionTemplate(d *appsv1.DaemonSet, cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	cur, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode daemonset: %w", err)
	}
	patched, err := strategicpatch.StrategicMergePatch(cur, cr.Data.Raw, &appsv1.DaemonSet{})
	if err != nil {
		return nil, fmt.Errorf("apply controllerrevision %s: %w", cr.Name, err)
	}
	out := &appsv1.DaemonSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("decode controllerrevision %s: %w", cr.Name, err)
	}
	return &out.Spec.Template, nil
}
