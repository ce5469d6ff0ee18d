package maintenance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/progress"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// DefaultDrainTimeout bounds a drain when the caller gives no timeout of its own: a drain
// blocked by a PodDisruptionBudget must end, not hang.
const DefaultDrainTimeout = 5 * time.Minute

// DrainOptions are the inputs of Drain.
type DrainOptions struct {
	PlanOptions
	// Writer carries user, reason and dry run; required.
	Writer *audit.Writer
	// Timeout bounds the whole drain; 0 means no bound (the caller's ctx still applies).
	Timeout time.Duration
	// WaitReady waits, per node, until the evicted pods' controllers have as many Ready pods
	// elsewhere as they had Ready before the drain.
	WaitReady bool
	// MaxUnavailableNodes is how many nodes are drained at the same time (default 1). With
	// WaitReady a node counts until its replacements are Ready, so a pool rolls through N
	// nodes at a time; the first node that fails stops the roll (no further node starts).
	MaxUnavailableNodes int
	// PauseBetween holds a node's slot this long after it drained, before the next node starts.
	PauseBetween time.Duration
	// Confirm is called with the plan once it is known to be drainable, before the first
	// write; an error stops the drain with nothing changed.
	Confirm func(*DrainPlan) error
}

// NodeState is how the drain of one node ended.
type NodeState string

// The node states.
const (
	NodeDrained     NodeState = "Drained"
	NodeTimedOut    NodeState = "TimedOut"
	NodeInterrupted NodeState = "Interrupted"
	NodeFailed      NodeState = "Failed"
	NodeNotStarted  NodeState = "NotStarted"
	NodeDryRun      NodeState = "DryRun"
	// NodeExcluded: the node carries Cluster API's exclude-node-draining annotation.
	NodeExcluded NodeState = "Excluded"
)

// PodLeft is a pod still on a node when its drain ended, and why.
type PodLeft struct {
	Pod string `json:"pod"`
	Why string `json:"why"`
}

// NodeDrain is the outcome of the drain of one node.
type NodeDrain struct {
	Node string `json:"node"`
	// Cordon is the cordon action (Cordoned, AlreadyCordoned) or empty when it did not happen.
	Cordon string    `json:"cordon,omitempty"`
	State  NodeState `json:"state"`
	// Each pod the drain had to move is in exactly one of Evicted, Terminating and Left.
	// Evicted are the pods whose eviction the API accepted during this run and that have
	// left the node (server dry run: whose eviction would be accepted).
	Evicted []string `json:"evicted"`
	// Terminating are the pods evicted (or terminating already) that were still on the
	// node when the drain stopped.
	Terminating []string `json:"terminating,omitempty"`
	// Left are the pods that were not evicted, and why.
	Left []PodLeft `json:"left,omitempty"`
	// Skipped are pods that stay by design (DaemonSet pods, mirror pods).
	Skipped []string `json:"skipped,omitempty"`
	// ReplacementsReady is set when --wait-ready saw every replacement Ready elsewhere.
	ReplacementsReady bool    `json:"replacementsReady,omitempty"`
	Seconds           float64 `json:"seconds"`
	Message           string  `json:"message,omitempty"`
}

// DrainResult is the outcome of Drain.
type DrainResult struct {
	metav1.TypeMeta `json:",inline"`
	DryRun          audit.DryRun `json:"dryRun,omitempty"`
	// Verdict is the verdict of the plan the drain started from.
	Verdict Verdict     `json:"verdict"`
	Nodes   []NodeDrain `json:"nodes"`
	// Plan is the plan the drain started from.
	Plan *DrainPlan `json:"-"`
}

// Drain plans, refuses up front what would fail for sure, asks opts.Confirm, cordons every
// selected node (a failed cordon stops everything before the first eviction), then evicts
// the pods of at most MaxUnavailableNodes nodes at a time and waits, with watches, until they
// are gone (and with WaitReady, until their replacements are Ready elsewhere). While a
// PodDisruptionBudget blocks, it reports the PDB and its numbers, again whenever they change,
// and retries when the PDB changes. On timeout or cancellation it stops evicting and returns
// the result with the pods left and an error saying the nodes stay cordoned.
func Drain(ctx context.Context, client kubernetes.Interface, opts DrainOptions, rep progress.Reporter) (*DrainResult, error) {
	if rep == nil {
		rep = progress.Discard
	}
	w := opts.Writer
	if w == nil {
		w = &audit.Writer{}
	}
	if opts.MaxUnavailableNodes < 1 {
		opts.MaxUnavailableNodes = 1
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	inv, err := loadInventory(ctx, client, opts.NodeSelection, true)
	if err != nil {
		return nil, err
	}
	plan := buildPlan(inv, opts.PlanOptions)
	if err := explainStatefulSetPods(ctx, client, plan); err != nil {
		return nil, err
	}
	res := &DrainResult{TypeMeta: report.TypeMeta("DrainResult"), Verdict: plan.Verdict, Plan: plan}
	if !w.Live() {
		res.DryRun = w.DryRun
	}
	for _, np := range plan.Nodes {
		res.Nodes = append(res.Nodes, NodeDrain{Node: np.Name, State: NodeNotStarted, Evicted: []string{}})
	}
	if refusal := plan.Refusal(); refusal != "" {
		return res, errors.New(refusal + "; nothing changed")
	}
	if !plan.Capacity.Fits {
		rep.Report("warning: " + plan.Capacity.Summary)
	}
	if opts.Confirm != nil {
		if err := opts.Confirm(plan); err != nil {
			return res, err
		}
	}

	// What each node's replacements must reach is recorded with its cordon, before the first
	// eviction; a re-run reads it back (the pods evicted then are not Ready elsewhere yet).
	recorded := make([]*DrainState, len(plan.Nodes))
	want := make([]map[string]WantReady, len(plan.Nodes))
	// Cordon every node before the first eviction, as kubectl does: evicted pods must not be
	// rescheduled onto a node that is drained next, and a cordon that fails (RBAC, a webhook)
	// stops the drain while nothing has been evicted.
	for i := range plan.Nodes {
		np := &plan.Nodes[i]
		if np.Excluded != "" {
			res.Nodes[i].State = NodeExcluded
			res.Nodes[i].Message = np.Excluded
			rep.Report("node " + np.Name + ": " + np.Excluded)
			continue
		}
		node := inv.node(np.Name)
		recorded[i] = readDrainState(node)
		want[i] = recordedWant(recorded[i], np, inv.pods)
		change, err := cordonNode(ctx, client, w, node, &drainMark{pods: len(np.ToEvict()), state: &DrainState{Phase: PhaseCordoned, Want: want[i]}})
		if err != nil {
			res.Nodes[i].State = NodeFailed
			res.Nodes[i].Message = err.Error()
			msg := err.Error() + "; no pod was evicted"
			if done := cordonedSoFar(res.Nodes[:i]); len(done) > 0 {
				msg += fmt.Sprintf("; node %s stays cordoned (`kubectl feastflow maintenance uncordon %s` undoes it)", strings.Join(done, ", "), strings.Join(done, " "))
			}
			return res, errors.New(msg)
		}
		res.Nodes[i].Cordon = change.Action
		rep.Report(change.Message)
		if change.Warning != "" {
			rep.Report("warning: " + change.Warning)
		}
	}
	if w.Client() {
		for i := range plan.Nodes {
			if plan.Nodes[i].Excluded != "" {
				continue
			}
			res.Nodes[i].State = NodeDryRun
			for _, pp := range plan.Nodes[i].ToEvict() {
				res.Nodes[i].Evicted = append(res.Nodes[i].Evicted, pp.Key())
			}
			res.Nodes[i].Skipped = skipped(&plan.Nodes[i])
			res.Nodes[i].Message = "dry run: would evict these pods"
		}
		return res, nil
	}

	pdbCtx, stopPDBs := context.WithCancel(ctx)
	defer stopPDBs()
	shared := &drainShared{
		client: client, w: w, rep: rep, inv: inv,
		evictor:   newEvictor(ctx, client, w),
		lanes:     lanesFor(w),
		pdbs:      newPDBWatcher(pdbCtx, client, inv),
		pdbIndex:  newPDBIndex(inv.pdbs),
		opts:      opts.PlanOptions,
		waitReady: opts.WaitReady,
		// A roll through several nodes takes time: each node's cordon is confirmed.
		confirmCordon: len(plan.Nodes) > 1,
	}
	if opts.WaitReady && w.Live() {
		// One pod watch for the whole drain, open before the first eviction.
		shared.repl = newReplacements(client, inv, want)
		if err := shared.repl.start(pdbCtx); err != nil && ctx.Err() == nil {
			return res, fmt.Errorf("replacements not followed: %w; no pod was evicted, the nodes stay cordoned", err)
		}
	}
	r := &roll{sem: make(chan struct{}, opts.MaxUnavailableNodes), pause: opts.PauseBetween, rep: rep}
	var wg sync.WaitGroup
nodes:
	for i := range plan.Nodes {
		if plan.Nodes[i].Excluded != "" {
			continue
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			break nodes
		}
		if r.stopped() != "" {
			<-r.sem
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out := newNodeDrainer(shared, &plan.Nodes[i], res.Nodes[i].Cordon, recorded[i], want[i]).run(ctx)
			res.Nodes[i] = out
			r.done(ctx, &out, i == len(plan.Nodes)-1)
		}(i)
	}
	wg.Wait()
	for i := range res.Nodes {
		if res.Nodes[i].State == NodeNotStarted {
			res.Nodes[i].Left = leftOf(&plan.Nodes[i])
			res.Nodes[i].Skipped = skipped(&plan.Nodes[i])
			if at := r.stopped(); at != "" && ctx.Err() == nil {
				res.Nodes[i].Message = "not started: the drain stopped at node " + at
				continue
			}
			res.Nodes[i].State = stoppedState(ctx)
		}
	}
	return res, drainError(ctx, res, opts.Timeout)
}

// roll paces the nodes of one Drain: a slot per node being drained (held, with WaitReady,
// until its replacements are Ready, then for the pause), and the first failure stops it.
type roll struct {
	sem   chan struct{}
	pause time.Duration
	rep   progress.Reporter
	mu    sync.Mutex
	stop  string // the node that failed
}

func (r *roll) stopped() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stop
}

// done releases a node's slot: at once when it failed (and stops the roll), after the pause
// when it drained and more nodes follow.
func (r *roll) done(ctx context.Context, out *NodeDrain, last bool) {
	defer func() { <-r.sem }()
	if out.State == NodeFailed {
		r.mu.Lock()
		if r.stop == "" {
			r.stop = out.Node
		}
		r.mu.Unlock()
		return
	}
	if r.pause <= 0 || last || out.State != NodeDrained || r.stopped() != "" {
		return
	}
	progress.Printf(r.rep, "node %s: pausing %s before the next node (--pause-between)", out.Node, r.pause)
	t := time.NewTimer(r.pause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// drainShared is what the node drainers of one Drain share.
type drainShared struct {
	client   kubernetes.Interface
	w        *audit.Writer
	rep      progress.Reporter
	inv      *inventory
	evictor  *evictor
	pdbs     *pdbWatcher
	pdbIndex *pdbIndex
	// lanes paces evictions per PodDisruptionBudget (nil: not paced, in a server dry run).
	lanes *pdbLanes
	// repl follows the replacements of every node (WaitReady only, else nil).
	repl      *replacements
	opts      PlanOptions
	waitReady bool
	// confirmCordon re-reads each node before and after its drain (see uncordoned).
	confirmCordon bool
}

// lanesFor paces live evictions per PodDisruptionBudget; a server dry run writes no PDB
// status, so its evictions do not conflict and go out at once.
func lanesFor(w *audit.Writer) *pdbLanes {
	if !w.Live() {
		return nil
	}
	return newPDBLanes()
}

func cordonedSoFar(nodes []NodeDrain) []string {
	var names []string
	for i := range nodes {
		if nodes[i].Cordon == ActionCordoned {
			names = append(names, nodes[i].Node)
		}
	}
	return names
}

func skipped(np *NodePlan) []string {
	var out []string
	for i := range np.Pods {
		if np.Pods[i].Action == ActionSkip {
			out = append(out, np.Pods[i].Key())
		}
	}
	return out
}

func leftOf(np *NodePlan) []PodLeft {
	var left []PodLeft
	for i := range np.Pods {
		pp := &np.Pods[i]
		if pp.Action == ActionEvict || pp.Action == ActionWait {
			left = append(left, PodLeft{Pod: pp.Key(), Why: "not evicted: the drain stopped before this node"})
		}
	}
	return left
}

func stoppedState(ctx context.Context) NodeState {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return NodeTimedOut
	}
	return NodeInterrupted
}

// drainError sums up what did not drain in one line: the nodes, the pods left and why, and
// that the nodes stay cordoned.
func drainError(ctx context.Context, res *DrainResult, timeout time.Duration) error {
	var parts, cordoned []string
	for i := range res.Nodes {
		n := &res.Nodes[i]
		if n.State == NodeDrained || n.State == NodeDryRun {
			continue
		}
		cordoned = append(cordoned, n.Node)
		pods := make([]string, 0, len(n.Left))
		for _, l := range n.Left {
			pods = append(pods, l.Pod+" ("+l.Why+")")
		}
		sort.Strings(pods)
		part := fmt.Sprintf("node %s: %d pod(s) left", n.Node, len(n.Left))
		if len(n.Evicted)+len(n.Terminating) > 0 {
			part = fmt.Sprintf("node %s: %d evicted, %d still terminating, %d not evicted", n.Node, len(n.Evicted), len(n.Terminating), len(n.Left))
		}
		switch {
		case len(pods) > 0:
			part += ": " + strings.Join(pods, ", ")
		case len(n.Terminating) > 0:
			// Nothing refused: the drain was still waiting for these pods to go (or, for
			// Cluster API's wait-completed label, to complete).
			waiting := append([]string(nil), n.Terminating...)
			sort.Strings(waiting)
			part += ": waiting for " + strings.Join(waiting, ", ")
		case n.Message != "":
			part = fmt.Sprintf("node %s: %s", n.Node, n.Message)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return nil
	}
	var head string
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		head = "drain timed out"
		if timeout > 0 {
			head += " after " + timeout.String()
		}
	case ctx.Err() != nil:
		head = "drain interrupted"
	default:
		head = "drain failed"
	}
	return fmt.Errorf("%s: %s; node %s stays cordoned: re-run the drain to continue, or `kubectl feastflow maintenance uncordon %s` to give up",
		head, strings.Join(parts, "; "), strings.Join(cordoned, ", "), strings.Join(cordoned, " "))
}
