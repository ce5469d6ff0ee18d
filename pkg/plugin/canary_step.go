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
)

type canaryStepOptions struct {
	releaseVerb

	weight    int
	weightSet bool
	steps     string
	force     bool
	analysis  analysisFlags

	parsed []int
}

func newCanaryStepCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &canaryStepOptions{releaseVerb: newReleaseVerb(getter, streams, strategy.Canary, strategy.StatefulSetStrategy, strategy.DaemonSetStrategy)}
	cmd := &cobra.Command{
		Use:   "canary-step [COMPONENT] [--weight N | --steps 10,25,50,100]",
		Short: "Move a canary to its next step (or to N %), scaling the canary up before the stable down",
		Long: `Move a canary component to the next step of its list, or to --weight N percent.

Canary replicas = round(total × N / 100), at least 1 when N > 0; the total (stable + canary)
is kept. The track that gains pods is scaled first and its new pods are waited for (Ready),
then the other track is scaled down, so the Service never has fewer ready pods.

Before moving, the canary must be healthy: all its pods Ready, no container restart since the
last step and no new Warning event (BackOff, Unhealthy, OOMKilling, Failed) on its pods.
--force skips this gate and records that it did.

Steps come from --steps, else the Service's feastflow.dev/canary-steps annotation, else
10,25,50,100. The target is recorded on the Service (feastflow.dev/canary-state) before
anything is scaled: a run interrupted by Ctrl-C or a crash is completed by the next run.`,
		Example: `  # next step (10 → 25 → 50 → 100)
  kubectl feastflow canary-step feastflow-backend

  # straight to 50 %
  kubectl feastflow canary-step feastflow-backend --weight 50 --reason "error rate flat"

  # custom steps, see what would change
  kubectl feastflow canary-step --steps 5,20,100 --dry-run=client`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.weightSet = cmd.Flags().Changed("weight")
			if err := o.complete(args); err != nil {
				return err
			}
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().IntVar(&o.weight, "weight", 0, "Go to this canary weight, in percent (0-100), instead of the next step")
	cmd.Flags().StringVar(&o.steps, "steps", "", "Canary steps in percent, increasing (default: the Service's feastflow.dev/canary-steps, else 10,25,50,100)")
	cmd.Flags().BoolVar(&o.force, "force", false, "Skip the canary health gate (recorded in the last-operation annotation)")
	o.analysis.add(cmd)
	o.write.add(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	o.out.add(cmd)
	return cmd
}

func (o *canaryStepOptions) complete(args []string) error {
	return o.prepare(args, true)
}

// validate checks the flags; no API call.
func (o *canaryStepOptions) validate() error {
	// Flag rules are checked here rather than with cobra's flag groups, which run after the
	// root's pre-run and would not be reported as usage errors (exit 2).
	if err := o.analysis.validate(); err != nil {
		return err
	}
	if o.weightSet && o.steps != "" {
		return usageErrorf("give --weight or --steps, not both")
	}
	if o.weightSet {
		if err := strategy.ValidateWeight(o.weight); err != nil {
			return usageErrorf("%v", err)
		}
	}
	if o.steps != "" {
		steps, err := strategy.ParseSteps(o.steps)
		if err != nil {
			return usageErrorf("%v", err)
		}
		o.parsed = steps
	}
	return nil
}

func (o *canaryStepOptions) run(ctx context.Context) error {
	weight := -1
	if o.weightSet {
		weight = o.weight
	}
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.CanaryStepResult, error) {
		if strategy.IsWorkload(c) {
			return stepWorkload(ctx, s.env, c, strategy.CanaryStepOptions{Weight: weight, Steps: o.parsed, Force: o.force, Timeout: o.write.timeout})
		}
		analysis, err := analyseCanary(ctx, s, c, &o.analysis)
		if err != nil {
			return nil, err
		}
		res, err := strategy.CanaryStep(ctx, s.env, c, strategy.CanaryStepOptions{Weight: weight, Steps: o.parsed, Force: o.force, Timeout: o.write.timeout})
		if res != nil {
			res.Analysis = analysis
		}
		return res, err
	}, humanCanaryStep)
}

func humanCanaryStep(w io.Writer, res *strategy.CanaryStepResult) error {
	if err := humanResult(w, &res.Result); err != nil {
		return err
	}
	if res.Analysis != nil {
		if _, err := fmt.Fprintln(w, res.Analysis.Describe()); err != nil {
			return err
		}
	}
	if res.Gate != nil && res.Gate.Forced {
		_, err := fmt.Fprintln(w, "health gate skipped (--force)")
		return err
	}
	if res.Gate != nil && res.Gate.Pods > 0 {
		_, err := fmt.Fprintf(w, "health gate passed: %d/%d canary pods ready, %d restarts since the last step\n", res.Gate.Ready, res.Gate.Pods, res.Gate.Restarts)
		return err
	}
	return nil
}
