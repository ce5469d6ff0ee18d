package maintenance

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// podFollower watches the pods of the node; deletions of pods the drain waits for are sent
// to d.gone.
func (d *nodeDrainer) podFollower(ctx context.Context) *follower[*corev1.Pod] {
	pods := d.client.CoreV1().Pods(metav1.NamespaceAll)
	send := func(g goneEvent) bool {
		select {
		case d.gone <- g:
			return false
		case <-ctx.Done():
			return true
		}
	}
	return &follower[*corev1.Pod]{
		opts:  metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", d.np.Name).String()},
		list:  listPods(pods),
		watch: pods.Watch,
		onList: func(items []*corev1.Pod) bool {
			present := map[types.UID]bool{}
			for _, p := range items {
				if !completedWaited(p) {
					present[p.UID] = true
				}
			}
			return send(goneEvent{present: present})
		},
		onEvent: func(t watch.EventType, p *corev1.Pod) bool {
			// Fake clients ignore field selectors; real watches only send this node's pods.
			if p.Spec.NodeName != d.np.Name {
				return false
			}
			switch {
			case t == watch.Deleted, t == watch.Modified && completedWaited(p):
				return send(goneEvent{uid: p.UID})
			case t == watch.Added:
				return send(goneEvent{arrived: p})
			}
			return false
		},
	}
}

// listPods is a follower's list of pods: one LIST, its items as pointers.
func listPods(pods typedcorev1.PodInterface) func(context.Context, metav1.ListOptions) ([]*corev1.Pod, string, error) {
	return func(ctx context.Context, o metav1.ListOptions) ([]*corev1.Pod, string, error) {
		l, err := pods.List(ctx, o)
		if err != nil {
			return nil, "", err
		}
		out := make([]*corev1.Pod, len(l.Items))
		for i := range l.Items {
			out[i] = &l.Items[i]
		}
		return out, l.ResourceVersion, nil
	}
}

// completedWaited is a pod labelled cluster.x-k8s.io/drain=wait-completed that finished: the
// drain waited for exactly that, so it counts as gone.
func completedWaited(p *corev1.Pod) bool {
	return p.Labels[LabelCAPIDrain] == CAPIDrainWaitCompleted && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
}

// waitReplacements waits until every controller of an evicted pod has, on other nodes, as
// many Ready pods as it had Ready before the drain, less what the other nodes in flight have
// lost meanwhile (see replacements): the replacements serve, not just exist.
func (d *nodeDrainer) waitReplacements(ctx context.Context) error {
	if len(d.want) == 0 {
		return nil
	}
	if d.repl == nil || d.flight == nil {
		return fmt.Errorf("replacements not followed (no pod watch)")
	}
	return d.repl.wait(ctx, d.flight, d.want)
}
