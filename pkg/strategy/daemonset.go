package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/util/podutils"
)

// DaemonSetCanaryError is canary-step on a DaemonSet component, refused with the reason.
func DaemonSetCanaryError(c *Component) error {
	return fmt.Errorf("component %s is a DaemonSet: canary-step is not possible — a DaemonSet runs exactly one pod per node and has no partition, so there is no share of pods to move; roll it with kubectl feastflow deploy %s --image IMAGE (fails fast, naming the node whose pod fails), or hold a rollout with kubectl feastflow pause %s", c.Name(), c.Name(), c.Name())
}

// DeployDaemonSet sets new images on a DaemonSet component after recording the release on
// the Service, and waits until every node's pod runs the new revision and is Ready, failing
// fast with the node whose new pod fails. AutoRollback returns to the revision before.
func DeployDaemonSet(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	d := c.DaemonSet()
	if d == nil {
		return nil, WrongStrategyError(c, DaemonSetStrategy)
	}
	ref := workloadRef(kindDaemonSet, d.Name)
	st := stateFor(c, kindDaemonSet, d.Name, d.UID)
	if st != nil && st.Paused != nil {
		return nil, fmt.Errorf("%s is paused (updateStrategy OnDelete, recorded on service/%s): resume it first with kubectl feastflow resume %s; deploy changed nothing", ref, c.Name(), c.Name())
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return nil, fmt.Errorf("daemonset %s/%s uses updateStrategy OnDelete: its pods change only when deleted, so no rollout can be driven or waited for; set updateStrategy.type RollingUpdate; nothing changed", d.Namespace, d.Name)
	}
	want := d.DeepCopy()
	changes, err := SetImages(d.Name, &want.Spec.Template, opts.Images)
	if err != nil {
		return nil, err
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	images := imagesText(TemplateImages(&want.Spec.Template))
	res := &DeployResult{Result: newResult("DeployResult", c, "deploy", env), Deployment: ref, Images: TemplateImages(&want.Spec.Template), Replicas: d.Status.DesiredNumberScheduled}
	from := imagesText(TemplateImages(&d.Spec.Template))
	if len(changes) > 0 {
		rec := &workloadState{Kind: kindDaemonSet, Name: d.Name, UID: d.UID, Phase: workloadBusy, Verb: "deploy", FromImages: from, Images: images, Weight: 100}
		if st != nil {
			rec.FromRevision, rec.FromImages = st.FromRevision, st.FromImages
		} else if cur, err := daemonSetUpdateRevision(ctx, env, d); err == nil && cur != nil {
			rec.FromRevision = cur.Name
		}
		op := env.Writer.Operation("deploy", rec.FromImages, images)
		before := recordBefore(c)
		if err := recordWorkloadState(ctx, env, c, rec, op); err != nil {
			return nil, err
		}
		for _, ch := range changes {
			addChange(&res.Result, &Change{Object: ref, Field: imageField(ch), From: ch.From, To: ch.To})
		}
		env.report("%s: %s → %s", ref, from, images)
		cause := changeCause(fmt.Sprintf("deploy %s --image %s", c.Name(), images), op)
		if err := patchDaemonSet(ctx, env, d, imageOps(&want.Spec.Template, changes), map[string]string{ChangeCauseAnnotation: cause}, op, "Deployed"); err != nil {
			return nil, firstWriteFailed(ctx, env, c, before, err, "re-run deploy")
		}
		st = rec
	}
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would roll %s to %s on every node and wait", env.Writer.DryRun, ref, images)
		return res, nil
	}
	env.report("rolling %s to %s on %d nodes (maxUnavailable %s)", ref, images, d.Status.DesiredNumberScheduled, dsMaxUnavailable(d))
	if err := waitDaemonSet(ctx, env, c, d, opts.Timeout, "deploy"); err != nil {
		res.Failure = workloadFailure(err)
		if opts.AutoRollback && res.Changed && res.Failure != nil {
			env.report("rollout failed: rolling %s back (--auto-rollback)", ref)
			rb, rerr := rollbackWorkload(ctx, env, c, RollbackOptions{Timeout: opts.Timeout}, st)
			if rerr != nil {
				return res, fmt.Errorf("%w; auto-rollback failed too: %v", err, rerr)
			}
			res.Changes = append(res.Changes, rb.Changes...)
			res.RolledBack = true
			res.Message = rb.Message
			return res, fmt.Errorf("%w; %s", err, rb.Message)
		}
		return res, fmt.Errorf("%w; %s now wants %s (recorded on service/%s): fix and deploy again, or kubectl feastflow rollback %s", err, ref, images, c.Name(), c.Name())
	}
	if st != nil {
		if err := saveWorkloadState(ctx, env, c, nil); err != nil {
			return res, err
		}
	}
	res.Ready = true
	res.Replicas = d.Status.DesiredNumberScheduled
	res.Message = fmt.Sprintf("%s runs %s on all %d nodes, all ready", ref, images, d.Status.DesiredNumberScheduled)
	if len(changes) == 0 {
		res.Message = fmt.Sprintf("%s already runs %s on all %d nodes: nothing to change", ref, images, d.Status.DesiredNumberScheduled)
	}
	return res, nil
}

func dsMaxUnavailable(d *appsv1.DaemonSet) string {
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		return ru.MaxUnavailable.String()
	}
	return "1"
}

// daemonSetUpdateRevision is the DaemonSet's newest ControllerRevision (one LIST).
func daemonSetUpdateRevision(ctx context.Context, env *Env, d *appsv1.DaemonSet) (*appsv1.ControllerRevision, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	list, err := env.Client.AppsV1().ControllerRevisions(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list controllerrevisions of daemonset %s/%s: %w", d.Namespace, d.Name, err)
	}
	var best *appsv1.ControllerRevision
	for i := range list.Items {
		cr := &list.Items[i]
		if metav1.IsControlledBy(cr, d) && (best == nil || cr.Revision > best.Revision) {
			best = cr
		}
	}
	return best, nil
}

// waitDaemonSet waits until every pod of the DaemonSet runs its newest revision and is
// Ready and the controller schedules no more (desiredNumberScheduled pods), failing fast on
// a new pod that cannot start, with its node.
func waitDaemonSet(ctx context.Context, env *Env, c *Component, d *appsv1.DaemonSet, timeout time.Duration, verb string) error {
	written := d.DeepCopy()
	ref := workloadRef(kindDaemonSet, d.Name)
	var hash string
	var hashGen int64
	w := &workloadWait{
		env: env, ns: d.Namespace, kind: kindDaemonSet, name: d.Name, selector: d.Spec.Selector, gen: d.Generation, timeout: timeout,
		next: fmt.Sprintf("re-run kubectl feastflow %s %s to continue from the new state", verb, c.Name()),
		changed: func(obj runtime.Object) string {
			after, ok := obj.(*appsv1.DaemonSet)
			if !ok {
				return "its spec changed"
			}
			if a, b := imagesText(TemplateImages(&written.Spec.Template)), imagesText(TemplateImages(&after.Spec.Template)); a != b {
				return fmt.Sprintf("images %s → %s", a, b)
			}
			if written.Spec.UpdateStrategy.Type != after.Spec.UpdateStrategy.Type {
				return fmt.Sprintf("updateStrategy %s → %s", written.Spec.UpdateStrategy.Type, after.Spec.UpdateStrategy.Type)
			}
			return fmt.Sprintf("generation %d → %d", written.Generation, after.Generation)
		},
		check: func(obj runtime.Object, pods []*corev1.Pod) (bool, string, []*corev1.Pod) {
			set := obj.(*appsv1.DaemonSet)
			if set.Status.ObservedGeneration < set.Generation {
				return false, ref + ": waiting for the controller to observe the new spec", nil
			}
			if hash == "" || hashGen != set.Generation {
				cr, err := daemonSetUpdateRevision(ctx, env, set)
				if err != nil || cr == nil {
					return false, ref + ": waiting for the new revision", nil
				}
				hash, hashGen = cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey], set.Generation
			}
			var watched []*corev1.Pod
			updated, ready, live := 0, 0, 0
			var waiting []string
			for _, p := range pods {
				if p.DeletionTimestamp != nil {
					continue
				}
				live++
				if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash {
					continue
				}
				updated++
				watched = append(watched, p)
				if podutils.IsPodReady(p) {
					ready++
				} else {
					waiting = append(waiting, p.Spec.NodeName)
				}
			}
			sort.Strings(waiting)
			want := int(set.Status.DesiredNumberScheduled)
			msg := fmt.Sprintf("%s: %d of %d nodes on the new revision, %d ready", ref, updated, want, ready)
			if len(waiting) > 0 {
				msg += " (waiting on " + joinMax(waiting, 3) + ")"
			}
			done := ready == want && live == want && set.Status.UpdatedNumberScheduled == set.Status.DesiredNumberScheduled && set.Status.NumberAvailable == set.Status.DesiredNumberScheduled
			return done, msg, watched
		},
	}
	obj, err := w.run(ctx)
	if set, ok := obj.(*appsv1.DaemonSet); ok && err == nil {
		*d = *set
	}
	return err
}

// PauseWorkload holds a StatefulSet or DaemonSet where it stands, recording on the Service
// what it replaced: a StatefulSet's partition is raised to the number of pods not yet on
// the update revision (no further pod moves; a later template change does not roll); a
// DaemonSet switches to updateStrategy OnDelete. Re-running it changes nothing.
func PauseWorkload(ctx context.Context, env *Env, c *Component) (*Result, error) {
	res := newRolloutResult("PauseResult", "pause", c, env)
	kind, name, uid, st := workloadIdentity(c)
	if st != nil && st.Paused != nil {
		res.Message = fmt.Sprintf("%s is paused already (since %s): nothing to change", workloadRef(kind, name), st.Paused.At.Format(time.RFC3339))
		return res, nil
	}
	rec := &workloadState{Kind: kind, Name: name, UID: uid}
	if st != nil {
		*rec = *st
	}
	rec.Paused = &pausedWorkload{At: env.now().UTC().Truncate(time.Second), By: env.Writer.Operation("pause", "", "").User}
	switch kind {
	case kindStatefulSet:
		r, err := newSTSRelease(env, c)
		if err != nil {
			return nil, err
		}
		s := r.s
		prev := stsPartition(s)
		hold := stsReplicas(s) - s.Status.UpdatedReplicas
		if s.Status.UpdateRevision == s.Status.CurrentRevision {
			hold = stsReplicas(s) // nothing rolling: hold every pod where it is
		}
		if hold < prev {
			hold = prev
		}
		rec.Paused.Partition, rec.Paused.Held = &prev, &hold
		rec.Paused.Images, rec.Paused.Template = imagesText(TemplateImages(&s.Spec.Template)), templateDigest(&s.Spec.Template)
		if err := recordWorkloadState(ctx, env, c, rec, env.Writer.Operation("pause", "partition="+strconv.Itoa(int(prev)), "partition="+strconv.Itoa(int(hold)))); err != nil {
			return nil, err
		}
		if err := r.setPartition(ctx, res, hold, "pause"); err != nil {
			return res, err
		}
		res.Message = fmt.Sprintf("paused %s: partition %d holds every pod where it is (%d on the update revision); resume restores partition %d", r.ref(), hold, s.Status.UpdatedReplicas, prev)
	case kindDaemonSet:
		d := c.DaemonSet()
		prev, err := json.Marshal(d.Spec.UpdateStrategy)
		if err != nil {
			return nil, fmt.Errorf("encode update strategy: %w", err)
		}
		rec.Paused.Strategy = prev
		rec.Paused.Images, rec.Paused.Template = imagesText(TemplateImages(&d.Spec.Template)), templateDigest(&d.Spec.Template)
		if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			return nil, fmt.Errorf("%s already uses updateStrategy OnDelete (set by someone else): nothing to pause", workloadRef(kind, name))
		}
		op := env.Writer.Operation("pause", string(d.Spec.UpdateStrategy.Type), string(appsv1.OnDeleteDaemonSetStrategyType))
		if err := recordWorkloadState(ctx, env, c, rec, op); err != nil {
			return nil, err
		}
		ops := []jsonOp{{"op": "replace", "path": "/spec/updateStrategy", "value": map[string]any{"type": string(appsv1.OnDeleteDaemonSetStrategyType)}}}
		if err := patchDaemonSet(ctx, env, d, ops, nil, op, "Paused"); err != nil {
			return res, err
		}
		addChange(res, &Change{Object: workloadRef(kind, name), Field: "spec.updateStrategy.type", From: string(appsv1.RollingUpdateDaemonSetStrategyType), To: string(appsv1.OnDeleteDaemonSetStrategyType)})
		res.Message = fmt.Sprintf("paused %s: updateStrategy OnDelete (pods change only when deleted); resume restores %s", workloadRef(kind, name), string(prev))
	default:
		return nil, WrongStrategyError(c, WorkloadKinds()...)
	}
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would have %s", env.Writer.DryRun, res.Message)
	}
	return res, nil
}

// ResumeWorkload restores what PauseWorkload recorded.
func ResumeWorkload(ctx context.Context, env *Env, c *Component) (*Result, error) {
	res := newRolloutResult("ResumeResult", "resume", c, env)
	kind, name, _, st := workloadIdentity(c)
	if st == nil || st.Paused == nil {
		res.Message = fmt.Sprintf("%s is not paused by kubectl feastflow: nothing to change", workloadRef(kind, name))
		return res, nil
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	rec := *st
	rec.Paused = nil
	keep := &rec
	if rec.Phase == "" {
		keep = nil // a pause without a release: the record goes
	}
	switch kind {
	case kindStatefulSet:
		r, err := newSTSRelease(env, c)
		if err != nil {
			return nil, err
		}
		to := int32(0)
		if st.Paused.Partition != nil {
			to = *st.Paused.Partition
		}
		if held := st.Paused.Held; held != nil && stsPartition(r.s) != *held {
			return nil, pausedChanged(ctx, env, c, keep, r.ref(), "spec.updateStrategy.rollingUpdate.partition", strconv.Itoa(int(*held)), strconv.Itoa(int(stsPartition(r.s))), lastManagerOf(r.s.ManagedFields, "f:updateStrategy"))
		}
		if err := recordWorkloadState(ctx, env, c, keep, env.Writer.Operation("resume", "partition="+strconv.Itoa(int(stsPartition(r.s))), "partition="+strconv.Itoa(int(to)))); err != nil {
			return nil, err
		}
		if err := r.setPartition(ctx, res, to, "resume"); err != nil {
			return res, err
		}
		res.Message = fmt.Sprintf("resumed %s: partition %d", r.ref(), to)
		res.Message += templateChangedSince(st.Paused, &r.s.Spec.Template, r.s.ManagedFields)
	case kindDaemonSet:
		d := c.DaemonSet()
		var prev appsv1.DaemonSetUpdateStrategy
		if err := json.Unmarshal(st.Paused.Strategy, &prev); err != nil || prev.Type == "" {
			prev = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}
		}
		if d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
			now, _ := json.Marshal(d.Spec.UpdateStrategy)
			return nil, pausedChanged(ctx, env, c, keep, workloadRef(kind, name), "spec.updateStrategy", `{"type":"OnDelete"}`, string(now), lastManagerOf(d.ManagedFields, "f:updateStrategy"))
		}
		op := env.Writer.Operation("resume", string(d.Spec.UpdateStrategy.Type), string(prev.Type))
		if err := recordWorkloadState(ctx, env, c, keep, op); err != nil {
			return nil, err
		}
		if d.Spec.UpdateStrategy.Type != prev.Type {
			ops := []jsonOp{{"op": "replace", "path": "/spec/updateStrategy", "value": prev}}
			if err := patchDaemonSet(ctx, env, d, ops, nil, op, "Resumed"); err != nil {
				return res, err
			}
			addChange(res, &Change{Object: workloadRef(kind, name), Field: "spec.updateStrategy.type", From: string(appsv1.OnDeleteDaemonSetStrategyType), To: string(prev.Type)})
		}
		res.Message = fmt.Sprintf("resumed %s: updateStrategy %s; pods on an old revision are replaced now", workloadRef(kind, name), prev.Type)
		res.Message += templateChangedSince(st.Paused, &d.Spec.Template, d.ManagedFields)
	}
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would have %s", env.Writer.DryRun, res.Message)
	}
	return res, nil
}

func workloadIdentity(c *Component) (kind, name string, uid types.UID, st *workloadState) {
	if s := c.StatefulSet(); s != nil {
		return kindStatefulSet, s.Name, s.UID, stateFor(c, kindStatefulSet, s.Name, s.UID)
	}
	if d := c.DaemonSet(); d != nil {
		return kindDaemonSet, d.Name, d.UID, stateFor(c, kindDaemonSet, d.Name, d.UID)
	}
	return "", c.Name(), "", nil
}

// pausedChanged is resume finding that someone else changed what pause set (the held
// partition, the OnDelete strategy): the workload is no longer held by this plugin, so
// resume restores nothing over that change. It removes the pause from the record (so that
// deploy and the rest work again) and returns the error naming the change and its field
// manager; the workload itself is not written.
func pausedChanged(ctx context.Context, env *Env, c *Component, keep *workloadState, ref, field, from, to, manager string) error {
	msg := fmt.Sprintf("%s: %s changed from %s to %s since pause", ref, field, from, to)
	if manager != "" {
		msg += " (" + manager + ")"
	}
	msg += ": stopped, resume restored nothing over it"
	if err := recordWorkloadState(ctx, env, c, keep, env.Writer.Operation("resume", from, to)); err != nil {
		return fmt.Errorf("%s; removing the pause from the release record failed too: %w", msg, err)
	}
	if !env.Writer.Live() {
		return fmt.Errorf("%s (dry run: the pause record would be removed)", msg)
	}
	return fmt.Errorf("%s; the pause record on service/%s is removed (the workload is no longer held by kubectl feastflow): check the update strategy now in place", msg, c.Name())
}

// templateChangedSince names a pod template change made while paused ("" when none or not
// recorded): those pods roll now.
func templateChangedSince(p *pausedWorkload, tpl *corev1.PodTemplateSpec, managed []metav1.ManagedFieldsEntry) string {
	if p == nil || p.Template == "" || p.Template == templateDigest(tpl) {
		return ""
	}
	msg := fmt.Sprintf("; the pod template changed while paused (images %s → %s", p.Images, imagesText(TemplateImages(tpl)))
	if m := lastManagerOf(managed, "f:template"); m != "" {
		msg += ", " + m
	}
	return msg + "): its pods roll to it now"
}
