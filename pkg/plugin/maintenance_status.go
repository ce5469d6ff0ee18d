package plugin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/maintenance"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type maintStatusOptions struct {
	streams genericiooptions.IOStreams
	env     maintEnvFunc
	nodes   nodeArgs
	out     outputFlag
	sel     maintenance.NodeSelection
	now     func() time.Time
}

// maxPodsListed caps the pods named per node in the human status; -o json lists them all.
const maxPodsListed = 10

func newMaintStatusCmd(streams genericiooptions.IOStreams, env maintEnvFunc, complete cobra.CompletionFunc) *cobra.Command {
	o := &maintStatusOptions{streams: streams, env: env, now: time.Now}
	cmd := &cobra.Command{
		Use:   "status [NODE... | -l SELECTOR]",
		Short: "Show the nodes under maintenance: who cordoned them, since when, why, drain progress, pods left",
		Example: `  kubectl feastflow maintenance status
  kubectl feastflow maintenance status kwok-node-1 -o yaml`,
		ValidArgsFunction: complete,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.out.validate(); err != nil {
				return err
			}
			sel, err := o.nodes.selection(args, false)
			if err != nil {
				return err
			}
			o.sel = sel
			return o.run(c.Context())
		},
	}
	o.nodes.add(cmd)
	o.out.add(cmd)
	return cmd
}

func (o *maintStatusOptions) run(ctx context.Context) error {
	env, err := o.env()
	if err != nil {
		return err
	}
	res, err := maintenance.Status(ctx, env.kube, maintenance.StatusOptions{NodeSelection: o.sel})
	if err != nil {
		return err
	}
	if len(res.Nodes) == 0 && !o.out.machine() {
		fmt.Fprintln(o.streams.ErrOut, "no node is cordoned or under maintenance")
		return nil
	}
	return o.out.print(o.streams.Out, res, func(w io.Writer) error { return o.print(w, res) })
}

func (o *maintStatusOptions) print(w io.Writer, res *maintenance.StatusResult) error {
	t := newTable(w, "NAME", "SCHEDULABLE", "CORDONED-BY", "SINCE", "REASON", "PHASE", "PROGRESS", "PODS-LEFT")
	for _, n := range res.Nodes {
		sched := "true"
		if n.Unschedulable {
			sched = "false"
		}
		by := n.By
		switch {
		case n.CordonedByPlugin && n.WasUnschedulable:
			by += " (was cordoned before)"
		case !n.CordonedByPlugin && n.Unschedulable && by == "":
			by = "not kubectl feastflow"
		}
		since := ""
		if n.Since != nil {
			since = duration.HumanDuration(o.now().Sub(n.Since.Time)) + " ago"
		}
		phase := string(n.Phase)
		if n.PhaseMessage != "" {
			phase += ": " + n.PhaseMessage
		}
		t.row(n.Name, sched, by, since, n.Reason, phase, n.Progress, strconv.Itoa(len(n.PodsLeft)))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if res.Pool != nil {
		fmt.Fprintf(w, "pool: %s\n", res.Pool)
	}
	for _, n := range res.Nodes {
		if len(n.PodsLeft) == 0 {
			continue
		}
		pods := n.PodsLeft
		more := ""
		if len(pods) > maxPodsListed {
			more = fmt.Sprintf(" and %d more", len(pods)-maxPodsListed)
			pods = pods[:maxPodsListed]
		}
		if _, err := fmt.Fprintf(w, "  on %s: %s%s\n", term.Escape(n.Name), term.Escape(strings.Join(pods, ", ")), more); err != nil {
			return err
		}
	}
	return nil
}
