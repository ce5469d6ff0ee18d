package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type pauseOptions struct {
	releaseVerb
	pause bool
}

// newPauseCmd builds pause (pause=true) or resume.
func newPauseCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams, pause bool) *cobra.Command {
	o := &pauseOptions{releaseVerb: newReleaseVerb(getter, streams), pause: pause}
	cmd := &cobra.Command{
		Use:   "pause [COMPONENT]",
		Short: "Pause the rollouts of every Deployment of a component, as kubectl rollout pause",
		Long: `Pause the rollouts of every Deployment of a component (spec.paused), as "kubectl rollout
pause" does for one: template changes are recorded but not rolled out until resume.
Deployments already paused are left alone.`,
		Example:           `  kubectl feastflow pause feastflow-frontend --reason "investigating latency"`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.prepare(args, true); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	if !pause {
		cmd.Use = "resume [COMPONENT]"
		cmd.Short = "Resume the paused rollouts of a component's Deployments, as kubectl rollout resume"
		cmd.Long = `Resume the rollouts of every paused Deployment of a component, as "kubectl rollout
resume" does for one. A resumed rollout is a release: the namespace's deployment window is
checked (--override-window=REASON).`
		cmd.Example = `  kubectl feastflow resume feastflow-frontend`
		o.write.addWindow(cmd)
	}
	o.addWrite(cmd, time.Minute)
	return cmd
}

func (o *pauseOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.Result, error) {
		switch {
		case strategy.IsWorkload(c) && o.pause:
			return strategy.PauseWorkload(ctx, s.env, c)
		case strategy.IsWorkload(c):
			return strategy.ResumeWorkload(ctx, s.env, c)
		case o.pause:
			return strategy.Pause(ctx, s.env, c)
		}
		return strategy.Resume(ctx, s.env, c)
	}, humanOutcome)
}
