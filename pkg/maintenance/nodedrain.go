package maintenance

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/progress"
)

// podPhase is where a pod is in the drain of its node.
type podPhase int

const (
	podToEvict     podPhase = iota // eviction not sent yet (or to be retried)
	podInFlight                    // eviction request outstanding
	podBlocked                     // refused with 429; retried when its PDB changes
	podTerminating                 // eviction accepted (or already terminating): waiting for it to go
	podGone                        // deleted
	podFailed                      // eviction refused for good
)

type podState struct {
	pp    *PodPlan
	phase podPhase
	pdb   string // the PDB that blocked it
	err   error
	// accepted: the API accepted its eviction; unsure: its eviction was in flight when the
	// drain stopped, so whether it landed is decided by a re-read of the node's pods.
	accepted, unsure bool
}

type evictResult struct {
	uid     types.UID
	outcome evictOutcome
	err     error
}

// goneEvent is what the pod watch of a node reports: one deleted pod, after a re-list the
// full set of pods still there, or a pod that arrived on the node.
type goneEvent struct {
	uid     types.UID
	present map[types.UID]bool
	arrived *corev1.Pod
}

// nodeDrainer drains one node. Its state lives in one goroutine (run); evictions and watches
// talk to it through channels.
type nodeDrainer struct {
	*drainShared
	np       *NodePlan
	out      NodeDrain
	pods     map[types.UID]*podState
	order    []types.UID
	reported map[string]PDBStatus
	results  chan evictResult
	gone     chan goneEvent
	inFlight sync.WaitGroup
	waiting  bool // the "waiting for pods to terminate" line was printed
	busy     bool // the "conflicted on its poddisruptionbudget" line was printed
	// recorded is the drain state an earlier run left on the node (nil: none).
	recorded *DrainState
	// want is what the replacements must reach: recorded, or counted before the first eviction.
	want map[string]WantReady
	// flight is the node's place among the nodes in flight (WaitReady only).
	flight *replNode
}

func newNodeDrainer(s *drainShared, np *NodePlan, cordon string, recorded *DrainState, want map[string]WantReady) *nodeDrainer {
	d := &nodeDrainer{drainShared: s, np: np, pods: map[types.UID]*podState{}, reported: map[string]PDBStatus{}, recorded: recorded, want: want}
	d.out = NodeDrain{Node: np.Name, Cordon: cordon, Evicted: []string{}, Skipped: skipped(np)}
	for i := range np.Pods {
		pp := &np.Pods[i]
		var phase podPhase
		switch pp.Action {
		case ActionEvict:
			phase = podToEvict
		case ActionWait:
			phase = podTerminating
		default:
			continue
		}
		d.pods[pp.pod.UID] = &podState{pp: pp, phase: phase}
		d.order = append(d.order, pp.pod.UID)
	}
	d.results = make(chan evictResult, len(d.pods)+1)
	d.gone = make(chan goneEvent, 64)
	return d
}

func (d *nodeDrainer) report(format string, args ...any) {
	progress.Printf(d.rep, "node %s: "+format, append([]any{d.np.Name}, args...)...)
}

func (d *nodeDrainer) run(ctx context.Context) NodeDrain {
	start := time.Now()
	if d.repl != nil {
		// In flight from before the first eviction: the pods it loses are discounted from
		// the other nodes' replacement targets until its own replacements are Ready.
		d.flight = d.repl.join(d.np, d.report)
		defer d.repl.leave(d.flight)
	}
	out := d.drain(ctx)
	out.Seconds = time.Since(start).Round(time.Millisecond).Seconds()
	return out
}

func (d *nodeDrainer) drain(ctx context.Context) NodeDrain {
	if d.w.DryRun == audit.DryRunServer {
		if len(d.pods) == 0 {
			d.out.State = NodeDryRun
			d.out.Message = "no pod to evict"
			return d.out
		}
		return d.serverDryRun(ctx)
	}
	if msg := d.uncordoned(ctx); msg != "" {
		return d.fail(ctx, msg)
	}
	if len(d.pods) == 0 {
		return d.finish(ctx, "no pod to evict")
	}
	d.report("evicting %d pod(s)", len(d.toEvict()))

	// The watch opens before the first eviction and resumes from the plan's list, so no
	// deletion can slip between an eviction and the watch.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	started := make(chan struct{})
	go func() { _ = d.podFollower(watchCtx).run(watchCtx, d.inv.podsRV, started) }()
	select {
	case <-started:
	case <-ctx.Done():
	}

	d.launch(ctx, d.toEvict())
loop:
	for !d.finished() {
		var pdbChanged <-chan struct{}
		if d.anyBlocked() {
			pdbChanged = d.pdbs.changed()
		}
		select {
		case r := <-d.results:
			d.handle(ctx, r)
		case g := <-d.gone:
			d.handleGone(ctx, g)
		case <-pdbChanged:
			d.retryBlocked(ctx)
		case <-ctx.Done():
			break loop
		}
	}
	// Stop evicting: in-flight requests end with ctx; their answers still count.
	d.collect(ctx)
	if ctx.Err() != nil {
		// Evictions in flight at the stop may have landed, and accepted ones may be gone by
		// now: one re-read of the node's pods decides, so each pod is reported once.
		reread := d.reread(ctx)
		d.settle()
		d.out.State = stoppedState(ctx)
		d.out.Message = fmt.Sprintf("stopped: %d pod(s) evicted, %d still terminating, %d not evicted%s; the node stays cordoned", len(d.out.Evicted), len(d.out.Terminating), len(d.out.Left), reread)
		d.report("%s", d.out.Message)
		return d.out
	}
	d.settle()
	if len(d.out.Left) > 0 {
		d.out.State = NodeFailed
		d.out.Message = fmt.Sprintf("%d pod(s) could not be evicted; the node stays cordoned", len(d.out.Left))
		d.report("%s", d.out.Message)
		_ = d.record(ctx, PhaseFailed, d.out.Message)
		return d.out
	}
	return d.finish(ctx, "")
}

// finish records the node drained and, with WaitReady, waits for the replacements. empty
// says why there was nothing to evict (a node drained in an earlier run).
func (d *nodeDrainer) finish(ctx context.Context, empty string) NodeDrain {
	if msg := d.uncordoned(ctx); msg != "" {
		return d.fail(ctx, msg)
	}
	d.out.State = NodeDrained
	resumed := d.recorded != nil && d.recorded.Phase != PhaseReplacementsReady && len(d.want) > 0
	switch {
	case empty == "":
		d.report("drained: %d pod(s) evicted", len(d.out.Evicted))
	case resumed:
		d.out.Message = "pods evicted by an earlier run"
		d.report("drained by an earlier run (%s recorded)", d.recorded.Phase)
	default:
		d.out.Message = empty
		d.report("drained (%s)", empty)
	}
	if !d.waitReady {
		return d.out
	}
	if empty != "" && !resumed {
		// Nothing was evicted here, in this run or an earlier one: nothing to wait for.
		d.out.ReplacementsReady = true
		return d.out
	}
	if err := d.waitReplacements(ctx); err != nil {
		d.out.State = NodeFailed
		if ctx.Err() != nil {
			d.out.State = stoppedState(ctx)
		}
		d.out.Message = "evicted pods are gone, " + err.Error()
		d.out.Left = nil
		if ctx.Err() == nil {
			_ = d.record(ctx, PhaseFailed, d.out.Message)
		}
		return d.out
	}
	if msg := d.uncordoned(ctx); msg != "" {
		return d.fail(ctx, msg)
	}
	d.out.ReplacementsReady = true
	_ = d.record(ctx, PhaseReplacementsReady, "")
	return d.out
}

// uncordoned re-reads the node of a pool drain (several nodes, rolled through over time)
// before its drain starts, once its pods are gone and once its replacements are Ready: a
// node whose cordon someone removed meanwhile is not drained (the scheduler may place pods
// on it again, evicted ones included), and a node that cannot be re-read is not confirmed
// drained. It returns why, or "" when the node is still cordoned. A one-node drain, which
// evicts right after its cordon, does not re-read (its request count stays pods + 6).
func (d *nodeDrainer) uncordoned(ctx context.Context) string {
	if !d.confirmCordon || !d.w.Live() || ctx.Err() != nil {
		return ""
	}
	n, err := d.client.CoreV1().Nodes().Get(ctx, d.np.Name, metav1.GetOptions{})
	switch {
	case ctx.Err() != nil:
		return ""
	case err != nil:
		return fmt.Sprintf("the node could not be re-read to confirm it is still cordoned: %v", err)
	case !n.Spec.Unschedulable:
		return fmt.Sprintf("someone uncordoned the node during the drain (spec.unschedulable is false now): pods may be scheduled onto it again, so it is not reported drained; cordon it and re-run the drain, or `kubectl feastflow maintenance uncordon %s` to give up", d.np.Name)
	}
	return ""
}

// fail ends the node's drain as failed with msg (recorded on the node), keeping what was
// evicted; the roll stops at this node.
func (d *nodeDrainer) fail(ctx context.Context, msg string) NodeDrain {
	d.out.State = NodeFailed
	d.out.Message = msg
	d.out.ReplacementsReady = false
	d.out.Left = d.left()
	d.report("%s", msg)
	_ = d.record(ctx, PhaseFailed, msg)
	return d.out
}

// record writes the node's drain phase; a failure is reported (the drain goes on only where
// the record is not needed to resume).
func (d *nodeDrainer) record(ctx context.Context, phase DrainPhase, msg string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err := recordDrainState(ctx, d.client, d.w, d.np.Name, &DrainState{Phase: phase, Want: d.want, Message: msg})
	if err != nil {
		d.report("warning: %v", err)
	}
	return err
}

// serverDryRun sends every eviction once with dryRun=All: the answers say which pods a
// PodDisruptionBudget would block right now. Nothing is deleted, so nothing is waited for.
func (d *nodeDrainer) serverDryRun(ctx context.Context) NodeDrain {
	d.launch(ctx, d.toEvict())
	d.collect(ctx)
	d.out.State = NodeDryRun
	for _, uid := range d.order {
		if st := d.pods[uid]; st.phase == podTerminating && st.accepted {
			d.out.Evicted = append(d.out.Evicted, st.pp.Key())
		}
	}
	d.out.Left = d.left() // the refused ones: accepted evictions are podTerminating
	d.out.Message = fmt.Sprintf("server dry run: %d eviction(s) accepted, %d refused", len(d.out.Evicted), len(d.out.Left))
	d.report("%s", d.out.Message)
	return d.out
}

// collect handles the answers of every eviction still in flight.
func (d *nodeDrainer) collect(ctx context.Context) {
	all := make(chan struct{})
	go func() {
		d.inFlight.Wait()
		close(all)
	}()
	for {
		select {
		case r := <-d.results:
			d.handle(ctx, r)
		case <-all:
			for len(d.results) > 0 {
				d.handle(ctx, <-d.results)
			}
			return
		}
	}
}

func (d *nodeDrainer) toEvict() []types.UID {
	var uids []types.UID
	for _, uid := range d.order {
		if d.pods[uid].phase == podToEvict {
			uids = append(uids, uid)
		}
	}
	return uids
}

// launch sends the evictions in parallel, at most evictionLaneWidth at a time under one
// PodDisruptionBudget (see pdbLanes); the client's rate limiter (QPS/burst) paces them.
func (d *nodeDrainer) launch(ctx context.Context, uids []types.UID) {
	for _, uid := range uids {
		st := d.pods[uid]
		st.phase = podInFlight
		pod, pdbs := st.pp.pod, st.pp.PDBs
		d.inFlight.Add(1)
		go func() {
			defer d.inFlight.Done()
			release, err := d.lanes.acquire(ctx, pdbs)
			if err != nil || ctx.Err() != nil {
				release()
				d.results <- evictResult{uid: pod.UID, outcome: evictFailed, err: ctx.Err()}
				return
			}
			outcome, err := d.evictor.evict(pod)
			release()
			d.results <- evictResult{uid: pod.UID, outcome: outcome, err: err}
		}()
	}
}

func (d *nodeDrainer) handle(ctx context.Context, r evictResult) {
	st := d.pods[r.uid]
	if st == nil {
		return
	}
	key := st.pp.Key()
	if st.phase == podGone {
		// The watch saw the deletion before the eviction's answer arrived (kwok, or a pod
		// with no grace period, is deleted at once).
		if r.outcome == evicted {
			st.accepted = true
			d.report("evicted %s", key)
		} else if r.err != nil && ctx.Err() != nil {
			st.accepted = true // gone, and our eviction was out when the drain stopped
		}
		return
	}
	if st.phase != podInFlight {
		return
	}
	switch r.outcome {
	case evicted:
		st.phase = podTerminating
		st.accepted = true
		if d.w.DryRun == audit.DryRunServer {
			d.report("evicted %s (server dry run)", key)
		} else {
			d.report("evicted %s", key)
		}
		if !d.waiting && d.count(podToEvict, podInFlight, podBlocked) == 0 && d.count(podTerminating) > 0 && d.w.Live() {
			d.waiting = true
			d.report("waiting for %d evicted pod(s) to terminate", d.count(podTerminating))
		}
	case evictGone:
		st.phase = podGone
	case evictBusy:
		if !d.busy {
			d.busy = true
			d.report("eviction of %s conflicted on its poddisruptionbudget's status (many evictions and the disruption controller at once): sending it again", key)
		}
		st.phase = podToEvict
		d.launch(ctx, []types.UID{r.uid})
	case evictBlocked:
		st.phase = podBlocked
		st.err = r.err
		st.pdb = ""
		if len(st.pp.PDBs) == 1 {
			st.pdb = st.pp.PDBs[0]
		}
		if st.pdb == "" {
			st.pdb = blockingPDBFromError(st.pp.Namespace, r.err)
		}
		d.reportBlock(st)
	default:
		if ctx.Err() != nil {
			// Stopped (timeout, Ctrl-C) while the request was out: the server may or may
			// not have evicted it; the re-read after the stop decides.
			st.phase = podToEvict
			st.unsure = true
			return
		}
		st.phase = podFailed
		st.err = r.err
		d.report("evict %s failed: %v", key, r.err)
	}
}

// reportBlock says which PDB blocks, with its numbers, once per PDB and again whenever the
// numbers change: a drain never waits silently.
func (d *nodeDrainer) reportBlock(st *podState) {
	if st.pdb == "" {
		if _, done := d.reported[""]; !done {
			d.reported[""] = PDBStatus{}
			d.report("eviction of %s refused: %v; retrying when a poddisruptionbudget changes", st.pp.Key(), st.err)
		}
		return
	}
	cur, ok := d.pdbs.get(st.pdb)
	if !ok {
		cur = PDBStatus{Name: st.pdb}
	}
	if prev, done := d.reported[st.pdb]; done && prev == cur {
		return
	}
	d.reported[st.pdb] = cur
	if d.w.DryRun == audit.DryRunServer {
		d.report("eviction would be blocked by poddisruptionbudget %s: %s (server dry run)", st.pdb, cur.Numbers())
		return
	}
	d.report("eviction blocked by poddisruptionbudget %s: %s; waiting for it to change", st.pdb, cur.Numbers())
}

// retryBlocked runs when a PDB changed: pods whose PDB now allows a disruption (or is gone)
// are evicted again; changed numbers are reported.
func (d *nodeDrainer) retryBlocked(ctx context.Context) {
	var retry []types.UID
	for _, uid := range d.order {
		st := d.pods[uid]
		if st.phase != podBlocked {
			continue
		}
		if st.pdb == "" {
			retry = append(retry, uid)
			continue
		}
		cur, ok := d.pdbs.get(st.pdb)
		if !ok {
			d.report("poddisruptionbudget %s is gone; retrying", st.pdb)
			retry = append(retry, uid)
			continue
		}
		if prev, done := d.reported[st.pdb]; !done || prev != cur {
			d.reported[st.pdb] = cur
			d.report("poddisruptionbudget %s now %s", st.pdb, cur.Numbers())
		}
		// A disruption allowed lets any pod go; a met budget lets an unready pod go.
		if cur.DisruptionsAllowed > 0 || (!podutils.IsPodReady(st.pp.pod) && cur.CurrentHealthy >= cur.DesiredHealthy) {
			retry = append(retry, uid)
		}
	}
	for _, uid := range retry {
		d.pods[uid].phase = podToEvict
	}
	d.launch(ctx, retry)
}

func (d *nodeDrainer) handleGone(ctx context.Context, g goneEvent) {
	if g.arrived != nil {
		d.adopt(ctx, g.arrived)
		return
	}
	if g.present == nil {
		if st := d.pods[g.uid]; st != nil {
			st.phase = podGone
		}
		return
	}
	for uid, st := range d.pods {
		if !g.present[uid] {
			st.phase = podGone
		}
	}
}

// adopt evicts a pod the scheduler bound to the node between the plan's list and the cordon
// (kubectl lists after cordoning; the plan lists first, so the watch catches these).
func (d *nodeDrainer) adopt(ctx context.Context, pod *corev1.Pod) {
	if _, known := d.pods[pod.UID]; known || pod.DeletionTimestamp != nil {
		return
	}
	pp := classify(pod, d.opts)
	if pp.Action != ActionEvict || pp.has(ReasonFinished) {
		if pp.Action == ActionRefuse {
			d.report("pod %s arrived on the node after the plan and is left there: %s", pp.Key(), pp.Reasons[0].Message)
		}
		return
	}
	pp.PDBs = d.pdbIndex.match(pod)
	d.pods[pod.UID] = &podState{pp: &pp, phase: podToEvict}
	d.order = append(d.order, pod.UID)
	d.report("pod %s arrived on the node before the cordon took effect: evicting it too", pp.Key())
	d.launch(ctx, []types.UID{pod.UID})
}

func (d *nodeDrainer) count(phases ...podPhase) int {
	n := 0
	for _, st := range d.pods {
		for _, p := range phases {
			if st.phase == p {
				n++
			}
		}
	}
	return n
}

func (d *nodeDrainer) finished() bool   { return d.count(podGone, podFailed) == len(d.pods) }
func (d *nodeDrainer) anyBlocked() bool { return d.count(podBlocked) > 0 }

// settle writes the node's pods into the result, each once: Evicted (its eviction was
// accepted and it has left the node), Terminating (accepted, or already terminating when
// the drain began, and still on the node) or Left (not evicted, and why).
func (d *nodeDrainer) settle() {
	d.out.Evicted, d.out.Terminating = []string{}, nil
	for _, uid := range d.order {
		st := d.pods[uid]
		switch {
		case st.phase == podGone && st.accepted:
			d.out.Evicted = append(d.out.Evicted, st.pp.Key())
		case st.phase == podTerminating:
			d.out.Terminating = append(d.out.Terminating, st.pp.Key())
		}
	}
	d.out.Left = d.left()
}

// reread lists the node's pods once after the drain stopped (with a short deadline of its
// own: the drain's context is done) and moves every pod the drain still tracks to what
// the list says: absent is gone, with a deletion timestamp is terminating. An eviction
// that was in flight at the stop counts as accepted when its pod is gone or terminating.
// It returns what to add to the message when the re-read failed.
func (d *nodeDrainer) reread(ctx context.Context) string {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rereadTimeout)
	defer cancel()
	list, err := d.client.CoreV1().Pods("").List(rctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", d.np.Name).String()})
	if err != nil {
		return fmt.Sprintf(" (the node's pods could not be re-read: %v; evictions in flight at the stop are counted as not evicted)", err)
	}
	present := map[types.UID]*corev1.Pod{}
	for i := range list.Items {
		present[list.Items[i].UID] = &list.Items[i]
	}
	for _, uid := range d.order {
		st := d.pods[uid]
		if st.phase == podGone {
			continue
		}
		p, ok := present[uid]
		switch {
		case !ok:
			st.phase = podGone
			st.accepted = st.accepted || st.unsure
		case p.DeletionTimestamp != nil:
			st.phase = podTerminating
			st.accepted = st.accepted || st.unsure
		}
	}
	return ""
}

// rereadTimeout bounds the re-read of a node's pods after the drain stopped.
const rereadTimeout = 10 * time.Second

func (d *nodeDrainer) left() []PodLeft {
	var left []PodLeft
	for _, uid := range d.order {
		st := d.pods[uid]
		var why string
		switch st.phase {
		case podGone:
			continue
		case podToEvict:
			why = "not evicted yet"
		case podInFlight:
			why = "eviction in flight"
		case podBlocked:
			why = "blocked by a poddisruptionbudget"
			if st.pdb != "" {
				cur, _ := d.pdbs.get(st.pdb)
				why = fmt.Sprintf("blocked by poddisruptionbudget %s, disruptionsAllowed %d", st.pdb, cur.DisruptionsAllowed)
			}
		case podTerminating:
			continue // reported as terminating
		case podFailed:
			why = fmt.Sprintf("eviction failed: %v", st.err)
		}
		left = append(left, PodLeft{Pod: st.pp.Key(), Why: why})
	}
	return left
}
