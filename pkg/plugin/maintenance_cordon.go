package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/maintenance"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type maintCordonOptions struct {
	streams  genericiooptions.IOStreams
	env      maintEnvFunc
	uncordon bool
	force    bool
	nodes    nodeArgs
	write    writeFlags
	out      outputFlag
	sel      maintenance.NodeSelection
	w        *audit.Writer
}

func newMaintCordonCmd(streams genericiooptions.IOStreams, env maintEnvFunc, complete cobra.CompletionFunc, uncordon bool) *cobra.Command {
	o := &maintCordonOptions{streams: streams, env: env, uncordon: uncordon}
	cmd := &cobra.Command{
		Use:   "cordon (NODE... | -l SELECTOR)",
		Short: "Mark nodes unschedulable, recording who, when, why and whether they were cordoned already",
		Example: `  kubectl feastflow maintenance cordon kwok-node-1 --reason "kernel upgrade"
  kubectl feastflow maintenance cordon -l topology.kubernetes.io/zone=zone-a --dry-run=server`,
		ValidArgsFunction: complete,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			return o.run(c.Context())
		},
	}
	if uncordon {
		cmd.Use = "uncordon (NODE... | -l SELECTOR)"
		cmd.Short = "Make nodes schedulable again, but only where kubectl feastflow cordoned them (unless --force)"
		cmd.Example = `  kubectl feastflow maintenance uncordon kwok-node-1

  # A node cordoned by someone else (or before the plugin cordoned it) stays cordoned unless:
  kubectl feastflow maintenance uncordon kwok-node-1 --force`
		cmd.Flags().BoolVar(&o.force, "force", false, "Also lift cordons that kubectl feastflow did not set")
	}
	o.nodes.add(cmd)
	o.write.add(cmd, 30*time.Second)
	o.out.add(cmd)
	return cmd
}

func (o *maintCordonOptions) complete(args []string) error {
	w, err := o.write.writer()
	if err != nil {
		return err
	}
	o.w = w
	if err := o.out.validate(); err != nil {
		return err
	}
	o.sel, err = o.nodes.selection(args, true)
	return err
}

func (o *maintCordonOptions) run(ctx context.Context) error {
	env, err := o.env()
	if err != nil {
		return err
	}
	ctx, cancel := o.write.withTimeout(ctx)
	defer cancel()
	o.w.User = env.user(ctx)
	opts := maintenance.CordonOptions{NodeSelection: o.sel, Writer: o.w, Force: o.force}
	var res *maintenance.CordonResult
	if o.uncordon {
		res, err = maintenance.Uncordon(ctx, env.kube, opts)
	} else {
		res, err = maintenance.Cordon(ctx, env.kube, opts)
	}
	if res != nil {
		for _, n := range res.Nodes {
			if n.Warning != "" {
				warnf(o.streams, "%s", term.Escape(n.Warning))
			}
		}
		if perr := o.out.print(o.streams.Out, res, func(w io.Writer) error { return printNodeChanges(w, res) }); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

func printNodeChanges(w io.Writer, res *maintenance.CordonResult) error {
	for _, n := range res.Nodes {
		if _, err := fmt.Fprintln(w, term.Escape(n.Message)); err != nil {
			return err
		}
	}
	return nil
}
