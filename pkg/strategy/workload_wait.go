package strategy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// WorkloadFailedError is a StatefulSet or DaemonSet rollout that cannot complete: one of
// the pods it waits for failed in a way that waiting will not fix.
type WorkloadFailedError struct {
	Kind      string
	Namespace string
	Name      string
	Pod       string
	// Node is the pod's node (a DaemonSet's failure is per node).
	Node    string
	Failure *troubleshoot.PodFailure
	// Claims describes the pod's PersistentVolumeClaims that are not bound, when the pod
	// cannot be scheduled because of them.
	Claims string
}

func (e *WorkloadFailedError) Error() string {
	where := "pod " + e.Pod
	if e.Kind == kindDaemonSet && e.Node != "" {
		where = fmt.Sprintf("node %s: pod %s", e.Node, e.Pod)
	}
	msg := fmt.Sprintf("%s %s/%s failed: %s: %s", strings.ToLower(e.Kind), e.Namespace, e.Name, where, term.Escape(e.Failure.String()))
	if e.Claims != "" {
		msg += "; " + term.Escape(e.Claims)
	}
	return msg + fmt.Sprintf(" (details: kubectl feastflow diagnose pod/%s -n %s)", e.Pod, e.Namespace)
}

// SecondWriterError is a workload changed by someone else while a verb waited for it: the
// verb stops rather than report a state that does not exist.
type SecondWriterError struct {
	Object string
	What   string
	Next   string
}

func (e *SecondWriterError) Error() string {
	return fmt.Sprintf("%s was changed by someone else while waiting (%s): stopped, nothing more was changed; %s", e.Object, e.What, e.Next)
}

// workloadWait waits for a StatefulSet's or DaemonSet's pods: it watches the object (to
// see its revisions and to notice a second writer: any spec change, i.e. a new generation,
// that is not this run's) and its pods (to decide readiness from the pods promised, and to
// fail fast on a broken one).
type workloadWait struct {
	env      *Env
	ns       string
	kind     string // kindStatefulSet or kindDaemonSet
	name     string
	selector *metav1.LabelSelector
	// gen is the generation of this run's last write: a newer one is a second writer.
	gen int64
	// next says what to do after a second writer stopped the wait.
	next string
	// check decides from the object and its pods whether the wait is over, says where it
	// stands, and lists the pods whose failure ends it (the new pods).
	check func(obj runtime.Object, pods []*corev1.Pod) (done bool, msg string, watched []*corev1.Pod)
	// changed describes a second writer's change (old: the object as written by this run).
	changed func(obj runtime.Object) string
	timeout time.Duration

	// watched are the pods check listed when the wait ended done: the caller's next read
	// of them (a health baseline) comes from the wait's own watch, not another LIST.
	watched []*corev1.Pod
}

// run waits; it writes nothing.
func (w *workloadWait) run(ctx context.Context) (runtime.Object, error) {
	ctx, cancelTimeout := watchtools.ContextWithOptionalTimeout(ctx, w.timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil {
		return nil, fmt.Errorf("%s %s/%s selector: %w", strings.ToLower(w.kind), w.ns, w.name, err)
	}
	var mu sync.Mutex
	var obj runtime.Object
	pods := map[string]*corev1.Pod{}
	signal := make(chan struct{}, 1)
	notify := func() {
		select {
		case signal <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	defer func() { cancel(nil); wg.Wait() }()
	objLW, example := w.objectListWatch()
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(objLW, w.env.Client), example, nil, func(ev watch.Event) (bool, error) {
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("%s %s/%s was deleted while waiting for it", strings.ToLower(w.kind), w.ns, w.name)
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				return false, nil
			}
			m, err := objectMeta(ev.Object)
			if err != nil || m.GetGeneration() < w.gen {
				return false, nil // a stale copy from before this run's write
			}
			if m.GetGeneration() > w.gen {
				return false, &SecondWriterError{Object: workloadRef(w.kind, w.name), What: w.changed(ev.Object), Next: w.next}
			}
			mu.Lock()
			obj = ev.Object
			mu.Unlock()
			notify()
			return false, nil
		})
		if err != nil && ctx.Err() == nil {
			cancel(err)
		}
	}()
	go func() {
		defer wg.Done()
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = sel.String()
				return w.env.Client.CoreV1().Pods(w.ns).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = sel.String()
				return w.env.Client.CoreV1().Pods(w.ns).Watch(ctx, o)
			},
		}
		_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, w.env.Client), &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				return false, nil
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(pods, p.Name)
			} else {
				pods[p.Name] = p
			}
			mu.Unlock()
			notify()
			return false, nil
		})
		if err != nil && ctx.Err() == nil {
			cancel(err)
		}
	}()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return w.ended(ctx, obj, last)
		case <-signal:
		}
		mu.Lock()
		cur := obj
		list := make([]*corev1.Pod, 0, len(pods))
		for _, p := range pods {
			if ownedBy(p, cur) {
				list = append(list, p)
			}
		}
		mu.Unlock()
		if cur == nil {
			continue
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		done, msg, watched := w.check(cur, list)
		if msg != "" && msg != last {
			w.env.report("%s", msg)
			last = msg
		}
		if done {
			w.watched = watched
			return cur, nil
		}
		for _, p := range watched {
			if f := troubleshoot.ClassifyPod(p); IsFailFast(f) {
				fe := &WorkloadFailedError{Kind: w.kind, Namespace: w.ns, Name: w.name, Pod: p.Name, Node: p.Spec.NodeName, Failure: f}
				if f.Category == troubleshoot.CategoryUnschedulable {
					fe.Claims = unboundClaims(ctx, w.env, p)
				}
				return cur, fe
			}
		}
	}
}

// ended turns the end of the context into the wait's error.
func (w *workloadWait) ended(ctx context.Context, obj runtime.Object, last string) (runtime.Object, error) {
	cause := context.Cause(ctx)
	var sw *SecondWriterError
	if errors.As(cause, &sw) {
		return obj, sw
	}
	if errors.Is(cause, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		where := last
		if where == "" {
			where = "nothing observed yet"
		}
		return obj, fmt.Errorf("timed out waiting for %s %s/%s: %s (details: kubectl feastflow diagnose %s/%s -n %s)", strings.ToLower(w.kind), w.ns, w.name, where, strings.ToLower(w.kind), w.name, w.ns)
	}
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return obj, cause
	}
	return obj, fmt.Errorf("wait for %s %s/%s: %w", strings.ToLower(w.kind), w.ns, w.name, ctx.Err())
}

func (w *workloadWait) objectListWatch() (*cache.ListWatch, runtime.Object) {
	field := fields.OneTermEqualSelector("metadata.name", w.name).String()
	apps := w.env.Client.AppsV1()
	if w.kind == kindDaemonSet {
		return &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = field
				return apps.DaemonSets(w.ns).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = field
				return apps.DaemonSets(w.ns).Watch(ctx, o)
			},
		}, &appsv1.DaemonSet{}
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = field
			return apps.StatefulSets(w.ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = field
			return apps.StatefulSets(w.ns).Watch(ctx, o)
		},
	}, &appsv1.StatefulSet{}
}

func objectMeta(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", obj)
	}
	return m, nil
}

// ownedBy reports whether the pod is controlled by obj.
func ownedBy(p *corev1.Pod, obj runtime.Object) bool {
	if obj == nil {
		return false
	}
	m, err := objectMeta(obj)
	if err != nil {
		return false
	}
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.UID == m.GetUID()
}

// unboundClaims names the pod's PersistentVolumeClaims that are not Bound and why (one GET
// each, only on this failure path): a volumeClaimTemplate whose claim cannot bind keeps a
// StatefulSet pod Unschedulable.
func unboundClaims(ctx context.Context, env *Env, p *corev1.Pod) string {
	var parts []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		pvc, err := env.Client.CoreV1().PersistentVolumeClaims(p.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			parts = append(parts, fmt.Sprintf("persistentvolumeclaim %s: %v", name, err))
			continue
		}
		if pvc.Status.Phase == corev1.ClaimBound {
			continue
		}
		class := "<default>"
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		parts = append(parts, fmt.Sprintf("persistentvolumeclaim %s is %s (storageClassName %s)", name, pvc.Status.Phase, class))
	}
	return strings.Join(parts, "; ")
}
