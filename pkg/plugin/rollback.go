package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type rollbackOptions struct {
	getter     genericclioptions.RESTClientGetter
	streams    genericiooptions.IOStreams
	out        outputFlag
	write      writeFlags
	keys       keyFlags
	toRevision int64
	force      bool

	component string
	writer    *audit.Writer
}

func newRollbackCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &rollbackOptions{getter: getter, streams: streams}
	cmd := &cobra.Command{
		Use:   "rollback [COMPONENT] [--to-revision N]",
		Short: "Return to the previous release: blue-green switches back, rolling undoes the rollout, canary aborts",
		Long: `Return to the previous release.

blue-green: switch back to the color recorded in the Service's feastflow.dev/previous-color
annotation by the last switch; when that color was scaled to 0, scale it up to the live color's
replicas first and wait until it is available. Re-running it after success does nothing.
rolling/recreate: undo the rollout like "kubectl rollout undo" (--to-revision N).
canary: abort.`,
		Example: `  kubectl feastflow rollback feastflow-backend
  kubectl feastflow rollback feastflow-frontend --to-revision 3`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.component = oneArg(args)
			if err := o.out.validate(); err != nil {
				return err
			}
			if o.toRevision < 0 {
				return usageErrorf("invalid --to-revision %d: must not be negative", o.toRevision)
			}
			w, err := o.write.writer()
			if err != nil {
				return err
			}
			o.writer = w
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().Int64Var(&o.toRevision, "to-revision", 0, "Rolling: the revision to return to (default: the previous one)")
	cmd.Flags().BoolVar(&o.force, "force", false, "Blue-green: switch back even when a GitOps controller manages the Service")
	o.write.add(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	o.out.add(cmd)
	o.keys.add(cmd)
	return cmd
}

func (o *rollbackOptions) run(ctx context.Context) error {
	s, err := newReleaseSession(ctx, o.getter, o.streams, o.writer)
	if err != nil {
		return err
	}
	c, err := s.component(ctx, o.component, o.keys.keys(), append([]strategy.Kind{strategy.Rolling, strategy.Recreate, strategy.BlueGreen, strategy.Canary}, strategy.WorkloadKinds()...)...)
	if err != nil {
		return err
	}
	if o.toRevision != 0 && c.Strategy != strategy.Rolling && c.Strategy != strategy.Recreate && !strategy.IsWorkload(c) {
		return usageErrorf("--to-revision applies to rolling, statefulset and daemonset components; %s is %s", c.Name(), c.Strategy)
	}
	ctx, cancel := o.write.withTimeout(ctx)
	defer cancel()
	opts := strategy.RollbackOptions{ToRevision: o.toRevision, Timeout: o.write.timeout, Force: o.force}
	var res *strategy.Result
	if strategy.IsWorkload(c) {
		res, err = strategy.RollbackWorkload(ctx, s.env, c, opts)
	} else {
		res, err = strategy.Rollback(ctx, s.env, c, opts)
	}
	if res != nil && err == nil {
		if perr := printResult(&o.out, o.streams.Out, res); perr != nil {
			return perr
		}
	}
	return releaseError(err)
}
