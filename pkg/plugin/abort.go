package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type abortOptions struct {
	releaseVerb
}

func newAbortCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &abortOptions{releaseVerb: newReleaseVerb(getter, streams, strategy.BlueGreen, strategy.Canary, strategy.StatefulSetStrategy)}
	cmd := &cobra.Command{
		Use:   "abort [COMPONENT]",
		Short: "Undo a release in progress: blue-green idle color to 0 before a switch; canary to 0, stable back to full",
		Long: `Undo a release in progress.

blue-green: before a switch, scale the newly deployed idle color back to 0 (traffic never moved).
After a switch, use rollback instead.
canary: scale stable back to full capacity first, then the canary to 0.

Asks y/N on a terminal, needs --yes elsewhere.`,
		Example:           `  kubectl feastflow abort feastflow-backend --yes`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.prepare(args, true); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addWrite(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	o.write.addYes(cmd)
	return cmd
}

func (o *abortOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.Result, error) {
		opts := strategy.AbortOptions{Confirm: confirmer(o.streams, &o.write), Timeout: o.write.timeout}
		if strategy.IsWorkload(c) {
			return strategy.AbortStatefulSet(ctx, s.env, c, opts)
		}
		return strategy.Abort(ctx, s.env, c, opts)
	}, humanOutcome)
}
