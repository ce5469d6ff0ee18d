package plugin

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/feastflow/kubectl-feastflow/pkg/maintenance"
)

// newMaintenanceCmds returns the maintenance verbs (pkg/maintenance): one `maintenance`
// parent with plan, cordon, uncordon, drain and status under it.
func newMaintenanceCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return []*cobra.Command{newMaintenanceCmd(getter, streams, maintEnvFrom(getter))}
}

// maintEnvFrom builds the maintenance verbs' clients from kubectl's flags.
func maintEnvFrom(getter genericclioptions.RESTClientGetter) maintEnvFunc {
	return func() (*maintEnv, error) {
		c, err := newClients(getter)
		if err != nil {
			return nil, err
		}
		return &maintEnv{kube: c.Kube, user: c.User}, nil
	}
}

// maintEnv is what the maintenance verbs need from the cluster; tests replace it with fakes.
type maintEnv struct {
	kube kubernetes.Interface
	// user names who acts, for the audit records of write verbs.
	user func(context.Context) string
}

type maintEnvFunc func() (*maintEnv, error)

func newMaintenanceCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams, env maintEnvFunc) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Plan, cordon, drain and uncordon nodes without surprises",
		Long: `Node maintenance that says what it will do before it does it: plan shows per pod what a
drain would do and whether the evicted pods fit elsewhere; drain cordons (and stops with
zero evictions if it cannot), evicts through the Eviction API in parallel, names every
PodDisruptionBudget that blocks it while it waits, and gives up after --timeout leaving the
node cordoned; uncordon undoes only the cordons kubectl feastflow set.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	complete := completeNodes(getter)
	if getter == nil {
		complete = nil
	}
	cmd.AddCommand(
		newMaintPlanCmd(streams, env, complete),
		newMaintCordonCmd(streams, env, complete, false),
		newMaintCordonCmd(streams, env, complete, true),
		newMaintDrainCmd(streams, env, complete),
		newMaintStatusCmd(streams, env, complete),
	)
	return cmd
}

// nodeArgs are the node arguments every maintenance verb takes: NODE... or -l SELECTOR.
type nodeArgs struct {
	selector string
}

func (n *nodeArgs) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&n.selector, "selector", "l", "", "Node label selector (e.g. -l topology.kubernetes.io/zone=zone-a), instead of node names")
}

// selection turns the arguments into a NodeSelection; required says that some node must be
// named (every verb but status).
func (n *nodeArgs) selection(args []string, required bool) (maintenance.NodeSelection, error) {
	sel := maintenance.NodeSelection{Nodes: args, Selector: strings.TrimSpace(n.selector)}
	switch {
	case len(args) > 0 && sel.Selector != "":
		return sel, usageErrorf("give node names or -l SELECTOR, not both")
	case required && len(args) == 0 && sel.Selector == "":
		return sel, usageErrorf("no node given: name one or more nodes, or use -l SELECTOR")
	}
	return sel, nil
}
