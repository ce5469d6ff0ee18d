package plugin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/maintenance"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type maintDrainOptions struct {
	streams        genericiooptions.IOStreams
	env            maintEnvFunc
	nodes          nodeArgs
	eviction       evictionFlags
	write          writeFlags
	out            outputFlag
	waitReady      bool
	maxUnavailable int
	pauseBetween   time.Duration
	sel            maintenance.NodeSelection
	w              *audit.Writer
}

func newMaintDrainCmd(streams genericiooptions.IOStreams, env maintEnvFunc, complete cobra.CompletionFunc) *cobra.Command {
	o := &maintDrainOptions{streams: streams, env: env}
	cmd := &cobra.Command{
		Use:   "drain (NODE... | -l SELECTOR)",
		Short: "Cordon nodes and evict their pods, naming every PodDisruptionBudget that blocks, with a bounded wait",
		Long: `Drain plans first and refuses up front what would fail for sure (unmanaged pods without
--force, emptyDir without --delete-emptydir-data, DaemonSet pods without --ignore-daemonsets,
pods under two PodDisruptionBudgets). It then cordons every node (a failed cordon stops it
with zero evictions), evicts through the Eviction API in parallel, and while a
PodDisruptionBudget blocks, prints which one and its numbers, and again when they change.
After --timeout it exits 1 listing the pods left; the nodes stay cordoned and a re-run
continues. Ctrl-C stops evicting the same way.`,
		Example: `  kubectl feastflow maintenance drain kwok-node-1 --ignore-daemonsets --delete-emptydir-data --yes

  # Roll through a node pool: two nodes at a time, the next only when the replacements of the
  # last are Ready elsewhere; the first node that fails stops it; re-run to resume after Ctrl-C
  kubectl feastflow maintenance drain -l topology.kubernetes.io/zone=zone-a --ignore-daemonsets \
    --wait-ready --max-unavailable-nodes 2 --yes

  # Ask the API server what would be refused, without evicting anything
  kubectl feastflow maintenance drain kwok-node-1 --ignore-daemonsets --dry-run=server`,
		ValidArgsFunction: complete,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			return o.run(c.Context())
		},
	}
	o.nodes.add(cmd)
	o.eviction.add(cmd)
	o.write.add(cmd, maintenance.DefaultDrainTimeout)
	o.write.addYes(cmd)
	o.out.add(cmd)
	cmd.Flags().BoolVar(&o.waitReady, "wait-ready", false, "Return only when the evicted pods' replacements (same controller) are Ready on other nodes")
	cmd.Flags().IntVar(&o.maxUnavailable, "max-unavailable-nodes", 1, "How many nodes to drain at the same time; with --wait-ready a node counts until its replacements are Ready, and the first node that fails stops the roll")
	cmd.Flags().DurationVar(&o.pauseBetween, "pause-between", 0, "Wait this long after a node drained before the next node starts (e.g. 30s)")
	return cmd
}

func (o *maintDrainOptions) complete(args []string) error {
	w, err := o.write.writer()
	if err != nil {
		return err
	}
	o.w = w
	if err := o.out.validate(); err != nil {
		return err
	}
	if o.pauseBetween < 0 {
		return usageErrorf("invalid --pause-between %s: must not be negative", o.pauseBetween)
	}
	if o.maxUnavailable < 1 {
		return usageErrorf("invalid --max-unavailable-nodes %d: must be at least 1", o.maxUnavailable)
	}
	o.sel, err = o.nodes.selection(args, true)
	return err
}

func (o *maintDrainOptions) run(ctx context.Context) error {
	env, err := o.env()
	if err != nil {
		return err
	}
	o.w.User = env.user(ctx)
	opts := maintenance.DrainOptions{
		PlanOptions:         o.eviction.options(o.sel),
		Writer:              o.w,
		Timeout:             o.write.timeout,
		WaitReady:           o.waitReady,
		MaxUnavailableNodes: o.maxUnavailable,
		PauseBetween:        o.pauseBetween,
		Confirm:             o.confirm,
	}
	res, err := maintenance.Drain(ctx, env.kube, opts, reporter(o.streams))
	if res != nil && drainStarted(res) {
		if perr := o.out.print(o.streams.Out, res, func(w io.Writer) error { return printDrain(w, res) }); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

// confirm shows what the drain will do and asks y/N on a terminal (needs --yes otherwise);
// dry runs change nothing and ask nothing.
func (o *maintDrainOptions) confirm(p *maintenance.DrainPlan) error {
	evict, skip := 0, 0
	for i := range p.Nodes {
		for j := range p.Nodes[i].Pods {
			switch p.Nodes[i].Pods[j].Action {
			case maintenance.ActionEvict:
				evict++
			case maintenance.ActionSkip:
				skip++
			}
		}
	}
	names := strings.Join(planNodeNames(p), ", ")
	fmt.Fprintf(o.streams.ErrOut, "plan: cordon %s, evict %d pod(s), leave %d; verdict: %s\n", term.Escape(names), evict, skip, p.Verdict.Human())
	for _, pr := range p.Problems {
		fmt.Fprintf(o.streams.ErrOut, "  - %s\n", term.Escape(pr))
	}
	if !o.w.Live() {
		return nil
	}
	return confirm(o.streams, o.write.yes, fmt.Sprintf("drain node %s (evict %d pod(s))", term.Escape(names), evict))
}

// drainStarted is false when the drain stopped before writing anything (a refusal, a "no"):
// then the error alone is the answer.
func drainStarted(res *maintenance.DrainResult) bool {
	for i := range res.Nodes {
		if res.Nodes[i].State != maintenance.NodeNotStarted {
			return true
		}
	}
	return false
}

func printDrain(w io.Writer, res *maintenance.DrainResult) error {
	t := newTable(w, "NODE", "STATE", "CORDON", "EVICTED", "TERMINATING", "LEFT", "SKIPPED", "SECONDS")
	for i := range res.Nodes {
		n := &res.Nodes[i]
		state := string(n.State)
		if n.ReplacementsReady {
			state += ",ReplacementsReady"
		}
		t.row(n.Node, state, n.Cordon, strconv.Itoa(len(n.Evicted)), strconv.Itoa(len(n.Terminating)), strconv.Itoa(len(n.Left)), strconv.Itoa(len(n.Skipped)),
			strconv.FormatFloat(n.Seconds, 'f', 2, 64))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		for _, p := range n.Terminating {
			if _, err := fmt.Fprintf(w, "  terminating on %s: %s: evicted, not gone yet\n", term.Escape(n.Node), term.Escape(p)); err != nil {
				return err
			}
		}
		for _, l := range n.Left {
			if _, err := fmt.Fprintf(w, "  left on %s: %s: %s\n", term.Escape(n.Node), term.Escape(l.Pod), term.Escape(l.Why)); err != nil {
				return err
			}
		}
	}
	return nil
}
