package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type historyOptions struct {
	releaseVerb
	now func() time.Time
}

func newHistoryCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &historyOptions{releaseVerb: newReleaseVerb(getter, streams), now: time.Now}
	o.allowUnknown = true
	cmd := &cobra.Command{
		Use:   "history [COMPONENT]",
		Short: "Show the rollout history of a component's Deployments, with images, change cause and time",
		Long: `Show the revisions of every Deployment of a component, as "kubectl rollout history"
lists them (from the Deployments' ReplicaSets), with the images of each revision, its change
cause (set by kubectl feastflow deploy), when it was created and which one is current.`,
		Example:           `  kubectl feastflow history feastflow-frontend`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.prepare(args, false); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.out.add(cmd)
	o.keys.add(cmd)
	return cmd
}

func (o *historyOptions) run(ctx context.Context) error {
	return runOn(ctx, &o.releaseVerb, func(ctx context.Context, s *releaseSession, c *strategy.Component) (*strategy.HistoryResult, error) {
		return strategy.History(ctx, s.env, c)
	}, func(w io.Writer, res *strategy.HistoryResult) error { return renderHistory(w, res, o.now()) })
}

func renderHistory(w io.Writer, res *strategy.HistoryResult, now time.Time) error {
	t := newTable(w, "DEPLOYMENT", "REVISION", "IMAGES", "CHANGE-CAUSE", "AGE", "REPLICAS", "CURRENT")
	for _, d := range res.Deployments {
		name := d.Deployment
		if d.Role != "" {
			name += " (" + d.Role + ")"
		}
		if d.Paused {
			name += " [paused]"
		}
		if len(d.Revisions) == 0 {
			t.row(name, "", "", "no rollout history found", "", "", "")
		}
		for _, r := range d.Revisions {
			cur := "no"
			if r.Current {
				cur = "yes"
			}
			t.row(name, fmt.Sprint(r.Revision), historyImages(r.Images), r.ChangeCause, duration.HumanDuration(now.Sub(r.Created)), fmt.Sprint(r.Replicas), cur)
		}
	}
	if len(res.Deployments) == 0 && len(res.Workloads) > 0 {
		return renderWorkloadHistory(w, res, now)
	}
	return t.flush()
}

func historyImages(images []strategy.ContainerImage) string {
	parts := make([]string, 0, len(images))
	for _, im := range images {
		switch {
		case im.Init:
			parts = append(parts, im.Container+"(init)="+im.Image)
		case len(images) > 1:
			parts = append(parts, im.Container+"="+im.Image)
		default:
			parts = append(parts, im.Image)
		}
	}
	return strings.Join(parts, ",")
}
