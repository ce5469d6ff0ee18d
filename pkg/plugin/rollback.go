package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type rollbackOptions struct {
	releaseVerb
	toRevision int64
	force      bool
}

func newRollbackCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &rollbackOptions{releaseVerb: newReleaseVerb(getter, streams, strategy.Rolling, strategy.Recreate, strategy.BlueGreen, strategy.Canary, strategy.StatefulSetStrategy, strategy.DaemonSetStrategy)}
	cmd := &cobra.Command{
		Use:   "rollback [COMPONENT] [--to-revision N]",
		Short: "Return to the previous release: blue-green switches back, rolling undoes the rollout, canary aborts",
		Long: `Return to the previous release.

blue-green: switch back to the previous color of the Service's release record (annotation
feastflow.dev/release, written by the last switch); when that color was scaled to 0, scale it up to the live color's
replicas first and wait until it is available. Re-running it after success does nothing.
rolling/recreate: undo the rollout like "kubectl rollout undo" (--to-revision N).
canary: abort.`,
		Example: `  kubectl feastflow rollback feastflow-backend
  kubectl feastflow rollback feastflow-frontend --to-revision 3`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.toRevision < 0 {
				return usageErrorf("invalid --to-revision %d: must not be negative", o.toRevision)
			}
			if err := o.prepare(args, true); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().Int64Var(&o.toRevision, "to-revision", 0, "Rolling: the revision to return to (default: the previous one)")
	cmd.Flags().BoolVar(&o.force, "force", false, "Blue-green: switch back even when a GitOps controller manages the Service, or when the previous color's pod template changed since it was live")
	o.addWrite(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	return cmd
}

func (o *rollbackOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.Result, error) {
		opts := strategy.RollbackOptions{ToRevision: o.toRevision, Timeout: o.write.timeout, Force: o.force}
		if strategy.IsWorkload(c) {
			return strategy.RollbackWorkload(ctx, s.env, c, opts)
		}
		if o.toRevision != 0 && c.Strategy != strategy.Rolling && c.Strategy != strategy.Recreate {
			return nil, fmt.Errorf("--to-revision applies to rolling, statefulset and daemonset components; %s is %s (blue-green switches back to the previous color, canary aborts: omit --to-revision)", c.Name(), c.Strategy)
		}
		return strategy.Rollback(ctx, s.env, c, strategy.RollbackOptions{ToRevision: o.toRevision, Timeout: o.write.timeout, Force: o.force})
	}, humanOutcome)
}
