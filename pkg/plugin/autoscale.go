package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type autoscaleOptions struct {
	releaseVerb
	opts strategy.AutoscaleOptions
}

func newAutoscaleCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &autoscaleOptions{releaseVerb: newReleaseVerb(getter, streams)}
	cmd := &cobra.Command{
		Use:   "autoscale COMPONENT --min N --max M --cpu-percent P [--memory-percent Q]",
		Short: "Create or update the component's HorizontalPodAutoscaler on the Deployment that serves traffic",
		Long: `Create or update an autoscaling/v2 HorizontalPodAutoscaler named after the component,
targeting the Deployment that serves traffic: the single Deployment (rolling), the live color
(blue-green) or the stable track (canary, refused while a canary has pods: the HPA would fight
canary-step). An HPA that already targets one of the component's Deployments is updated
instead of adding a second one. Re-running with the same values changes nothing.`,
		Example: `  kubectl feastflow autoscale feastflow-backend --min 2 --max 10 --cpu-percent 70
  kubectl feastflow autoscale feastflow-frontend --min 2 --max 6 --cpu-percent 70 --memory-percent 80`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.prepare(args, true); err != nil {
				return err
			}
			if !cmd.Flags().Changed("max") {
				return usageErrorf("--max is required: kubectl feastflow autoscale COMPONENT --min N --max M --cpu-percent P")
			}
			if err := o.opts.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().Int32Var(&o.opts.Min, "min", 1, "Lowest replica count")
	cmd.Flags().Int32Var(&o.opts.Max, "max", 0, "Highest replica count")
	cmd.Flags().Int32Var(&o.opts.CPUPercent, "cpu-percent", 0, "Target average CPU utilisation, percent of the requests")
	cmd.Flags().Int32Var(&o.opts.MemoryPercent, "memory-percent", 0, "Target average memory utilisation, percent of the requests")
	o.addWrite(cmd, time.Minute)
	return cmd
}

func (o *autoscaleOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.Result, error) {
		return strategy.Autoscale(ctx, s.env, c, o.opts)
	}, humanOutcome)
}
