package strategy

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/window"
)

// WindowClosedError is the refusal of a release verb outside the namespace's deployment
// window (or during a freeze) without --override-window.
type WindowClosedError struct {
	Namespace string
	Status    window.Status
}

func (e *WindowClosedError) Error() string {
	next := ""
	if !e.Status.NextOpen.IsZero() {
		next = fmt.Sprintf(", next opening %s", e.Status.NextOpen.Format(time.RFC3339))
	}
	return fmt.Sprintf("namespace %s is %s%s: nothing changed; wait for the window, or pass --override-window=REASON (recorded)", e.Namespace, e.Status.Reason, next)
}

// CheckWindow gets the namespace (one request) and refuses when its deployment window is
// closed or a freeze is on, unless env.Writer.OverrideWindow gives a reason, which is then
// reported and recorded by the writes' last-operation annotation. Every release verb calls
// it (or CheckNamespaceWindow) before its first write.
func CheckWindow(ctx context.Context, env *Env, namespace string) (window.Status, error) {
	ns, err := env.Client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		// Unreadable: refused, unless overridden (the same rule as the switch's, windowOf).
		return window.Status{Configured: true}, windowOf(env, nil, err, namespace)
	}
	return CheckNamespaceWindow(env, ns)
}

// CheckNamespaceWindow is CheckWindow on a namespace already read, for verbs that fetch it
// alongside their other reads.
func CheckNamespaceWindow(env *Env, ns *corev1.Namespace) (window.Status, error) {
	override := ""
	if env.Writer != nil {
		override = env.Writer.OverrideWindow
	}
	sched, err := window.FromNamespace(ns)
	if err != nil {
		if override != "" {
			env.report("deployment window of namespace %s cannot be read (%v): overridden: %s", ns.Name, err, override)
			return window.Status{Configured: true}, nil
		}
		return window.Status{}, fmt.Errorf("namespace %s: %w: fix the annotation, or pass --override-window=REASON", ns.Name, err)
	}
	st := sched.Check(env.now())
	if st.Open {
		return st, nil
	}
	if override != "" {
		env.report("namespace %s is %s: overridden: %s", ns.Name, st.Reason, override)
		return st, nil
	}
	return st, &WindowClosedError{Namespace: ns.Name, Status: st}
}

// WindowStatus evaluates the namespace's window without refusing: what `status` shows.
// A window annotation that does not parse is reported as closed with the parse error.
func WindowStatus(ns *corev1.Namespace, now time.Time) window.Status {
	sched, err := window.FromNamespace(ns)
	if err != nil {
		return window.Status{Configured: true, Reason: err.Error()}
	}
	return sched.Check(now)
}
