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
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type restartOptions struct {
	getter  genericclioptions.RESTClientGetter
	streams genericiooptions.IOStreams
	out     outputFlag
	write   writeFlags
	keys    keyFlags

	all           bool
	changedConfig bool
	wait          bool

	component string
	writer    *audit.Writer
}

func newRestartCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &restartOptions{getter: getter, streams: streams}
	cmd := &cobra.Command{
		Use:   "restart [COMPONENT | --all] [--changed-config]",
		Short: "Rollout-restart a component's Deployments; with --changed-config only those running stale configuration",
		Long: `Rollout-restart the Deployments of a component (or of every component with --all), as
"kubectl rollout restart" does: the kubectl.kubernetes.io/restartedAt pod-template annotation.

With --changed-config, only the Deployments whose running pods started before the last change
of a ConfigMap or Secret they reference (env, envFrom, volumes, projected volumes) are
restarted, and the output lists which object changed when. Change times come from the objects'
metadata (managedFields): Secret values are never read.`,
		Example: `  kubectl feastflow restart feastflow-backend
  kubectl feastflow restart --all --changed-config --dry-run=client`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.component = oneArg(args)
			if err := o.out.validate(); err != nil {
				return err
			}
			if o.all && o.component != "" {
				return usageErrorf("give a COMPONENT or --all, not both")
			}
			w, err := o.write.writer()
			if err != nil {
				return err
			}
			o.writer = w
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Every component of the namespace")
	cmd.Flags().BoolVar(&o.changedConfig, "changed-config", false, "Only Deployments whose pods started before a change of a ConfigMap or Secret they reference")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "Wait for each restarted Deployment's rollout (fails fast on broken pods)")
	o.write.add(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	o.out.add(cmd)
	o.keys.add(cmd)
	return cmd
}

func (o *restartOptions) run(ctx context.Context) error {
	s, err := newReleaseSession(ctx, o.getter, o.streams, o.writer)
	if err != nil {
		return err
	}
	var comps []*strategy.Component
	if o.all {
		inv, err := strategy.List(ctx, s.c.Kube, s.c.Namespace)
		if err != nil {
			return err
		}
		comps = inv.Components(o.keys.keys())
		if len(comps) == 0 {
			return fmt.Errorf("no component in namespace %s: nothing to restart", s.c.Namespace)
		}
	} else {
		c, err := s.component(ctx, o.component, o.keys.keys())
		if err != nil {
			return componentError(err)
		}
		comps = []*strategy.Component{c}
	}
	opts := strategy.RestartOptions{ChangedConfig: o.changedConfig, Wait: o.wait, Timeout: o.write.timeout}
	if o.changedConfig {
		if opts.Metadata, err = metadata.NewForConfig(s.c.Config); err != nil {
			return fmt.Errorf("create metadata client: %w", err)
		}
	}
	ctx, cancel := o.write.withTimeout(ctx)
	defer cancel()
	res, err := strategy.Restart(ctx, s.env, comps, opts)
	if res != nil && err == nil {
		err = strategy.RestartWorkloads(ctx, s.env, comps, opts, res)
	}
	if res != nil {
		if perr := o.out.print(o.streams.Out, res, func(w io.Writer) error { return renderRestart(w, res) }); perr != nil && err == nil {
			return perr
		}
	}
	return err
}

func renderRestart(w io.Writer, res *strategy.RestartResult) error {
	if len(res.Restarted)+len(res.Skipped) > 0 {
		verb := "restarted"
		if res.DryRun != "" {
			verb = "would restart"
		}
		t := newTable(w, "DEPLOYMENT", "COMPONENT", "ACTION", "WHY")
		for _, r := range res.Restarted {
			why := "rollout restart"
			if len(r.Because) > 0 {
				parts := make([]string, len(r.Because))
				for i, b := range r.Because {
					parts[i] = fmt.Sprintf("%s/%s changed %s, pods started %s", strings.ToLower(b.Kind), b.Name, b.Changed.Format(time.RFC3339), b.PodStarted.Format(time.RFC3339))
				}
				why = strings.Join(parts, "; ")
			}
			t.row(r.Deployment, r.Component, verb, why)
		}
		for _, r := range res.Skipped {
			t.row(r.Deployment, r.Component, "skipped", r.Reason)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, term.Escape(res.Message))
	return err
}
