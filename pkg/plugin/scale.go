package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type scaleOptions struct {
	releaseVerb
	replicas int32
}

func newScaleCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &scaleOptions{releaseVerb: newReleaseVerb(getter, streams)}
	cmd := &cobra.Command{
		Use:   "scale COMPONENT --replicas N",
		Short: "Set a component's capacity, strategy-aware (live and idle colors, canary total at the current weight)",
		Long: `Set a component's capacity.

rolling/recreate: the Deployment.
blue-green: the live color, and the idle color too when it is up, so that a switch never
lands on a smaller fleet.
canary: the total of stable + canary, keeping the current weight (the canary keeps at least
one pod while its weight is above 0).

Refuses to fight a HorizontalPodAutoscaler that manages one of those Deployments: it says
what it would change and how to change the HPA instead.`,
		Example: `  kubectl feastflow scale feastflow-backend --replicas 6
  kubectl feastflow scale feastflow-backend --replicas 20 --dry-run=client`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.prepare(args, true); err != nil {
				return err
			}
			if !cmd.Flags().Changed("replicas") {
				return usageErrorf("--replicas is required: kubectl feastflow scale COMPONENT --replicas N")
			}
			if o.replicas < 0 {
				return usageErrorf("invalid --replicas %d: must be 0 or more", o.replicas)
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().Int32Var(&o.replicas, "replicas", 0, "The component's new capacity")
	o.addWrite(cmd, time.Minute)
	return cmd
}

func (o *scaleOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.Result, error) {
		return strategy.Scale(ctx, s.env, c, strategy.ScaleOptions{Replicas: o.replicas})
	}, humanOutcome)
}
