package maintenance

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"
)

// replacements decides, for the nodes of one Drain with WaitReady, when each node's
// replacements are Ready. One pod watch serves the whole drain: it starts from the
// inventory's list (no list of its own) and follows only the pods of the controllers whose
// pods a node evicts.
//
// A node's target, per controller of a pod it evicted: the Ready pods the controller had
// before the drain (recorded on the node), less the Ready pods the OTHER nodes still in
// flight have lost since (evicted, terminating or not Ready any more: theirs to bring back).
// So a node's slot frees when as many replacements are Ready as it evicted, not when every
// node in flight has its replacements back. Nodes are released one at a time under one lock,
// in the order they started, and a released node no longer discounts anything: one
// replacement never releases two nodes.
type replacements struct {
	client kubernetes.Interface
	rv     string

	mu     sync.Mutex
	owners map[string]bool       // controller UIDs followed
	pods   map[types.UID]replPod // their pods
	flight []*replNode           // nodes in flight, in the order they started
	// failed is closed when the watch ended for good (forbidden); err says why.
	failed chan struct{}
	err    error
}

// replPod is what the targets need of a pod.
type replPod struct {
	owner, node string
	ready       bool // Ready and not terminating
}

// replNode is one node in flight.
type replNode struct {
	node string
	// lost are the pods the node evicts that were Ready before the drain: pod UID -> owner UID.
	lost map[types.UID]string
	// want is set once the node waits for its replacements.
	want     map[string]WantReady
	report   func(format string, args ...any)
	released chan struct{}
	done     bool
	status   string    // what it waits for now ("ns/ReplicaSet/x 55/60, ...")
	printed  string    // the last status reported
	at       time.Time // when it was reported
}

// replReportEvery spaces out the progress lines of one node while its targets move.
const replReportEvery = time.Second

func newReplacements(client kubernetes.Interface, inv *inventory, wants []map[string]WantReady) *replacements {
	r := &replacements{client: client, rv: inv.podsRV, owners: map[string]bool{}, pods: map[types.UID]replPod{}, failed: make(chan struct{})}
	for _, w := range wants {
		for uid := range w {
			r.owners[uid] = true
		}
	}
	for i := range inv.pods {
		r.track(&inv.pods[i], false)
	}
	return r
}

// start follows the pods from the inventory's resourceVersion until ctx ends; it returns once
// the watch is open (so no eviction can precede it), or why it could not be opened.
func (r *replacements) start(ctx context.Context) error {
	pods := r.client.CoreV1().Pods(metav1.NamespaceAll)
	opened := make(chan struct{})
	var once sync.Once
	f := &follower[*corev1.Pod]{
		list: listPods(pods),
		watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := pods.Watch(ctx, o)
			if err == nil {
				once.Do(func() { close(opened) })
			}
			return w, err
		},
		onList: func(items []*corev1.Pod) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.pods = map[types.UID]replPod{}
			for _, p := range items {
				r.track(p, false)
			}
			r.evaluate()
			return false
		},
		onEvent: func(t watch.EventType, p *corev1.Pod) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.track(p, t == watch.Deleted) {
				r.evaluate()
			}
			return false
		},
	}
	go func() {
		err := f.run(ctx, r.rv, nil)
		if err != nil && ctx.Err() == nil {
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			close(r.failed)
		}
	}()
	select {
	case <-opened:
		return nil
	case <-r.failed:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track records a pod of a followed controller (r.mu held, or before start); it reports
// whether anything a target counts changed.
func (r *replacements) track(p *corev1.Pod, deleted bool) bool {
	ref := metav1.GetControllerOf(p)
	if ref == nil || !r.owners[string(ref.UID)] {
		return false
	}
	old, had := r.pods[p.UID]
	if deleted {
		delete(r.pods, p.UID)
		return had
	}
	now := replPod{owner: string(ref.UID), node: p.Spec.NodeName, ready: p.DeletionTimestamp == nil && p.Spec.NodeName != "" && podutils.IsPodReady(p)}
	r.pods[p.UID] = now
	return !had || old != now
}

// join puts a node in flight before its first eviction: from now on, the Ready pods it
// loses are discounted from the other nodes' targets until it is released or leaves.
func (r *replacements) join(np *NodePlan, report func(format string, args ...any)) *replNode {
	n := &replNode{node: np.Name, lost: map[types.UID]string{}, report: report, released: make(chan struct{})}
	for _, pp := range np.ToEvict() {
		if pp.ownerUID != "" && pp.pod.DeletionTimestamp == nil && podutils.IsPodReady(pp.pod) {
			n.lost[pp.pod.UID] = pp.ownerUID
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flight = append(r.flight, n)
	return n
}

// leave takes a node out of flight (released, failed or stopped). The other nodes' targets
// only grow by it, so nothing is released here.
func (r *replacements) leave(n *replNode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.flight {
		if m == n {
			r.flight = append(r.flight[:i], r.flight[i+1:]...)
			return
		}
	}
}

// wait blocks until the node's replacements are Ready (its targets met), ctx ends or the
// watch failed.
func (r *replacements) wait(ctx context.Context, n *replNode, want map[string]WantReady) error {
	r.mu.Lock()
	n.want = want
	r.evaluate()
	r.mu.Unlock()
	select {
	case <-n.released:
		n.report("replacements Ready elsewhere")
		return nil
	case <-r.failed:
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("replacements not followed: %w", r.err)
	case <-ctx.Done():
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Errorf("replacements not Ready elsewhere: %s", n.status)
	}
}

// evaluate releases, in the order they started, the waiting nodes whose targets are met
// (r.mu held). A released node leaves flight at once, so the nodes after it count without
// its discount.
func (r *replacements) evaluate() {
	if len(r.flight) == 0 {
		return
	}
	// Ready pods per controller, and per node and controller.
	ready := map[string]int{}
	readyOn := map[string]map[string]int{}
	for _, p := range r.pods {
		if !p.ready {
			continue
		}
		ready[p.owner]++
		if readyOn[p.node] == nil {
			readyOn[p.node] = map[string]int{}
		}
		readyOn[p.node][p.owner]++
	}
	// What each node in flight has lost so far, per controller.
	lost := make([]map[string]int, len(r.flight))
	for i, n := range r.flight {
		lost[i] = map[string]int{}
		for uid, owner := range n.lost {
			if p, ok := r.pods[uid]; !ok || !p.ready {
				lost[i][owner]++
			}
		}
	}
	for i := 0; i < len(r.flight); i++ {
		n := r.flight[i]
		if n.want == nil || n.done {
			continue
		}
		var waiting []string
		for owner, w := range n.want {
			target := w.Ready
			for j := range r.flight {
				if j != i {
					target -= lost[j][owner]
				}
			}
			if have := ready[owner] - readyOn[n.node][owner]; have < target {
				waiting = append(waiting, fmt.Sprintf("%s %d/%d", w.Owner, have, target))
			}
		}
		if len(waiting) > 0 {
			sort.Strings(waiting)
			n.status = strings.Join(waiting, ", ")
			if n.status != n.printed && time.Since(n.at) >= replReportEvery {
				n.printed, n.at = n.status, time.Now()
				n.report("waiting for replacements to be Ready elsewhere: %s", n.status)
			}
			continue
		}
		n.done = true
		close(n.released)
		r.flight = append(r.flight[:i], r.flight[i+1:]...)
		lost = append(lost[:i], lost[i+1:]...)
		i--
	}
}
