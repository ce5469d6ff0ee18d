package strategy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubectl/pkg/util/podutils"
)

// WorkloadDeployOptions are the StatefulSet/DaemonSet extras of deploy.
type WorkloadDeployOptions struct {
	DeployOptions
	// Canary stages a StatefulSet's new template with partition = replicas (nothing moves);
	// canary-step then moves the highest ordinals.
	Canary bool
}

// stsRelease is what the StatefulSet verbs share: the component, its StatefulSet and the
// recorded release.
type stsRelease struct {
	env *Env
	c   *Component
	s   *appsv1.StatefulSet
	st  *workloadState
	// updated are the pods on the update revision from the partition up as the last wait
	// saw them Ready (nil before a wait): the baseline that follows a wait reads them.
	updated []corev1.Pod
}

func newSTSRelease(env *Env, c *Component) (*stsRelease, error) {
	s := c.StatefulSet()
	if s == nil {
		return nil, WrongStrategyError(c, StatefulSetStrategy)
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil, fmt.Errorf("statefulset %s/%s uses updateStrategy OnDelete: its pods change only when deleted, so no rollout can be driven or waited for; set updateStrategy.type RollingUpdate (kubectl patch sts %s -p '{\"spec\":{\"updateStrategy\":{\"type\":\"RollingUpdate\"}}}')", s.Namespace, s.Name, s.Name)
	}
	return &stsRelease{env: env, c: c, s: s, st: stateFor(c, kindStatefulSet, s.Name, s.UID)}, nil
}

func (r *stsRelease) ref() string { return workloadRef(kindStatefulSet, r.s.Name) }

// refusePaused refuses a verb while pause holds the partition.
func (r *stsRelease) refusePaused(verb string) error {
	if r.st != nil && r.st.Paused != nil {
		return fmt.Errorf("%s is paused (partition held at %d by %s, recorded on service/%s): resume it first with kubectl feastflow resume %s; %s changed nothing", r.ref(), stsPartition(r.s), orDefault(r.st.Paused.By, "feastflow pause"), r.c.Name(), r.c.Name(), verb)
	}
	return nil
}

// busyError refuses a verb while another operation is recorded as under way.
func (r *stsRelease) busyError(verb string) error {
	return fmt.Errorf("component %s: a %s to %d %% of %s is recorded as under way (annotation %s on service/%s): complete it by re-running kubectl feastflow %s %s, or kubectl feastflow abort %s; %s changed nothing", r.c.Name(), r.st.Verb, r.st.Weight, r.ref(), ReleaseAnnotation, r.c.Name(), r.st.Verb, r.c.Name(), r.c.Name(), verb)
}

// newState starts a record for this release.
func (r *stsRelease) newState(verb string) *workloadState {
	st := &workloadState{Kind: kindStatefulSet, Name: r.s.Name, UID: r.s.UID, Phase: workloadBusy, Verb: verb, Replicas: stsReplicas(r.s)}
	if r.st != nil {
		st.FromRevision, st.FromImages, st.Images, st.FromWeight, st.Weight, st.Partition = r.st.FromRevision, r.st.FromImages, r.st.Images, r.st.Weight, r.st.Weight, r.st.Partition
		st.Since, st.Restarts = r.st.Since, r.st.Restarts
	}
	return st
}

// record writes st before acting (resourceVersion precondition on the Service).
func (r *stsRelease) record(ctx context.Context, st *workloadState, from, to string) error {
	op := r.env.Writer.Operation(st.Verb, from, to)
	if st.Forced {
		op.Reason = joinSentences(op.Reason, "health gate skipped with --force")
	}
	if err := recordWorkloadState(ctx, r.env, r.c, st, op); err != nil {
		return err
	}
	r.st = st
	return nil
}

// DeployStatefulSet sets new images on a StatefulSet component: the template is written
// with partition = replicas, so that nothing moves, after the release is recorded on the
// Service. Without Canary the partition then goes to 0 and every pod is replaced (highest
// ordinal first, as the controller does it), waited for with fail-fast; with Canary the
// release stays staged for canary-step.
func DeployStatefulSet(ctx context.Context, env *Env, c *Component, opts WorkloadDeployOptions) (*DeployResult, error) {
	r, err := newSTSRelease(env, c)
	if err != nil {
		return nil, err
	}
	s := r.s
	if err := r.refusePaused("deploy"); err != nil {
		return nil, err
	}
	if r.st != nil && r.st.Phase == workloadBusy && r.st.Verb != "deploy" {
		return nil, r.busyError("deploy")
	}
	if r.st != nil && r.st.Phase == workloadStaged && r.st.Weight > 0 && r.st.Weight < 100 {
		return nil, fmt.Errorf("component %s: a canary of %s stands at %d %% on %s (recorded on service/%s): promote it (kubectl feastflow promote %s) or abort it (kubectl feastflow abort %s) before deploying again; nothing changed", c.Name(), r.st.Images, r.st.Weight, r.ref(), c.Name(), c.Name(), c.Name())
	}
	want := s.DeepCopy()
	changes, err := SetImages(s.Name, &want.Spec.Template, opts.Images)
	if err != nil {
		return nil, err
	}
	if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
		return nil, err
	}
	replicas := stsReplicas(s)
	images := imagesText(TemplateImages(&want.Spec.Template))
	res := &DeployResult{Result: newResult("DeployResult", c, "deploy", env), Deployment: r.ref(), Images: TemplateImages(&want.Spec.Template), Replicas: replicas}
	target := int32(0)
	if opts.Canary {
		target = replicas
	}
	if len(changes) == 0 && r.st == nil && stsPartition(s) == target && s.Status.UpdateRevision == s.Status.CurrentRevision {
		env.report("%s already runs %s", r.ref(), images)
		if opts.Canary || !env.Writer.Live() {
			res.Message = fmt.Sprintf("%s already runs %s: nothing to change", r.ref(), images)
			return res, nil
		}
		return r.finishDeploy(ctx, res, opts, false)
	}
	st := r.newState("deploy")
	if r.st == nil {
		st.FromRevision, st.FromImages = s.Status.CurrentRevision, imagesText(TemplateImages(&s.Spec.Template))
	}
	st.Images, st.FromWeight, st.Weight, st.Partition = images, 0, 100, 0
	if opts.Canary {
		st.Weight, st.Partition = 0, replicas
	}
	before := recordBefore(c)
	if err := r.record(ctx, st, st.FromImages, images); err != nil {
		return nil, err
	}
	// One write stages the template with partition = replicas: the update revision exists
	// and is recorded before a single pod moves.
	if len(changes) > 0 || (opts.Canary && stsPartition(s) != replicas) {
		ops := imageOps(&want.Spec.Template, changes)
		if stsPartition(s) != replicas {
			ops = append(ops, partitionOps(s, replicas)...)
		}
		op := env.Writer.Operation("deploy", st.FromImages, images)
		cause := changeCause(fmt.Sprintf("deploy %s --image %s", c.Name(), images), op)
		for _, ch := range changes {
			addChange(&res.Result, &Change{Object: r.ref(), Field: imageField(ch), From: ch.From, To: ch.To})
		}
		if stsPartition(s) != replicas {
			addChange(&res.Result, &Change{Object: r.ref(), Field: "spec.updateStrategy.rollingUpdate.partition", From: strconv.Itoa(int(stsPartition(s))), To: strconv.Itoa(int(replicas))})
		}
		env.report("%s: %s → %s staged with partition %d (nothing moves yet)", r.ref(), st.FromImages, images, replicas)
		if err := patchStatefulSet(ctx, env, s, ops, map[string]string{ChangeCauseAnnotation: cause}, op, "Deployed"); err != nil {
			return nil, firstWriteFailed(ctx, env, c, before, err, "re-run deploy or abort")
		}
	}
	if opts.Canary {
		st.Phase = workloadStaged
		if err := saveWorkloadState(ctx, env, c, st); err != nil {
			return res, err
		}
		res.Message = fmt.Sprintf("%s staged %s with partition %d of %d replicas: no pod moved; step with kubectl feastflow canary-step %s (%s)", r.ref(), images, replicas, replicas, c.Name(), stsPolicyText(s))
		if !env.Writer.Live() {
			res.Message = fmt.Sprintf("dry run (%s): %s would stage %s with partition %d (no pod moves)", env.Writer.DryRun, r.ref(), images, replicas)
		}
		return res, nil
	}
	return r.finishDeploy(ctx, res, opts, true)
}

// finishDeploy lowers the partition to 0 and waits for every pod on the update revision.
func (r *stsRelease) finishDeploy(ctx context.Context, res *DeployResult, opts WorkloadDeployOptions, recorded bool) (*DeployResult, error) {
	s, env := r.s, r.env
	if err := r.setPartition(ctx, &res.Result, 0, "deploy"); err != nil {
		return res, err
	}
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would roll %s to %s, all %d pods (%s)", env.Writer.DryRun, r.ref(), imagesText(res.Images), stsReplicas(s), stsPolicyText(s))
		return res, nil
	}
	env.report("rolling %s to %s: %d pods, highest ordinal first (%s)", r.ref(), imagesText(res.Images), stsReplicas(s), stsPolicyText(s))
	if err := r.waitUpdated(ctx, 0, opts.Timeout, "deploy"); err != nil {
		res.Failure = workloadFailure(err)
		if opts.AutoRollback && res.Changed && r.st != nil && res.Failure != nil {
			env.report("rollout failed: returning %s to revision %s (--auto-rollback)", r.ref(), r.st.FromRevision)
			ab, aerr := r.abort(ctx, opts.Timeout)
			if aerr != nil {
				return res, fmt.Errorf("%w; auto-rollback failed too: %v", err, aerr)
			}
			res.Changes = append(res.Changes, ab.Changes...)
			res.RolledBack = true
			res.Message = ab.Message
			return res, fmt.Errorf("%w; %s", err, ab.Message)
		}
		return res, fmt.Errorf("%w; %s now wants %s (recorded on service/%s): fix and deploy again, or kubectl feastflow abort %s to return every pod to %s", err, r.ref(), imagesText(res.Images), r.c.Name(), r.c.Name(), r.fromText())
	}
	if recorded || r.st != nil {
		if err := saveWorkloadState(ctx, env, r.c, nil); err != nil {
			return res, err
		}
	}
	res.Ready = true
	res.Message = fmt.Sprintf("%s runs %s on all %d pods, all ready (%s)", r.ref(), imagesText(res.Images), stsReplicas(s), stsPolicyText(s))
	return res, nil
}

func (r *stsRelease) fromText() string {
	if r.st == nil {
		return "the previous revision"
	}
	return fmt.Sprintf("revision %s (%s)", r.st.FromRevision, r.st.FromImages)
}

// setPartition writes the partition (nothing when it is already so).
func (r *stsRelease) setPartition(ctx context.Context, res *Result, partition int32, verb string) error {
	s := r.s
	from := stsPartition(s)
	if from == partition {
		return nil
	}
	op := r.env.Writer.Operation(verb, "partition="+strconv.Itoa(int(from)), "partition="+strconv.Itoa(int(partition)))
	r.env.report("%s: partition %d → %d", r.ref(), from, partition)
	if err := patchStatefulSet(ctx, r.env, s, partitionOps(s, partition), nil, op, "Partitioned"); err != nil {
		return fmt.Errorf("%w (%s; the release is recorded on service/%s: re-run to continue)", err, appliedSoFar(res), r.c.Name())
	}
	addChange(res, &Change{Object: r.ref(), Field: "spec.updateStrategy.rollingUpdate.partition", From: strconv.Itoa(int(from)), To: strconv.Itoa(int(partition))})
	return nil
}

// waitUpdated waits until every pod from ordinal partition up exists on the StatefulSet's
// update revision and is Ready — the pods this run promised, decided from the pods
// themselves — failing fast on one of them.
func (r *stsRelease) waitUpdated(ctx context.Context, partition int32, timeout time.Duration, verb string) error {
	s := r.s
	written := s.DeepCopy()
	w := &workloadWait{
		env: r.env, ns: s.Namespace, kind: kindStatefulSet, name: s.Name, selector: s.Spec.Selector, gen: s.Generation, timeout: timeout,
		next:    fmt.Sprintf("the release stays recorded on service/%s: re-run kubectl feastflow %s %s to continue from the new state, or abort", r.c.Name(), verb, r.c.Name()),
		changed: func(obj runtime.Object) string { return stsChange(written, obj) },
		check: func(obj runtime.Object, pods []*corev1.Pod) (bool, string, []*corev1.Pod) {
			set := obj.(*appsv1.StatefulSet)
			if set.Status.ObservedGeneration < set.Generation || set.Status.UpdateRevision == "" {
				return false, r.ref() + ": waiting for the controller to observe the new spec", nil
			}
			replicas := stsReplicas(set)
			byOrdinal := map[int]*corev1.Pod{}
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					byOrdinal[podOrdinal(set.Name, p.Name)] = p
				}
			}
			var watched []*corev1.Pod
			updated, ready := 0, 0
			for i := int(partition); i < int(replicas); i++ {
				p := byOrdinal[i]
				if p == nil || p.Labels[appsv1.ControllerRevisionHashLabelKey] != set.Status.UpdateRevision {
					continue
				}
				updated++
				watched = append(watched, p)
				if podutils.IsPodReady(p) {
					ready++
				}
			}
			want := int(replicas - partition)
			if want < 0 {
				want = 0
			}
			msg := fmt.Sprintf("%s: %d of %d pods (ordinals %d-%d) on revision %s, %d ready", r.ref(), updated, want, partition, replicas-1, set.Status.UpdateRevision, ready)
			if want == 0 {
				msg = fmt.Sprintf("%s: no pod to move (partition %d, %d replicas)", r.ref(), partition, replicas)
			}
			return ready == want, msg, watched
		},
	}
	obj, err := w.run(ctx)
	if set, ok := obj.(*appsv1.StatefulSet); ok && err == nil {
		*r.s = *set
		r.updated = make([]corev1.Pod, 0, len(w.watched))
		for _, p := range w.watched {
			r.updated = append(r.updated, *p)
		}
	}
	return err
}

// stsChange describes what a second writer changed on a StatefulSet.
func stsChange(before *appsv1.StatefulSet, obj runtime.Object) string {
	after, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return "its spec changed"
	}
	var parts []string
	if stsReplicas(before) != stsReplicas(after) {
		parts = append(parts, fmt.Sprintf("replicas %d → %d", stsReplicas(before), stsReplicas(after)))
	}
	if stsPartition(before) != stsPartition(after) {
		parts = append(parts, fmt.Sprintf("partition %d → %d", stsPartition(before), stsPartition(after)))
	}
	if a, b := imagesText(TemplateImages(&before.Spec.Template)), imagesText(TemplateImages(&after.Spec.Template)); a != b {
		parts = append(parts, fmt.Sprintf("images %s → %s", a, b))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("generation %d → %d", before.Generation, after.Generation))
	}
	return joinComma(parts)
}

// workloadFailure turns a wait error into the deploy result's diagnosis.
func workloadFailure(err error) *DeployFailure {
	var fe *WorkloadFailedError
	if !errors.As(err, &fe) {
		return nil
	}
	msg := fe.Failure.String()
	if fe.Node != "" && fe.Kind == kindDaemonSet {
		msg = "node " + fe.Node + ": " + msg
	}
	if fe.Claims != "" {
		msg += "; " + fe.Claims
	}
	return &DeployFailure{Pod: fe.Pod, Message: msg, Failure: fe.Failure}
}
