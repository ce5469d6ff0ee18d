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

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

type statusOptions struct {
	getter    genericclioptions.RESTClientGetter
	streams   genericiooptions.IOStreams
	out       outputFlag
	keys      keyFlags
	all       bool
	allNS     bool
	watch     bool
	component string
	now       func() time.Time
}

func newStatusCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &statusOptions{getter: getter, streams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "status [COMPONENT] [--all] [-A] [--watch]",
		Short: "Show the release state of components: strategy, live color or canary weight, replicas, last operation",
		Long: `Show the release state of one component or, with no argument (or --all), of every component
in the namespace: its strategy, the live and idle colors (blue-green) or the canary weight set and
actual (canary), per Deployment the images and replicas (desired/updated/ready/available), the pods
that are not ready and why, the last operation recorded and who did it, the HPA, and whether the
namespace's deployment window is open. With -A, every namespace that has components, read with
one paged LIST per kind for the whole cluster.`,
		Example: `  kubectl feastflow status -n feastflow
  kubectl feastflow status feastflow-backend --watch
  kubectl feastflow status -o json
  kubectl feastflow status -A`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "Every component of the namespace (the default without an argument)")
	cmd.Flags().BoolVarP(&o.allNS, "all-namespaces", "A", false, "Every namespace that has components")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "Re-render on every change (watches, no polling) until interrupted")
	o.out.add(cmd)
	o.keys.add(cmd)
	return cmd
}

func (o *statusOptions) complete(args []string) error {
	o.component = oneArg(args)
	if o.all && o.component != "" {
		return usageErrorf("give a COMPONENT or --all, not both")
	}
	if o.allNS && o.component != "" {
		return usageErrorf("give a COMPONENT or -A, not both")
	}
	if o.allNS && o.watch {
		return usageErrorf("--watch follows one namespace; drop -A or --watch")
	}
	return o.out.validate()
}

func (o *statusOptions) run(ctx context.Context) error {
	c, err := releaseClients(o.getter)
	if err != nil {
		return err
	}
	if o.watch {
		first := true
		err := strategy.WatchStatus(ctx, c.Kube, c.Namespace, o.component, o.keys.keys(), func(rep *strategy.StatusReport) error {
			if !first && !o.out.machine() {
				fmt.Fprintln(o.streams.Out)
			}
			if !first && o.out.format == "yaml" {
				fmt.Fprintln(o.streams.Out, "---")
			}
			first = false
			return o.print(rep)
		})
		if ctx.Err() != nil {
			return nil // interrupted: the watch ends normally
		}
		return err
	}
	if o.allNS {
		return o.runAll(ctx, c)
	}
	inv, err := strategy.LoadStatus(ctx, c.Kube, c.Namespace)
	if err != nil {
		return err
	}
	rep, err := strategy.BuildStatus(inv, o.component, o.keys.keys(), o.now())
	return emit(&o.out, o.streams.Out, rep, err, func(w io.Writer, rep *strategy.StatusReport) error { return renderStatus(w, rep, o.now()) })
}

func (o *statusOptions) print(rep *strategy.StatusReport) error {
	return o.out.print(o.streams.Out, rep, func(w io.Writer) error { return renderStatus(w, rep, o.now()) })
}

// renderStatus prints the report for people: the window line, a component table and a
// Deployment table, then the pods that are not ready.
func renderStatus(w io.Writer, rep *strategy.StatusReport, now time.Time) error {
	fmt.Fprintf(w, "Namespace %s: %s\n", term.Escape(rep.Namespace), term.Escape(windowText(rep.Window, now)))
	if len(rep.Components) == 0 {
		_, err := fmt.Fprintf(w, "No components: no Service in namespace %s selects a Deployment.\n", term.Escape(rep.Namespace))
		return err
	}
	fmt.Fprintln(w)
	t := newTable(w, "COMPONENT", "STRATEGY", "LIVE", "IDLE", "CANARY (SET/ACTUAL)", "LAST OPERATION")
	for _, c := range rep.Components {
		canary := ""
		if c.Canary != nil {
			set := "-"
			if c.Canary.SetWeight != nil {
				set = fmt.Sprintf("%d%%", *c.Canary.SetWeight)
			}
			canary = fmt.Sprintf("%s/%d%%", set, c.Canary.ActualWeight)
			if len(c.Canary.Steps) > 0 {
				canary += fmt.Sprintf(" steps %s", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(c.Canary.Steps)), ","), "[]"))
			}
		}
		t.row(c.Name, string(c.Strategy), c.LiveColor, strings.Join(c.IdleColors, ","), canary, opText(c.LastOperation, now))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "DEPLOYMENT", "COMPONENT", "ROLE", "IMAGES", "DESIRED", "UPDATED", "READY", "AVAILABLE", "ROLLOUT", "HPA", "LAST OPERATION")
	var notReady []string
	for _, c := range rep.Components {
		for _, d := range c.Deployments {
			role := d.Role
			if d.Color != "" {
				role = d.Color + " (" + d.Role + ")"
			}
			rollout := d.Rollout
			if d.Paused {
				rollout = "paused, " + rollout
			}
			t.row(d.Name, c.Name, role, imagesCell(d.Images), fmt.Sprint(d.Desired), fmt.Sprint(d.Updated), fmt.Sprint(d.Ready), fmt.Sprint(d.Available), rollout, hpaCell(d.HPA), opText(d.LastOperation, now))
			for _, p := range d.NotReady {
				line := fmt.Sprintf("  %s (%s): %s", p.Pod, d.Name, p.Reason)
				if p.Detail != "" {
					line += ": " + p.Detail
				}
				notReady = append(notReady, term.Escape(line))
			}
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	if err := renderWorkloads(w, rep, now); err != nil {
		return err
	}
	if err := renderAnalyses(w, rep, now); err != nil {
		return err
	}
	if len(notReady) > 0 {
		fmt.Fprintf(w, "\nPods not ready:\n%s\n", strings.Join(notReady, "\n"))
	}
	var warnings []string
	for _, c := range rep.Components {
		for _, msg := range c.Warnings {
			warnings = append(warnings, term.Escape(fmt.Sprintf("  %s: %s", c.Name, msg)))
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintf(w, "\nRelease warnings:\n%s\n", strings.Join(warnings, "\n"))
	}
	return nil
}

func windowText(wi strategy.WindowInfo, now time.Time) string {
	switch {
	case wi.Unknown != "":
		return "deployment window unknown (" + wi.Unknown + ")"
	case !wi.Configured:
		return "no deployment window (release verbs always allowed)"
	case wi.Open:
		return fmt.Sprintf("deployment window open (%s)", scheduleText(wi))
	}
	next := "no opening in the next two weeks"
	if wi.NextOpen != nil {
		next = fmt.Sprintf("next opening %s (in %s)", wi.NextOpen.Format("Mon 2006-01-02 15:04 MST"), duration.HumanDuration(wi.NextOpen.Sub(now)))
	}
	return fmt.Sprintf("deployment window CLOSED: %s; %s", wi.Reason, next)
}

func scheduleText(wi strategy.WindowInfo) string {
	var parts []string
	if wi.Schedule != "" {
		parts = append(parts, wi.Schedule)
	}
	if wi.Freeze != "" {
		parts = append(parts, "freeze "+wi.Freeze)
	}
	return strings.Join(parts, "; ")
}

// opText is "switch blue→green by alice 5m ago: reason".
func opText(op *audit.Operation, now time.Time) string {
	if op == nil {
		return ""
	}
	s := op.Verb
	switch {
	case op.From != "" && op.To != "":
		s += " " + op.From + "→" + op.To
	case op.To != "":
		s += " → " + op.To
	}
	if op.User != "" {
		s += " by " + op.User
	}
	if !op.Time.IsZero() {
		s += " " + duration.HumanDuration(now.Sub(op.Time)) + " ago"
	}
	if op.Reason != "" {
		s += ": " + op.Reason
	}
	if op.Override != "" {
		s += " (window overridden: " + op.Override + ")"
	}
	return s
}

func imagesCell(images []strategy.ContainerImage) string {
	var parts []string
	for _, im := range images {
		if im.Init {
			continue
		}
		parts = append(parts, im.Image)
	}
	return strings.Join(parts, ",")
}

func hpaCell(h *strategy.HPAStatus) string {
	if h == nil {
		return ""
	}
	s := fmt.Sprintf("%s %d-%d (now %d)", h.Name, h.MinReplicas, h.MaxReplicas, h.CurrentReplicas)
	if h.Targets != "" {
		s += " " + h.Targets
	}
	return s
}
