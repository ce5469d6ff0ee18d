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
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type restartOptions struct {
	releaseVerb

	all           bool
	changedConfig bool
	wait          bool
}

func newRestartCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &restartOptions{releaseVerb: newReleaseVerb(getter, streams)}
	cmd := &cobra.Command{
		Use:   "restart [COMPONENT | --all] [--changed-config]",
		Short: "Rollout-restart a component's Deployments; with --changed-config only those running stale configuration",
		Long: `Rollout-restart the Deployments of a component (or of every component with --all), as
"kubectl rollout restart" does: the kubectl.kubernetes.io/restartedAt pod-template annotation.

With --changed-config, only the Deployments whose running pods started before the last change
of a ConfigMap or Secret they reference (env, envFrom, volumes, projected volumes) are
restarted, and the output lists which object changed. Every deploy and restart by the plugin
records the resourceVersions of the ConfigMaps and Secrets a pod template references in its
feastflow.dev/config-versions annotation; stale means a recorded version differs from the
object's current one. Templates without the record (never deployed or restarted by the plugin)
fall back to times: the object's last change (managedFields) against the start of the oldest
running pod, counting a change less than 2s before it as after it. Only metadata is read:
Secret values never are.`,
		Example: `  kubectl feastflow restart feastflow-backend
  kubectl feastflow restart --all --changed-config --dry-run=client`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.prepare(args, true); err != nil {
				return err
			}
			if o.all && o.component != "" {
				return usageErrorf("give a COMPONENT or --all, not both")
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Every component of the namespace")
	cmd.Flags().BoolVar(&o.changedConfig, "changed-config", false, "Only Deployments whose pods started before a change of a ConfigMap or Secret they reference")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "Wait for each restarted Deployment's rollout (fails fast on broken pods)")
	o.addWrite(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	return cmd
}

func (o *restartOptions) run(ctx context.Context) error {
	return runIn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession) (*strategy.RestartResult, error) {
		var comps []*strategy.Component
		if o.all {
			inv, err := strategy.List(ctx, s.c.Kube, s.c.Namespace)
			if err != nil {
				return nil, err
			}
			comps = inv.Components(o.keys.keys())
			if len(comps) == 0 {
				return nil, fmt.Errorf("no component in namespace %s: nothing to restart", s.c.Namespace)
			}
		} else {
			c, err := s.component(ctx, o.component, o.keys.keys(), false)
			if err != nil {
				return nil, err
			}
			comps = []*strategy.Component{c}
		}
		opts := strategy.RestartOptions{ChangedConfig: o.changedConfig, Wait: o.wait, Timeout: o.write.timeout}
		return strategy.Restart(ctx, s.env, comps, opts)
	}, renderRestart)
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
					parts[i] = configChangeText(b)
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

// configChangeText says what changed and how it was found: by recorded version, or, for a
// template without the record, by time with the tolerance of that comparison.
func configChangeText(b strategy.ConfigChange) string {
	obj := strings.ToLower(b.Kind) + "/" + b.Name
	if b.By == strategy.ByResourceVersion {
		return fmt.Sprintf("%s changed (resourceVersion %s, recorded %s)", obj, b.Current, b.Recorded)
	}
	started := ""
	if b.PodStarted != nil {
		started = b.PodStarted.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s changed %s, pods started %s (compared by time, tolerance %s: no versions recorded on the template)", obj, b.Changed.Format(time.RFC3339), started, b.Tolerance)
}
