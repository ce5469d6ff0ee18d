package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kubectl/pkg/util/podutils"
)

// StepStatefulSet moves a staged StatefulSet release to the next canary step (or to
// opts.Weight): updated pods = round(replicas × weight / 100) as the canary verbs round,
// partition = replicas − updated, so the highest ordinals move. The updated pods must pass
// the health gate first (readiness, restarts since the last step, Warning events); the
// target is recorded on the Service before the partition is written; then the pods of the
// ordinals promised are waited for, Ready on the new revision. A step an earlier run
// recorded but did not finish is completed first.
func StepStatefulSet(ctx context.Context, env *Env, c *Component, opts CanaryStepOptions) (*CanaryStepResult, error) {
	r, err := newSTSRelease(env, c)
	if err != nil {
		return nil, err
	}
	s := r.s
	steps, err := CanarySteps(c, opts.Steps)
	if err != nil {
		return nil, err
	}
	res := &CanaryStepResult{Result: newResult("CanaryStepResult", c, "canary-step", env), Steps: steps}
	if err := r.refusePaused("canary-step"); err != nil {
		return nil, err
	}
	if r.st == nil {
		if s.Status.UpdateRevision != s.Status.CurrentRevision || stsPartition(s) != 0 {
			return nil, fmt.Errorf("%s has a rollout that kubectl feastflow did not record (partition %d, revision %s → %s): finish it with kubectl rollout status sts/%s, or stage a release with kubectl feastflow deploy %s --canary --image IMAGE; nothing changed", r.ref(), stsPartition(s), s.Status.CurrentRevision, s.Status.UpdateRevision, s.Name, c.Name())
		}
		return nil, fmt.Errorf("%s has no release to step: stage one with kubectl feastflow deploy %s --canary --image IMAGE; nothing changed", r.ref(), c.Name())
	}
	if r.st.Phase == workloadBusy && r.st.Verb != "canary-step" {
		return nil, r.busyError("canary-step")
	}
	replicas := stsReplicas(s)
	if r.st.Phase == workloadBusy {
		res.Resumed, res.FromWeight = true, r.st.FromWeight
		env.report("resuming the interrupted canary-step of %s to %d %% recorded on service/%s", c.Name(), r.st.Weight, c.Name())
		plan, err := planCanary(replicas, r.st.Weight)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", c.Name(), err)
		}
		res.Plan = plan
		if err := CheckWindowFor(ctx, env, c); err != nil {
			return nil, err
		}
		if err := r.applyStep(ctx, &res.Result, replicas-plan.Canary, opts.Timeout); err != nil {
			return res, err
		}
		res.Message = fmt.Sprintf("completed the interrupted step of %s to %d %%: %d of %d pods on the new revision (partition %d)", c.Name(), r.st.Weight, plan.Canary, replicas, replicas-plan.Canary)
		return res, nil
	}
	from := r.st.Weight
	res.FromWeight = from
	target := opts.Weight
	if target < 0 {
		for _, st := range steps {
			if st > from {
				target = st
				break
			}
		}
		if target < 0 {
			res.Message = fmt.Sprintf("%s is at %d %%, the last step of %s: nothing to change; finish with kubectl feastflow promote %s", c.Name(), from, stepsText(steps), c.Name())
			return res, nil
		}
	}
	plan, err := planCanary(replicas, target)
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", c.Name(), err)
	}
	res.Plan = plan
	partition := replicas - plan.Canary
	if plan.Note != "" {
		env.report("%s", plan.Note)
	}
	if partition > stsPartition(s) || target < from {
		return nil, fmt.Errorf("%s: %d %% is below the %d %% already set (partition %d): a StatefulSet canary only moves forward, pods already updated are not moved back; to go back use kubectl feastflow abort %s; nothing changed", c.Name(), target, from, stsPartition(s), c.Name())
	}
	if partition == stsPartition(s) && target == from {
		res.Message = joinSentences(fmt.Sprintf("%s is already at %d %% (%d of %d pods on the new revision, partition %d): nothing to change", c.Name(), target, plan.Canary, replicas, partition), plan.Note)
		return res, nil
	}
	if opts.Force {
		res.Gate = &HealthGate{Forced: true}
		env.report("health gate skipped (--force); recorded on service/%s", c.Name())
	} else {
		gate, err := r.health(ctx)
		if err != nil {
			return nil, err
		}
		res.Gate = gate
		if !gate.Passed {
			return res, fmt.Errorf("the updated pods of %s are not healthy, nothing changed: %s; fix or abort (kubectl feastflow abort %s -n %s), or pass --force to step anyway", r.ref(), strings.Join(gate.Problems, "; "), c.Name(), c.Namespace())
		}
	}
	if err := CheckWindowFor(ctx, env, c); err != nil {
		return nil, err
	}
	st := r.newState("canary-step")
	st.FromWeight, st.Weight, st.Partition, st.Forced = from, target, partition, opts.Force
	if err := r.record(ctx, st, fmt.Sprintf("%d%%", from), fmt.Sprintf("%d%%", target)); err != nil {
		return nil, err
	}
	if err := r.applyStep(ctx, &res.Result, partition, opts.Timeout); err != nil {
		return res, err
	}
	res.Message = fmt.Sprintf("%s moved from %d %% to %d %%: %d of %d pods on the new revision (partition %d; %s)", c.Name(), from, target, plan.Canary, replicas, partition, stsPolicyText(s))
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): %s would move from %d %% to %d %%: partition %d → %d", env.Writer.DryRun, c.Name(), from, target, stsPartition(s), partition)
	}
	if plan.Note != "" {
		res.Message += " (" + plan.Note + ")"
	}
	return res, nil
}

// applyStep writes the partition, waits for the ordinals it moves, and records the step
// done with the health baseline of the updated pods.
func (r *stsRelease) applyStep(ctx context.Context, res *Result, partition int32, timeout time.Duration) error {
	if err := r.setPartition(ctx, res, partition, "canary-step"); err != nil {
		return err
	}
	if !r.env.Writer.Live() {
		return nil
	}
	if err := r.waitUpdated(ctx, partition, timeout, "canary-step"); err != nil {
		return fmt.Errorf("%w (%s)", err, appliedSoFar(res))
	}
	done := *r.st
	done.Phase, done.Partition = workloadStaged, partition
	if err := r.baseline(ctx, &done); err != nil {
		return err
	}
	return saveWorkloadState(ctx, r.env, r.c, &done)
}

// updatedPods are the StatefulSet's pods on its update revision from ordinal partition up.
func (r *stsRelease) updatedPods(ctx context.Context) ([]corev1.Pod, error) {
	pods, err := listSelectorPods(ctx, r.env, r.s.Namespace, r.ref(), r.s.Spec.Selector)
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	owned := ownedPods(pods, string(r.s.UID), true)
	for i := range owned {
		if owned[i].Labels[appsv1.ControllerRevisionHashLabelKey] == r.s.Status.UpdateRevision && podOrdinal(r.s.Name, owned[i].Name) >= int(stsPartition(r.s)) {
			out = append(out, owned[i])
		}
	}
	return out, nil
}

// baseline stores the updated pods' restart counts and now as the health baseline: the
// pods the wait just saw Ready when there was one (no second LIST), else one LIST.
func (r *stsRelease) baseline(ctx context.Context, st *workloadState) error {
	pods := r.updated
	if pods == nil {
		var err error
		if pods, err = r.updatedPods(ctx); err != nil {
			return err
		}
	}
	st.Since = r.env.now().UTC().Truncate(time.Second)
	st.Restarts = map[string]int32{}
	for i := range pods {
		st.Restarts[pods[i].Name] = podRestarts(&pods[i])
	}
	return nil
}

// health is the canary gate on the StatefulSet's updated pods: each Ready, no restart since
// the baseline of the last step, no Warning event (BackOff, Unhealthy, OOMKilling, Failed)
// on them since then (one LIST of pods, one of Warning events).
func (r *stsRelease) health(ctx context.Context) (*HealthGate, error) {
	gate := &HealthGate{Passed: true}
	pods, err := r.updatedPods(ctx)
	if err != nil || len(pods) == 0 {
		return gate, err
	}
	var since time.Time
	var before map[string]int32
	if r.st != nil {
		since, before = r.st.Since, r.st.Restarts
	}
	return podsHealth(ctx, r.env, r.s.Namespace, pods, "updated pods", 0, since, before)
}

// PromoteStatefulSet finishes a StatefulSet release: partition 0, every pod waited for on
// the new revision, then the record is removed.
func PromoteStatefulSet(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	r, err := newSTSRelease(env, c)
	if err != nil {
		return nil, err
	}
	s := r.s
	res := newRolloutResult("PromoteResult", "promote", c, env)
	if err := r.refusePaused("promote"); err != nil {
		return nil, err
	}
	if r.st == nil {
		if s.Status.UpdateRevision == s.Status.CurrentRevision && stsPartition(s) == 0 {
			res.Message = fmt.Sprintf("%s has no release in progress (every pod on revision %s): nothing to promote", c.Name(), s.Status.CurrentRevision)
			return res, nil
		}
		return nil, fmt.Errorf("%s has a rollout that kubectl feastflow did not record (partition %d, revision %s → %s): finish it with kubectl patch sts %s -p '{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":0}}}}'; nothing changed", r.ref(), stsPartition(s), s.Status.CurrentRevision, s.Status.UpdateRevision, s.Name)
	}
	if r.st.Phase == workloadBusy && r.st.Verb != "promote" {
		return nil, r.busyError("promote")
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	if r.st.Phase != workloadBusy {
		st := r.newState("promote")
		st.FromWeight, st.Weight, st.Partition = r.st.Weight, 100, 0
		if err := r.record(ctx, st, fmt.Sprintf("%d%%", r.st.Weight), "100%"); err != nil {
			return nil, err
		}
	}
	if err := r.setPartition(ctx, res, 0, "promote"); err != nil {
		return res, err
	}
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would roll every pod of %s to %s (partition 0)", env.Writer.DryRun, r.ref(), r.st.Images)
		return res, nil
	}
	env.report("promoting %s: the remaining pods move to %s, highest ordinal first (%s)", r.ref(), r.st.Images, stsPolicyText(s))
	if err := r.waitUpdated(ctx, 0, opts.Timeout, "promote"); err != nil {
		return res, fmt.Errorf("%w (%s)", err, appliedSoFar(res))
	}
	images := r.st.Images
	if err := saveWorkloadState(ctx, env, c, nil); err != nil {
		return res, err
	}
	res.Message = fmt.Sprintf("promoted %s: all %d pods of %s run %s on revision %s, all ready", c.Name(), stsReplicas(s), r.ref(), images, s.Status.UpdateRevision)
	return res, nil
}

// AbortStatefulSet returns a StatefulSet release to the revision recorded before it.
func AbortStatefulSet(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	r, err := newSTSRelease(env, c)
	if err != nil {
		return nil, err
	}
	res := newRolloutResult("AbortResult", "abort", c, env)
	if r.st == nil {
		if r.s.Status.UpdateRevision == r.s.Status.CurrentRevision && stsPartition(r.s) == 0 {
			res.Message = fmt.Sprintf("%s has no release in progress: nothing to abort", c.Name())
			return res, nil
		}
		return nil, fmt.Errorf("%s has a rollout that kubectl feastflow did not record (revision %s → %s): use kubectl feastflow rollback %s to return to a revision; nothing changed", r.ref(), r.s.Status.CurrentRevision, r.s.Status.UpdateRevision, c.Name())
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(fmt.Sprintf("abort the release of %s: restore revision %s (%s) and re-create the updated pods one by one?", c.Name(), r.st.FromRevision, r.st.FromImages)); err != nil {
			return nil, err
		}
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	out, err := r.abort(ctx, opts.Timeout)
	if out != nil {
		res.Changes, res.Changed, res.Message = out.Changes, out.Changed, out.Message
	}
	return res, err
}

// abort restores the recorded revision's template with partition = replicas (so that the
// controller moves nothing by itself), then deletes the pods not on that revision one at a
// time, lowest ordinal first — with OrderedReady the controller re-creates a missing pod
// only when the ones before it are Ready, so a crash-looping updated pod must go first —
// waiting for each to come back Ready on the old revision; last, partition 0.
func (r *stsRelease) abort(ctx context.Context, timeout time.Duration) (*Result, error) {
	env, s, c := r.env, r.s, r.c
	res := newRolloutResult("AbortResult", "abort", c, env)
	cr, err := env.Client.AppsV1().ControllerRevisions(s.Namespace).Get(ctx, r.st.FromRevision, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s: the revision the release started from, controllerrevision %s, no longer exists (revisionHistoryLimit?): roll back with kubectl feastflow rollback %s --to-revision N (see kubectl feastflow history %s); nothing changed", r.ref(), r.st.FromRevision, c.Name(), c.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("get controllerrevision %s/%s: %w", s.Namespace, r.st.FromRevision, err)
	}
	old, err := revisionTemplate(s, cr)
	if err != nil {
		return nil, err
	}
	if r.st.Phase != workloadBusy || r.st.Verb != "abort" {
		st := r.newState("abort")
		st.FromWeight, st.Weight = r.st.Weight, 0
		if err := r.record(ctx, st, fmt.Sprintf("%d%%", r.st.Weight), "0% ("+r.st.FromImages+")"); err != nil {
			return nil, err
		}
	}
	replicas := stsReplicas(s)
	var ops []jsonOp
	if !EqualIgnoreHash(old, &s.Spec.Template) {
		ops = append(ops, jsonOp{"op": "replace", "path": "/spec/template", "value": old})
		addChange(res, &Change{Object: r.ref(), Field: "spec.template", From: imagesText(TemplateImages(&s.Spec.Template)), To: fmt.Sprintf("revision %s (%s)", cr.Name, imagesText(TemplateImages(old)))})
	}
	if stsPartition(s) != replicas {
		ops = append(ops, partitionOps(s, replicas)...)
		addChange(res, &Change{Object: r.ref(), Field: "spec.updateStrategy.rollingUpdate.partition", From: strconv.Itoa(int(stsPartition(s))), To: strconv.Itoa(int(replicas))})
	}
	if len(ops) > 0 {
		op := env.Writer.Operation("abort", r.st.Images, r.st.FromImages)
		env.report("%s: restoring revision %s (%s) with partition %d", r.ref(), cr.Name, r.st.FromImages, replicas)
		if err := patchStatefulSet(ctx, env, s, ops, map[string]string{ChangeCauseAnnotation: changeCause("abort "+c.Name(), op)}, op, "Aborted"); err != nil {
			return res, err
		}
	}
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would restore revision %s (%s) on %s and re-create its updated pods one by one", env.Writer.DryRun, cr.Name, r.st.FromImages, r.ref())
		return res, nil
	}
	// The revision the controller now calls the update revision is the restored one.
	if err := r.waitUpdated(ctx, replicas, timeout, "abort"); err != nil {
		return res, err
	}
	for {
		pod, err := r.nextStalePod(ctx)
		if err != nil {
			return res, err
		}
		if pod == nil {
			break
		}
		if err := r.recreate(ctx, res, pod, timeout); err != nil {
			return res, err
		}
	}
	if err := r.setPartition(ctx, res, 0, "abort"); err != nil {
		return res, err
	}
	if err := saveWorkloadState(ctx, env, c, nil); err != nil {
		return res, err
	}
	res.Message = fmt.Sprintf("aborted the release of %s: all %d pods of %s back on revision %s (%s)", c.Name(), replicas, r.ref(), s.Status.UpdateRevision, r.st.FromImages)
	return res, nil
}

// nextStalePod is the lowest-ordinal pod not on the update revision (nil: none).
func (r *stsRelease) nextStalePod(ctx context.Context) (*corev1.Pod, error) {
	pods, err := listSelectorPods(ctx, r.env, r.s.Namespace, r.ref(), r.s.Spec.Selector)
	if err != nil {
		return nil, err
	}
	var stale *corev1.Pod
	owned := ownedPods(pods, string(r.s.UID), true)
	for i := range owned {
		p := &owned[i]
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == r.s.Status.UpdateRevision {
			continue
		}
		if stale == nil || podOrdinal(r.s.Name, p.Name) < podOrdinal(r.s.Name, stale.Name) {
			stale = p
		}
	}
	return stale, nil
}

// recreate deletes one pod (preconditioned on its UID: a pod the controller replaced
// meanwhile is not deleted again) and waits until its successor is Ready on the update
// revision.
func (r *stsRelease) recreate(ctx context.Context, res *Result, pod *corev1.Pod, timeout time.Duration) error {
	env := r.env
	env.report("%s: deleting pod %s (revision %s) so that it comes back on revision %s", r.ref(), pod.Name, pod.Labels[appsv1.ControllerRevisionHashLabelKey], r.s.Status.UpdateRevision)
	del := env.Writer.DeleteOptions()
	uid := pod.UID
	del.Preconditions = &metav1.Preconditions{UID: &uid}
	if err := env.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, del); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return writeError("delete", "pod", pod.Namespace, pod.Name, err)
	}
	addChange(res, &Change{Object: "pod/" + pod.Name, Field: "metadata", From: "revision " + pod.Labels[appsv1.ControllerRevisionHashLabelKey], To: "deleted, re-created on revision " + r.s.Status.UpdateRevision})
	ordinal := podOrdinal(r.s.Name, pod.Name)
	written := r.s.DeepCopy()
	w := &workloadWait{
		env: env, ns: r.s.Namespace, kind: kindStatefulSet, name: r.s.Name, selector: r.s.Spec.Selector, gen: r.s.Generation, timeout: timeout,
		next:    fmt.Sprintf("the abort stays recorded on service/%s: re-run kubectl feastflow abort %s to finish it", r.c.Name(), r.c.Name()),
		changed: func(obj runtime.Object) string { return stsChange(written, obj) },
		check: func(obj runtime.Object, pods []*corev1.Pod) (bool, string, []*corev1.Pod) {
			set := obj.(*appsv1.StatefulSet)
			for _, p := range pods {
				if podOrdinal(set.Name, p.Name) != ordinal || p.UID == uid || p.DeletionTimestamp != nil {
					continue
				}
				if p.Labels[appsv1.ControllerRevisionHashLabelKey] != set.Status.UpdateRevision {
					return false, fmt.Sprintf("pod %s came back on revision %s, not %s", p.Name, p.Labels[appsv1.ControllerRevisionHashLabelKey], set.Status.UpdateRevision), nil
				}
				return podutils.IsPodReady(p), fmt.Sprintf("%s: pod %s re-created on revision %s, ready: %t", r.ref(), p.Name, set.Status.UpdateRevision, podutils.IsPodReady(p)), []*corev1.Pod{p}
			}
			return false, fmt.Sprintf("%s: waiting for pod %s to be re-created", r.ref(), pod.Name), nil
		},
	}
	_, err := w.run(ctx)
	return err
}

// revisionTemplate is the pod template a ControllerRevision of s records (its data is a
// strategic merge patch of the template, as kubectl's rollback applies it).
func revisionTemplate(s *appsv1.StatefulSet, cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	cur, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode statefulset: %w", err)
	}
	patched, err := strategicpatch.StrategicMergePatch(cur, cr.Data.Raw, &appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("apply controllerrevision %s: %w", cr.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("decode controllerrevision %s: %w", cr.Name, err)
	}
	return &out.Spec.Template, nil
}
