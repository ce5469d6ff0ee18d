package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

type preflightOptions struct {
	streams genericiooptions.IOStreams
	clients troubleshootClientsFunc
	out     outputFlag
	failOn  failOnFlag
	color   func() bool
	now     func() time.Time

	component string
	failAt    troubleshoot.Severity
}

func newPreflightCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	return newPreflightCmdWith(&preflightOptions{streams: streams, clients: realTroubleshootClients(getter), now: time.Now}, getter)
}

func newPreflightCmdWith(o *preflightOptions, getter genericclioptions.RESTClientGetter) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preflight [COMPONENT]",
		Short: "Run the pre-deployment checklist: PASS/WARN/FAIL per check",
		Long: `Check that a component (a Service and the Deployments its selector reaches; with no argument,
every component of the namespace) is ready for a zero-downtime release: the cluster answers
(and its version), you hold the RBAC permissions the release verbs use (SelfSubjectAccessReview),
readiness and liveness probes are present and distinct, requests and limits are set, replicas ≥ 2,
one PodDisruptionBudget that does not block a drain, images pinned (not :latest), RollingUpdate
with maxUnavailable: 0, every referenced ConfigMap, Secret and key exists, the namespace's
deployment window is open, and a graceful shutdown (preStop hook, terminationGracePeriodSeconds).

It changes nothing. Exit code 3 when a check at or above --fail-on fails (default: any FAIL;
--fail-on warning also counts WARN).`,
		Example: `  kubectl feastflow preflight feastflow-backend -n feastflow
  kubectl feastflow preflight -n feastflow --fail-on warning -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(args); err != nil {
				return err
			}
			if o.color == nil {
				o.color = colorDecider(cmd, o.streams.Out)
			}
			return o.run(cmd.Context())
		},
	}
	o.failOn.add(cmd, "checks")
	o.out.add(cmd)
	return cmd
}

func (o *preflightOptions) complete(args []string) error {
	if len(args) == 1 {
		o.component = args[0]
	}
	var err error
	if o.failAt, err = o.failOn.severity(); err != nil {
		return err
	}
	return o.out.validate()
}

func (o *preflightOptions) run(ctx context.Context) error {
	c, err := o.clients()
	if err != nil {
		return err
	}
	r, err := troubleshoot.Preflight(ctx, c.Kube, c.Namespace, o.component, troubleshoot.PreflightOptions{Metadata: c.Metadata, Now: o.now})
	if err != nil {
		var nf *troubleshoot.NotFoundError
		var fb *troubleshoot.ForbiddenError
		if errors.As(err, &nf) || errors.As(err, &fb) {
			return err
		}
		return fmt.Errorf("preflight: %w", err)
	}
	pal := term.Palette{Enabled: o.color != nil && o.color()}
	if err := o.out.print(o.streams.Out, r, func(w io.Writer) error { return printPreflight(w, r, pal) }); err != nil {
		return err
	}
	if n := r.AtLeast(o.failAt); n > 0 {
		return problemsFound("%d preflight check(s) at or above %s (see above; --fail-on sets the level)", n, o.failAt)
	}
	return nil
}

// printPreflight renders one line per check, then the fix of every check that did not pass.
func printPreflight(w io.Writer, r *troubleshoot.PreflightReport, pal term.Palette) error {
	t := newTable(w, "STATUS", "CHECK", "OBJECT", "MESSAGE")
	for _, c := range r.Checks {
		t.row(string(c.Status), c.Name, c.Object, c.Message)
	}
	if err := t.flush(); err != nil {
		return err
	}
	var fixes []string
	for _, c := range r.Checks {
		if c.Status != troubleshoot.CheckPass && c.Fix != "" {
			what := c.Name
			if c.Object != "" {
				what = c.Object + " " + c.Name
			}
			fixes = append(fixes, what+": "+c.Fix)
		}
	}
	if len(fixes) > 0 {
		fmt.Fprintln(w)
		field(w, "fix", fixes)
	}
	verdict := pal.Green("ready to release")
	switch {
	case r.Summary.Fail > 0:
		verdict = pal.Red("not ready")
	case r.Summary.Warn > 0:
		verdict = pal.Yellow("ready, with warnings")
	}
	_, err := fmt.Fprintf(w, "\n%s: %d passed, %d warnings, %d failed\n", verdict, r.Summary.Pass, r.Summary.Warn, r.Summary.Fail)
	return err
}
