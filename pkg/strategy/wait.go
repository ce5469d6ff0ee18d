package strategy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// WaitOptions tune WaitForDeployment.
type WaitOptions struct {
	// Timeout bounds the wait; 0 waits until ctx ends.
	Timeout time.Duration
	// MinGeneration is the generation the rollout must reach: pass the generation returned
	// by the write that started it. Versions of the Deployment older than it (a watch cache
	// may serve one first) are ignored, so a stale "complete" status is never taken for
	// the new rollout's. 0: the generation seen first.
	MinGeneration int64
	// Ready, when above 0, is the target: the wait ends once that many pods of the new
	// ReplicaSet's pod template (its pod-template-hash) are Ready, whether or not the
	// controller calls the rollout complete (old pods may still be terminating).
	Ready int32
	// Expect is the Deployment as the operation wrote it: when someone else changes its
	// replicas or pod template during the wait, the wait ends with a *ForeignChangeError.
	Expect *appsv1.Deployment
	// TemplateOnly, with Expect, ends the wait only on a change of the pod template: a
	// rollout's promise is its template, and a scale during it (an HPA's, or by hand) is
	// followed, reported as progress, instead of failing the rollout.
	TemplateOnly bool
	// PodTemplateHash is the pod-template-hash of the ReplicaSet generation MinGeneration
	// rolls to, when the caller knows it (a rollback to an existing revision): the wait
	// then watches its pods without listing ReplicaSets to find it.
	PodTemplateHash string
}

// errTargetReached ends a wait whose Ready target the pod watch has seen.
var errTargetReached = errors.New("target reached")

// WaitForReady waits for what an operation promised: n Ready pods of d's current pod
// template (the pod-template-hash of its new ReplicaSet), failing fast on pod failures and
// stopping with a *ForeignChangeError when someone changes d's replicas or template
// meanwhile. d is the Deployment as the operation last wrote it. It returns the
// pod-template-hash waited for.
func WaitForReady(ctx context.Context, env *Env, d *appsv1.Deployment, n int32, timeout time.Duration) (string, error) {
	_, w, err := waitDeployment(ctx, env, d.Namespace, d.Name, WaitOptions{Timeout: timeout, MinGeneration: d.Generation, Ready: n, Expect: d})
	return w.hash, err
}

// RolloutFailedError is a rollout that cannot complete: a pod of the new ReplicaSet failed
// in a way that waiting will not fix (Failure is set), or the Deployment exceeded its
// progress deadline. Callers use errors.As to undo (--auto-rollback).
type RolloutFailedError struct {
	Namespace  string
	Deployment string
	// Pod is the failing pod, when a pod failed.
	Pod     string
	Failure *troubleshoot.PodFailure
	// Reason is set when the Deployment itself reported the failure (ProgressDeadlineExceeded).
	Reason string
}

func (e *RolloutFailedError) Error() string {
	if e.Failure != nil {
		return fmt.Sprintf("deployment %s/%s failed: pod %s: %s (details: kubectl feastflow diagnose pod/%s -n %s)",
			e.Namespace, e.Deployment, e.Pod, term.Escape(e.Failure.String()), e.Pod, e.Namespace)
	}
	return fmt.Sprintf("deployment %s/%s failed: %s (details: kubectl feastflow diagnose deploy/%s -n %s)", e.Namespace, e.Deployment, e.Reason, e.Deployment, e.Namespace)
}

// failFast are the pod failures that end a wait at once: none of them heals by waiting
// for the progress deadline (600 s by default), which is what `kubectl rollout status` does.
var failFast = map[troubleshoot.Category]bool{
	troubleshoot.CategoryImagePull:     true,
	troubleshoot.CategoryCrashLoop:     true,
	troubleshoot.CategoryOOMKilled:     true,
	troubleshoot.CategoryInitFailed:    true,
	troubleshoot.CategoryConfigError:   true,
	troubleshoot.CategoryRunError:      true,
	troubleshoot.CategoryUnschedulable: true,
}

// IsFailFast reports whether a pod failure ends a rollout wait at once.
func IsFailFast(f *troubleshoot.PodFailure) bool { return f != nil && failFast[f.Category] }

// WaitForDeployment waits until the Deployment's rollout is complete, as `kubectl rollout
// status` decides it (observedGeneration current, updated == desired, no old replicas
// left, available == updated), and also ready == desired. It watches the Deployment and
// the pods of its new ReplicaSet (selected by pod-template-hash) and fails within moments
// of one of those pods entering ImagePullBackOff, CrashLoopBackOff, a failed init
// container, CreateContainerConfigError or Unschedulable, with a *RolloutFailedError that
// carries troubleshoot.ClassifyPod's diagnosis. Progress goes to env.Progress, one line per
// change. It writes nothing.
func WaitForDeployment(ctx context.Context, env *Env, ns, name string, opts WaitOptions) (*appsv1.Deployment, error) {
	d, _, err := waitDeployment(ctx, env, ns, name, opts)
	return d, err
}

func waitDeployment(ctx context.Context, env *Env, ns, name string, opts WaitOptions) (*appsv1.Deployment, *rolloutWait, error) {
	ctx, cancelTimeout := watchtools.ContextWithOptionalTimeout(ctx, opts.Timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	w := &rolloutWait{env: env, ns: ns, name: name, minGen: opts.MinGeneration, knownHash: opts.PodTemplateHash, cancel: cancel, target: opts.Ready, ready: map[string]bool{}}
	// The pod watches end with ctx: cancel it before waiting for them (defers run last-in
	// first-out, so a bare defer of Wait would wait forever).
	defer func() { cancel(nil); w.pods.Wait() }()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			return env.Client.AppsV1().Deployments(ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			return env.Client.AppsV1().Deployments(ns).Watch(ctx, o)
		},
	}
	var last *appsv1.Deployment
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, env.Client), &appsv1.Deployment{}, nil, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, fmt.Errorf("deployment %s/%s was deleted while waiting for it", ns, name)
		case watch.Added, watch.Modified:
		default:
			return false, nil
		}
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok || d.Name != name {
			return false, nil
		}
		if w.minGen == 0 {
			w.minGen = d.Generation
		}
		if d.Generation < w.minGen {
			return false, nil // a stale copy from before the write
		}
		last = d
		if opts.Expect != nil {
			want := desiredReplicas(opts.Expect)
			if opts.TemplateOnly && desiredReplicas(d) != want {
				env.report("deployment %s was scaled from %d to %d replicas by %s during the rollout: waiting for %d", name, want, desiredReplicas(d), orNoneText(lastManager(d, "f:replicas")), desiredReplicas(d))
				opts.Expect = opts.Expect.DeepCopy()
				opts.Expect.Spec.Replicas = d.Spec.Replicas
				want = desiredReplicas(d)
			}
			if err := checkUnchanged(opts.Expect, d, want); err != nil {
				return false, err
			}
		}
		w.watchNewPods(ctx, d)
		done, msg, err := RolloutStatus(d)
		if w.target > 0 {
			if err != nil {
				return false, err
			}
			if msg != "" {
				env.report("%s", msg)
			}
			return w.reached(), nil
		}
		if msg != "" {
			env.report("%s", msg)
		}
		return done, err
	})
	var failed *RolloutFailedError
	cause := context.Cause(ctx)
	if errors.As(cause, &failed) {
		return last, w, failed
	}
	if err == nil || errors.Is(cause, errTargetReached) {
		if w.target > 0 {
			env.report("deployment %s: %d pods of template %s ready", name, w.target, w.hash)
		}
		return last, w, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			where := "the deployment was never seen"
			if last != nil {
				_, where, _ = RolloutStatus(last)
			}
			if w.target > 0 {
				where = fmt.Sprintf("%d of %d pods of template %s ready (%s)", w.readyCount(), w.target, orNoneText(w.hash), where)
			}
			return last, w, fmt.Errorf("timed out waiting for deployment %s/%s: %s (details: kubectl feastflow diagnose deploy/%s -n %s)", ns, name, where, name, ns)
		}
		return last, w, fmt.Errorf("wait for deployment %s/%s: %w", ns, name, ctxErr)
	}
	return last, w, err
}

// RolloutStatus decides whether a Deployment's rollout is complete, with kubectl's rules
// plus ready == desired, and says where it stands. err is set when the Deployment reports
// ProgressDeadlineExceeded.
func RolloutStatus(d *appsv1.Deployment) (done bool, msg string, err error) {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	st := d.Status
	prefix := fmt.Sprintf("deployment %s", d.Name)
	if d.Generation > st.ObservedGeneration {
		return false, prefix + ": waiting for the controller to observe the new spec", nil
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, "", &RolloutFailedError{Namespace: d.Namespace, Deployment: d.Name, Reason: "it exceeded its progress deadline (ProgressDeadlineExceeded)"}
		}
	}
	switch {
	case st.UpdatedReplicas < desired:
		return false, fmt.Sprintf("%s: %d of %d new replicas updated", prefix, st.UpdatedReplicas, desired), nil
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%s: %d old replicas pending termination", prefix, st.Replicas-st.UpdatedReplicas), nil
	case st.AvailableReplicas < st.UpdatedReplicas || st.ReadyReplicas < desired:
		return false, fmt.Sprintf("%s: %d of %d updated replicas ready, %d available", prefix, st.ReadyReplicas, st.UpdatedReplicas, st.AvailableReplicas), nil
	}
	return true, fmt.Sprintf("%s: %d of %d replicas ready and available", prefix, st.AvailableReplicas, desired), nil
}

// rolloutWait is the state of one WaitForDeployment: which new ReplicaSet's pods are
// being watched.
type rolloutWait struct {
	env    *Env
	ns     string
	name   string
	minGen int64
	cancel context.CancelCauseFunc

	knownHash string // WaitOptions.PodTemplateHash, for generation minGen
	hash      string // pod-template-hash of the watched ReplicaSet
	hashGen   int64  // the Deployment generation it was found for
	pods      sync.WaitGroup

	target int32 // Ready pods of hash wanted (0: the rollout's completion)
	mu     sync.Mutex
	ready  map[string]bool // Ready pods of hash, by name
}

func (w *rolloutWait) readyCount() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int32(len(w.ready))
}

func (w *rolloutWait) reached() bool { return w.target > 0 && w.readyCount() >= w.target }

// observe counts a pod of the watched template, and ends the wait once the target is met.
func (w *rolloutWait) observe(pod *corev1.Pod, deleted bool) {
	w.mu.Lock()
	if deleted || pod.DeletionTimestamp != nil || !podutils.IsPodReady(pod) {
		delete(w.ready, pod.Name)
	} else {
		w.ready[pod.Name] = true
	}
	n := int32(len(w.ready))
	w.mu.Unlock()
	if w.target > 0 && n >= w.target {
		w.cancel(errTargetReached)
	}
}

// watchNewPods starts (once per new ReplicaSet) a watch on the new ReplicaSet's pods,
// which ends the wait with the first fail-fast pod failure.
func (w *rolloutWait) watchNewPods(ctx context.Context, d *appsv1.Deployment) {
	if d.Status.ObservedGeneration < d.Generation || d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
		return
	}
	if w.hash != "" && w.hashGen == d.Generation {
		return // this generation's ReplicaSet is watched already: no LIST per Deployment event
	}
	hash, err := w.knownHash, error(nil)
	if hash == "" || d.Generation != w.minGen {
		hash, err = newReplicaSetHash(ctx, w.env.Client, d)
	}
	if err != nil || hash == "" {
		return // not created yet; the next Deployment event retries
	}
	if hash == w.hash {
		// Already watched (a scale bumped the generation, not the template): remember
		// that this generation's hash is known, or every later event would LIST again.
		w.mu.Lock()
		w.hashGen = d.Generation
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	w.hash, w.hashGen = hash, d.Generation
	w.ready = map[string]bool{}
	w.mu.Unlock()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return
	}
	req, err := labels.NewRequirement(appsv1.DefaultDeploymentUniqueLabelKey, selection.Equals, []string{hash})
	if err != nil {
		return
	}
	selector := sel.Add(*req).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return w.env.Client.CoreV1().Pods(w.ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return w.env.Client.CoreV1().Pods(w.ns).Watch(ctx, o)
		},
	}
	w.pods.Add(1)
	go func() {
		defer w.pods.Done()
		_, _ = watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, w.env.Client), &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				return false, nil
			}
			if pod.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == w.currentHash() {
				w.observe(pod, ev.Type == watch.Deleted)
			}
			if ev.Type == watch.Deleted {
				return false, nil
			}
			if f := troubleshoot.ClassifyPod(pod); IsFailFast(f) {
				w.cancel(&RolloutFailedError{Namespace: w.ns, Deployment: w.name, Pod: pod.Name, Failure: f})
				return true, nil
			}
			return false, nil
		})
	}()
}

// endedOn is the template a wait ended on, for the smoke test that follows it: d (the
// Deployment as the wait last saw it) and the hash of the pods watched for d's generation;
// nil when that hash is not known for it.
func (w *rolloutWait) endedOn(d *appsv1.Deployment) *waitedTemplate {
	if w == nil || d == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hash == "" || w.hashGen != d.Generation {
		return nil
	}
	return &waitedTemplate{deployment: d, hash: w.hash}
}

func (w *rolloutWait) currentHash() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hash
}

// newReplicaSetHash finds the Deployment's new ReplicaSet (the one it controls whose
// template, without the pod-template-hash label, equals the Deployment's) and returns its
// pod-template-hash; "" when the controller has not created it yet.
func newReplicaSetHash(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) (string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", fmt.Errorf("deployment %s/%s selector: %w", d.Namespace, d.Name, err)
	}
	list, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", fmt.Errorf("list replicasets of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, d) && d.UID != "" {
			continue
		}
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
		}
	}
	return "", nil
}

// EqualIgnoreHash compares two pod templates ignoring the pod-template-hash label, as the
// Deployment controller does to find its new ReplicaSet.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a1, b1 := a.DeepCopy(), b.DeepCopy()
	delete(a1.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b1.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(a1.Labels) == 0 {
		a1.Labels = nil
	}
	if len(b1.Labels) == 0 {
		b1.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a1, b1)
}

func asRolloutFailed(err error) (*RolloutFailedError, bool) {
	var rf *RolloutFailedError
	ok := errors.As(err, &rf)
	return rf, ok
}
