package maintenance

import (
	"context"
	"sync"
)

// evictionLaneWidth is how many evictions under one PodDisruptionBudget are in flight at a
// time, across every node of a Drain. The API server admits an eviction by updating its
// PDB's status with a precondition; concurrent evictions under one PDB conflict there and
// each loser sleeps a fixed 500 ms server-side before it tries again, so 15 evictions sent at
// once under one PDB are admitted about one per 500 ms round (17 s for a round of three
// nodes at load 21). One at a time leaves the PDB idle while the admitted eviction writes
// the pod, and still loses a round whenever the disruption controller's own status update
// (after each deletion) comes between; two overlap those (measured in docs/fleet.md).
const evictionLaneWidth = 2

// pdbLanes paces live evictions per PodDisruptionBudget (see evictionLaneWidth). Evictions of
// pods without a PDB are not paced; a 429 still blocks a pod until its PDB changes.
type pdbLanes struct {
	mu    sync.Mutex
	lanes map[string]chan struct{}
}

func newPDBLanes() *pdbLanes { return &pdbLanes{lanes: map[string]chan struct{}{}} }

func (l *pdbLanes) lane(key string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.lanes[key]
	if c == nil {
		c = make(chan struct{}, evictionLaneWidth)
		l.lanes[key] = c
	}
	return c
}

// acquire takes a place in the lanes of the pod's PDBs (in the sorted order of the keys, so
// two pods never wait on each other) and returns what gives them back; it fails only when
// ctx ends. A nil *pdbLanes paces nothing.
func (l *pdbLanes) acquire(ctx context.Context, pdbs []string) (func(), error) {
	var held []chan struct{}
	release := func() {
		for _, c := range held {
			<-c
		}
	}
	if l == nil {
		return release, nil
	}
	for _, key := range pdbs {
		c := l.lane(key)
		select {
		case c <- struct{}{}:
			held = append(held, c)
		case <-ctx.Done():
			release()
			return func() {}, ctx.Err()
		}
	}
	return release, nil
}
