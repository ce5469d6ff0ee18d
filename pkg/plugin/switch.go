package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type switchOptions struct {
	releaseVerb
	all    bool
	force  bool
	verify time.Duration
	smoke  smokeFlags

	opts strategy.SwitchOptions
}

func newSwitchCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &switchOptions{releaseVerb: newReleaseVerb(getter, streams, strategy.BlueGreen)}
	cmd := &cobra.Command{
		Use:   "switch COLOR [COMPONENT | --all]",
		Short: "Move a blue-green component's traffic to a color, after a preflight, and verify the endpoints",
		Long: `Move the traffic of a blue-green component (or, with --all, of every blue-green component of the
namespace) to COLOR:

  1. preflight, every component first, nothing written if any fails: the target Deployment's spec
     is observed and ready == available == desired >= 1, its pods are Ready with their init
     containers completed, the Service's targetPort resolves on them, the deployment window is
     open, and no GitOps controller (Argo CD, Flux) manages the Service (--force to switch anyway);
  2. one patch of the Service's selector that tests the old color, so that a concurrent switch
     fails instead of overwriting, recording the previous color (for rollback) and the operation;
  3. verify through a watch that the Service's EndpointSlices list only the target's pods;
  4. record an Event.

Both colors stay up (promote scales the old one down). Switching to the live color does nothing.`,
		Example: `  kubectl feastflow switch green feastflow-backend
  kubectl feastflow switch green --all --reason "release 1.5.0"
  kubectl feastflow switch green feastflow-backend --dry-run=server`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: switchCompletion(getter),
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Switch every blue-green component of the namespace (all preflights pass before the first write)")
	cmd.Flags().BoolVar(&o.force, "force", false, "Switch even when a GitOps controller manages the Service (it may revert the switch)")
	cmd.Flags().DurationVar(&o.verify, "verify-timeout", strategy.DefaultVerifyTimeout, "How long to wait for the EndpointSlices to list only the target's pods")
	o.smoke.add(cmd)
	o.addWrite(cmd, 2*time.Minute)
	o.write.addWindow(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.complete(args); err != nil {
			return err
		}
		return o.run(cmd.Context())
	}
	return cmd
}

func switchCompletion(getter genericclioptions.RESTClientGetter) cobra.CompletionFunc {
	colors := completeLabelValues(getter, strategy.DefaultColorKey)
	services := completeServices(getter)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return colors(cmd, args, toComplete)
		}
		if len(args) == 1 {
			return services(cmd, args, toComplete)
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func (o *switchOptions) complete(args []string) error {
	if err := o.prepare(args[1:], true); err != nil {
		return err
	}
	color := strings.TrimSpace(args[0])
	if color == "" {
		return usageErrorf("COLOR must not be empty")
	}
	if len(args) == 2 && o.all {
		return usageErrorf("give a COMPONENT or --all, not both")
	}
	if o.verify <= 0 {
		return usageErrorf("invalid --verify-timeout %s: must be positive", o.verify)
	}
	if err := o.smoke.validate(); err != nil {
		return err
	}
	o.opts = strategy.SwitchOptions{Color: color, Component: o.component, All: o.all, Keys: o.keys.keys(), Force: o.force, VerifyTimeout: o.verify}
	return nil
}

// run switches: the library resolves the components itself (with --all, several) with the
// same errors as the resolver; the result of a switch whose verification failed is printed
// before the error.
func (o *switchOptions) run(ctx context.Context) error {
	return runIn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession) (*strategy.SwitchResult, error) {
		o.opts.Namespace = s.c.Namespace
		o.opts.Smoke = o.smoke.smoke(s.c.Kube, true)
		return strategy.Switch(ctx, s.env, o.opts)
	}, humanSwitch)
}

func humanSwitch(w io.Writer, res *strategy.SwitchResult) error {
	if res.Changed || res.DryRun != "" {
		t := newTable(w, "COMPONENT", "FROM", "TO", "DEPLOYMENT", "READY ENDPOINTS", "VERIFIED")
		for _, c := range res.Components {
			verified := fmt.Sprint(c.Verified)
			endpoints := fmt.Sprint(c.ReadyEndpoints)
			if res.DryRun != "" || !c.Changed {
				verified, endpoints = "-", "-"
			}
			t.row(c.Component, c.From, c.To, c.Deployment, endpoints, verified)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if err := humanSmoke(w, res.Components); err != nil {
			return err
		}
	}
	var changes []strategy.Change
	if res.DryRun != "" {
		for _, c := range res.Components {
			changes = append(changes, c.Changes...)
		}
	}
	return humanChanges(w, res.Message, changes, res.DryRun, res.Planned)
}
