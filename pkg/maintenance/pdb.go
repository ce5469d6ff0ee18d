package maintenance

import (
	"context"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// pdbWatcher keeps the PodDisruptionBudgets' status current while evictions are blocked. An
// eviction refused with 429 can only succeed once the disruption controller raises
// status.disruptionsAllowed (a replacement became Ready, the PDB was edited or deleted), so
// blocked evictions are retried on PDB changes instead of on a timer. The watch starts on
// the first block: a drain that is never blocked does not pay for it.
type pdbWatcher struct {
	ctx    context.Context
	client kubernetes.Interface
	rv     string

	once    sync.Once
	mu      sync.Mutex
	pdbs    map[string]PDBStatus
	changes chan struct{} // closed on every change, then replaced
}

func newPDBWatcher(ctx context.Context, client kubernetes.Interface, inv *inventory) *pdbWatcher {
	p := &pdbWatcher{ctx: ctx, client: client, rv: inv.pdbsRV, pdbs: map[string]PDBStatus{}, changes: make(chan struct{})}
	for i := range inv.pdbs {
		st := pdbStatusOf(&inv.pdbs[i])
		p.pdbs[st.Key()] = st
	}
	return p
}

// get returns the latest known status of a PDB.
func (p *pdbWatcher) get(key string) (PDBStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.pdbs[key]
	return st, ok
}

// changed starts the watch (once) and returns a channel closed at the next change.
func (p *pdbWatcher) changed() <-chan struct{} {
	p.once.Do(func() { go p.follow() })
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changes
}

func (p *pdbWatcher) notify() {
	close(p.changes)
	p.changes = make(chan struct{})
}

func (p *pdbWatcher) follow() {
	api := p.client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll)
	f := &follower[*policyv1.PodDisruptionBudget]{
		list: func(ctx context.Context, o metav1.ListOptions) ([]*policyv1.PodDisruptionBudget, string, error) {
			l, err := api.List(ctx, o)
			if err != nil {
				return nil, "", err
			}
			out := make([]*policyv1.PodDisruptionBudget, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out, l.ResourceVersion, nil
		},
		watch: api.Watch,
		onList: func(items []*policyv1.PodDisruptionBudget) bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.pdbs = map[string]PDBStatus{}
			for _, pdb := range items {
				st := pdbStatusOf(pdb)
				p.pdbs[st.Key()] = st
			}
			p.notify()
			return false
		},
		onEvent: func(t watch.EventType, pdb *policyv1.PodDisruptionBudget) bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			st := pdbStatusOf(pdb)
			if t == watch.Deleted {
				delete(p.pdbs, st.Key())
			} else {
				p.pdbs[st.Key()] = st
			}
			p.notify()
			return false
		},
	}
	_ = f.run(p.ctx, p.rv, nil)
}

// pdbIndex answers which PodDisruptionBudgets select a pod.
type pdbIndex struct {
	byNS  map[string][]pdbEntry
	byKey map[string]*policyv1.PodDisruptionBudget
}

type pdbEntry struct {
	key      string
	selector labels.Selector
}

func newPDBIndex(pdbs []policyv1.PodDisruptionBudget) *pdbIndex {
	idx := &pdbIndex{byNS: map[string][]pdbEntry{}, byKey: map[string]*policyv1.PodDisruptionBudget{}}
	for i := range pdbs {
		pdb := &pdbs[i]
		// policy/v1: a nil selector selects nothing, an empty one every pod of the namespace.
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		key := pdb.Namespace + "/" + pdb.Name
		idx.byKey[key] = pdb
		idx.byNS[pdb.Namespace] = append(idx.byNS[pdb.Namespace], pdbEntry{key: key, selector: sel})
	}
	return idx
}

func (idx *pdbIndex) match(pod *corev1.Pod) []string {
	var keys []string
	for _, e := range idx.byNS[pod.Namespace] {
		if e.selector.Matches(labels.Set(pod.Labels)) {
			keys = append(keys, e.key)
		}
	}
	sort.Strings(keys)
	return keys
}

func (idx *pdbIndex) status(key string) PDBStatus {
	return pdbStatusOf(idx.byKey[key])
}

func pdbStatusOf(pdb *policyv1.PodDisruptionBudget) PDBStatus {
	if pdb == nil {
		return PDBStatus{}
	}
	return PDBStatus{
		Namespace: pdb.Namespace, Name: pdb.Name,
		CurrentHealthy: pdb.Status.CurrentHealthy, DesiredHealthy: pdb.Status.DesiredHealthy,
		DisruptionsAllowed: pdb.Status.DisruptionsAllowed, ExpectedPods: pdb.Status.ExpectedPods,
	}
}
