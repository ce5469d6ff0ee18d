package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type promoteOptions struct {
	releaseVerb
	delay        time.Duration
	keepOld      bool
	deleteCanary bool
	force        bool
	smoke        smokeFlags
}

func newPromoteCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &promoteOptions{releaseVerb: newReleaseVerb(getter, streams, strategy.BlueGreen, strategy.Canary, strategy.StatefulSetStrategy)}
	cmd := &cobra.Command{
		Use:   "promote [COMPONENT]",
		Short: "Finish a release: blue-green switches (if not yet) and scales the old color down; canary rolls stable forward",
		Long: `Finish a release.

blue-green: switch to the newly deployed color if that has not happened yet, wait
--scale-down-delay after the switch (so that kube-proxy on every node has stopped sending the old
color traffic), then scale the old color to 0 (asks y/N on a terminal, needs --yes elsewhere;
--keep-old skips it). Interrupted during the delay, the switch stays and a re-run finishes.

canary: copy the canary's pod template into stable, roll stable to full capacity, retire the canary.

--smoke PATH (default: the Service's feastflow.dev/smoke-path annotation): blue-green tests the
target pods before the switch and the Service after it; canary tests the canary's pods before
anything is written and stable's new pods before the canary is retired.`,
		Example: `  kubectl feastflow promote feastflow-backend --yes
  kubectl feastflow promote feastflow-backend --scale-down-delay 2m --yes
  kubectl feastflow promote feastflow-backend --keep-old`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().DurationVar(&o.delay, "scale-down-delay", 30*time.Second, "Blue-green: wait this long after the switch before scaling the old color to 0")
	cmd.Flags().BoolVar(&o.keepOld, "keep-old", false, "Blue-green: keep the old color scaled up")
	cmd.Flags().BoolVar(&o.deleteCanary, "delete-canary", false, "Canary: delete the canary Deployment instead of scaling it to 0")
	cmd.Flags().BoolVar(&o.force, "force", false, "Blue-green: switch even when a GitOps controller manages the Service, and promote even when the live color's pod template changed since the switch")
	o.addWrite(cmd, 10*time.Minute)
	o.smoke.add(cmd)
	o.write.addWindow(cmd)
	o.write.addYes(cmd)
	return cmd
}

func (o *promoteOptions) complete(args []string) error {
	if err := o.smoke.validate(); err != nil {
		return err
	}
	if o.delay < 0 {
		return usageErrorf("invalid --scale-down-delay %s: must not be negative", o.delay)
	}
	return o.prepare(args, true)
}

// run promotes; interrupted after the switch (during the scale-down delay), the result
// with the switch in it is printed before the error.
func (o *promoteOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.Result, error) {
		opts := strategy.PromoteOptions{
			ScaleDownDelay: o.delay, KeepOld: o.keepOld, DeleteCanary: o.deleteCanary, Force: o.force,
			Confirm: confirmer(o.streams, &o.write), Timeout: o.write.timeout, Smoke: o.smoke.smoke(s.c.Kube, c.Strategy == strategy.BlueGreen),
		}
		if strategy.IsWorkload(c) {
			return strategy.PromoteStatefulSet(ctx, s.env, c, opts)
		}
		return strategy.Promote(ctx, s.env, c, opts)
	}, humanOutcome)
}
