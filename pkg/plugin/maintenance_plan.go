package plugin

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/maintenance"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// evictionFlags are kubectl drain's overrides, shared by plan and drain.
type evictionFlags struct {
	ignoreDaemonSets   bool
	deleteEmptyDirData bool
	force              bool
}

func (f *evictionFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.ignoreDaemonSets, "ignore-daemonsets", false, "Leave DaemonSet-managed pods in place (they would be re-created on the node anyway)")
	cmd.Flags().BoolVar(&f.deleteEmptyDirData, "delete-emptydir-data", false, "Evict pods with emptyDir volumes; their data is lost")
	cmd.Flags().BoolVar(&f.force, "force", false, "Evict pods that no controller re-creates; they are gone for good")
}

func (f *evictionFlags) options(sel maintenance.NodeSelection) maintenance.PlanOptions {
	return maintenance.PlanOptions{NodeSelection: sel, IgnoreDaemonSets: f.ignoreDaemonSets, DeleteEmptyDirData: f.deleteEmptyDirData, Force: f.force}
}

type maintPlanOptions struct {
	streams  genericiooptions.IOStreams
	env      maintEnvFunc
	nodes    nodeArgs
	eviction evictionFlags
	out      outputFlag
	sel      maintenance.NodeSelection
}

func newMaintPlanCmd(streams genericiooptions.IOStreams, env maintEnvFunc, complete cobra.CompletionFunc) *cobra.Command {
	o := &maintPlanOptions{streams: streams, env: env}
	cmd := &cobra.Command{
		Use:   "plan (NODE... | -l SELECTOR)",
		Short: "Show what draining nodes would do, what blocks it and whether the pods fit elsewhere; changes nothing",
		Example: `  # What would a drain of one node do?
  kubectl feastflow maintenance plan kwok-node-1 --ignore-daemonsets

  # A whole zone, as JSON
  kubectl feastflow maintenance plan -l topology.kubernetes.io/zone=zone-a -o json`,
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
	o.out.add(cmd)
	return cmd
}

func (o *maintPlanOptions) complete(args []string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	sel, err := o.nodes.selection(args, true)
	o.sel = sel
	return err
}

func (o *maintPlanOptions) run(ctx context.Context) error {
	env, err := o.env()
	if err != nil {
		return err
	}
	plan, err := maintenance.Plan(ctx, env.kube, o.eviction.options(o.sel))
	if err != nil {
		return err
	}
	return o.out.print(o.streams.Out, plan, func(w io.Writer) error { return printPlan(w, plan) })
}

// printPlan renders a plan for people: pods, PDBs, capacity, problems, verdict.
func printPlan(w io.Writer, p *maintenance.DrainPlan) error {
	pods := 0
	for _, n := range p.Nodes {
		pods += len(n.Pods)
	}
	if pods == 0 {
		fmt.Fprintf(w, "no pods on node %s\n", term.Escape(strings.Join(planNodeNames(p), ", ")))
	} else {
		t := newTable(w, "NAME", "NODE", "WORKLOAD", "ACTION", "DETAIL")
		for i := range p.Nodes {
			n := &p.Nodes[i]
			for j := range n.Pods {
				pod := &n.Pods[j]
				workload := pod.Workload
				if workload == "" {
					workload = pod.Owner
				}
				t.row(pod.Namespace+"/"+pod.Name, n.Name, workload, string(pod.Action), podDetail(pod))
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(p.PDBs) > 0 {
		fmt.Fprintln(w)
		t := newTable(w, "PODDISRUPTIONBUDGET", "CURRENT-HEALTHY", "DESIRED-HEALTHY", "DISRUPTIONS-ALLOWED", "EXPECTED-PODS", "PODS-TO-EVICT")
		for _, s := range p.PDBs {
			t.row(s.Key(), itoa(s.CurrentHealthy), itoa(s.DesiredHealthy), itoa(s.DisruptionsAllowed), itoa(s.ExpectedPods), strconv.Itoa(s.PodsToEvict))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for i := range p.Nodes {
		if p.Nodes[i].Excluded != "" {
			fmt.Fprintf(w, "\nnode %s: %s\n", term.Escape(p.Nodes[i].Name), term.Escape(p.Nodes[i].Excluded))
		}
	}
	fmt.Fprintf(w, "\ncapacity: %s\n", term.Escape(p.Capacity.Summary))
	for _, u := range p.Capacity.Unplaced {
		fmt.Fprintf(w, "  %s: %s\n", term.Escape(u.Pod), term.Escape(u.Why))
	}
	if len(p.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, pr := range p.Problems {
			fmt.Fprintf(w, "  - %s\n", term.Escape(pr))
		}
	}
	_, err := fmt.Fprintf(w, "verdict: %s\n", p.Verdict.Human())
	return err
}

func podDetail(p *maintenance.PodPlan) string {
	if len(p.Reasons) == 0 {
		return "evictable"
	}
	msgs := make([]string, len(p.Reasons))
	for i, r := range p.Reasons {
		msgs[i] = r.Message
	}
	return strings.Join(msgs, "; ")
}

func planNodeNames(p *maintenance.DrainPlan) []string {
	names := make([]string, len(p.Nodes))
	for i, n := range p.Nodes {
		names[i] = n.Name
	}
	return names
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
