package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type deployOptions struct {
	releaseVerb
	images       []string
	replicas     int32
	color        string
	autoRollback bool
	canary       bool
	smoke        smokeFlags

	opts strategy.DeployOptions
}

func newDeployCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &deployOptions{releaseVerb: newReleaseVerb(getter, streams)}
	cmd := &cobra.Command{
		Use:   "deploy COMPONENT --image [CONTAINER=]IMAGE",
		Short: "Roll out new images the component's way, and fail fast when the new pods cannot start",
		Long: `Roll out new images on a component, the way its strategy does it, and wait until the new pods
are available:

  rolling/recreate  update the Deployment
  blue-green        update the idle color and scale it to the live color's replicas; no traffic moves
                    (switch it live with "kubectl feastflow switch COLOR")
  canary            create or update the canary at the first step
  statefulset       set the template with partition = replicas (nothing moves), then partition 0:
                    every pod replaced, highest ordinal first; with --canary it stays staged for
                    canary-step
  daemonset         update the DaemonSet and wait for every node's pod (a failing node is named)

The wait fails within seconds when a new pod goes to ImagePullBackOff, CrashLoopBackOff, a failed
init container, CreateContainerConfigError or Unschedulable, and prints the diagnosis, instead of
waiting for the progress deadline. --image IMAGE without a container name sets the only container
(and init containers that ran the same image, such as a migration); "*=IMAGE" sets every container.

--smoke PATH (default: the Service's feastflow.dev/smoke-path annotation) GETs PATH on every new
pod through pods/proxy once they are Ready, before the deploy reports success: any answer but 2xx
fails it (exit 1) with the pods, codes and first bytes, and says what was changed.`,
		Example: `  kubectl feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.5.0
  kubectl feastflow deploy feastflow-backend --image backend=ghcr.io/feastflow/backend:1.5.0 --replicas 3
  kubectl feastflow deploy feastflow-frontend --image ghcr.io/feastflow/frontend:2.1.0 --auto-rollback`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd, args); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().StringArrayVar(&o.images, "image", nil, "[CONTAINER=]IMAGE to deploy (repeatable)")
	cmd.Flags().Int32Var(&o.replicas, "replicas", 0, "Replicas of the new release (blue-green: default the live color's)")
	cmd.Flags().StringVar(&o.color, "target-color", "", "Blue-green: the idle color to deploy to when there are several")
	cmd.Flags().BoolVar(&o.autoRollback, "auto-rollback", false, "Undo the change when the rollout fails")
	cmd.Flags().BoolVar(&o.canary, "canary", false, "StatefulSet: stage the new template with partition = replicas (no pod moves); move pods with canary-step")
	o.addWrite(cmd, 10*time.Minute)
	o.smoke.add(cmd)
	o.write.addWindow(cmd)
	return cmd
}

func (o *deployOptions) complete(cmd *cobra.Command, args []string) error {
	if err := o.smoke.validate(); err != nil {
		return err
	}
	if err := o.prepare(args, true); err != nil {
		return err
	}
	if len(o.images) == 0 {
		return usageErrorf("--image is required, e.g. --image ghcr.io/feastflow/backend:1.5.0 or --image CONTAINER=IMAGE")
	}
	for _, s := range o.images {
		im, err := strategy.ParseImageSpec(s)
		if err != nil {
			return usageErrorf("%v", err)
		}
		o.opts.Images = append(o.opts.Images, im)
	}
	if cmd.Flags().Changed("replicas") {
		if o.replicas < 1 {
			return usageErrorf("invalid --replicas %d: must be at least 1", o.replicas)
		}
		r := o.replicas
		o.opts.Replicas = &r
	}
	o.opts.Color, o.opts.AutoRollback, o.opts.Timeout = o.color, o.autoRollback, o.write.timeout
	return nil
}

// run deploys; a failed rollout prints the result (with the diagnosis, and what
// --auto-rollback did) before the error.
func (o *deployOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.DeployResult, error) {
		switch {
		case strategy.IsWorkload(c) && o.smoke.path != "":
			return nil, fmt.Errorf("--smoke applies to components on Deployments; %s is a %s", c.Name(), c.Strategy)
		case strategy.IsWorkload(c):
			return deployWorkload(ctx, s.env, c, o.opts, o.canary)
		case o.canary:
			return nil, fmt.Errorf("--canary applies to statefulset components; %s is %s (a canary component's deploy goes to its first step by itself)", c.Name(), c.Strategy)
		}
		opts := o.opts
		opts.Smoke = o.smoke.smoke(s.c.Kube, false)
		return strategy.Deploy(ctx, s.env, c, opts)
	}, humanDeploy)
}

func humanDeploy(w io.Writer, res *strategy.DeployResult) error {
	if err := humanResult(w, &res.Result); err != nil {
		return err
	}
	if err := humanSmokeReports(w, res.Component, res.Smoke); err != nil {
		return err
	}
	if res.Failure != nil {
		_, err := fmt.Fprintf(w, "failure: pod %s: %s\n", term.Escape(res.Failure.Pod), term.Escape(res.Failure.Message))
		return err
	}
	return nil
}
