package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/progress"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// troubleshootClients are what diagnose and preflight need: the typed client, the metadata
// client (ConfigMaps and Secrets without their data) and the namespace.
type troubleshootClients struct {
	Kube      kubernetes.Interface
	Metadata  metadata.Interface
	Namespace string
}

// newTroubleshootClients builds the clients from kubectl's flags; tests replace it.
type troubleshootClientsFunc func() (*troubleshootClients, error)

func realTroubleshootClients(getter genericclioptions.RESTClientGetter) troubleshootClientsFunc {
	return func() (*troubleshootClients, error) {
		c, err := newClients(getter)
		if err != nil {
			return nil, err
		}
		return &troubleshootClients{Kube: c.Kube, Metadata: c.Metadata, Namespace: c.Namespace}, nil
	}
}

// failOnFlag is --fail-on of diagnose and preflight.
type failOnFlag struct{ value string }

func (f *failOnFlag) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&f.value, "fail-on", string(troubleshoot.SeverityError), "Exit 3 when "+what+" at or above this level exist: info, warning or error")
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"info", "warning", "error"}, cobra.ShellCompDirectiveNoFileComp))
}

func (f *failOnFlag) severity() (troubleshoot.Severity, error) {
	s, ok := troubleshoot.ParseSeverity(f.value)
	if !ok {
		return "", usageErrorf("invalid --fail-on %q: use info, warning or error", f.value)
	}
	return s, nil
}

type diagnoseOptions struct {
	streams  genericiooptions.IOStreams
	clients  troubleshootClientsFunc
	out      outputFlag
	failOn   failOnFlag
	all      bool
	selector string
	logLines int64
	maxLogs  int
	color    func() bool
	now      func() time.Time
	probe    probeFlags

	scope  troubleshoot.Scope
	failAt troubleshoot.Severity
}

func newDiagnoseCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	return newDiagnoseCmdWith(&diagnoseOptions{streams: streams, clients: realTroubleshootClients(getter), now: time.Now}, getter)
}

func newDiagnoseCmdWith(o *diagnoseOptions, getter genericclioptions.RESTClientGetter) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnose [TYPE | TYPE NAME... | TYPE/NAME... | COMPONENT] [-l SELECTOR]",
		Short: "Find why workloads are not serving: ranked root causes with evidence and the fix",
		Long: `Diagnose the namespace (no argument; -A: every namespace), every object of a TYPE
(diagnose pod), some objects (diagnose pod web-1 web-2, diagnose svc/api deploy/web), the objects
of a TYPE matching -l, or a component (a bare name: a Service and the Deployments its selector
reaches). TYPE is one of pod, deploy, svc, node, sts, ds, job, cronjob, ing, hpa, pdb, pvc (kubectl's
singular, plural and short names all work).

Findings are ranked by impact (outage: a Service with no ready endpoint or refusing every
request; degraded; at-risk; hygiene), then severity, confidence and name. One root cause is one
finding: the symptoms it causes elsewhere are folded in ("affects service web: 1 of 2 endpoints
not ready"). Each finding has the object, a one-line cause, the evidence (status fields, every
related event with count and age, the last lines of crashed containers' previous logs) and the
fix: the command to run, the revert first when the previous ReplicaSet is healthy.

It reads with one LIST per kind (paged, in parallel), never one call per object; logs only of
crashed containers, capped. ConfigMaps and Secrets are read as metadata only: no Secret value
is ever fetched or printed. Kinds it may not read are named; when it may not read what the scope
needs (pods for a namespace), it fails (exit 1) instead of reporting "no problems". Exit code 3
when a finding at or above --fail-on exists.`,
		Example: `  # everything wrong in the namespace, worst first
  kubectl feastflow diagnose -n feastflow

  # every pod; two pods; several kinds at once; by label
  kubectl feastflow diagnose pod -n feastflow
  kubectl feastflow diagnose pod feastflow-backend-7d9c-x2x feastflow-backend-7d9c-k8s -n feastflow
  kubectl feastflow diagnose svc/feastflow-backend deploy/feastflow-frontend ing/feastflow -n feastflow
  kubectl feastflow diagnose deploy -l app.kubernetes.io/part-of=feastflow -n feastflow

  # a component: the Service and its Deployments
  kubectl feastflow diagnose feastflow-backend -n feastflow

  # CI gate: fail on warnings too, machine-readable
  kubectl feastflow diagnose -A --fail-on warning -o json`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeDiagnose(getter),
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
	cmd.Flags().BoolVarP(&o.all, "all-namespaces", "A", false, "Diagnose every namespace")
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "Label selector: diagnose the objects of TYPE (pods without a TYPE) carrying these labels, e.g. -l app=web")
	cmd.Flags().Int64Var(&o.logLines, "log-lines", 20, "Lines of each crashed container's previous log to show")
	cmd.Flags().IntVar(&o.maxLogs, "max-logs", 10, "At most this many logs are read (one per failing workload)")
	o.probe.add(cmd.Flags())
	o.failOn.add(cmd, "findings")
	o.out.add(cmd)
	return cmd
}

// colorDecider reads the root's --color flag when the command runs.
func colorDecider(cmd *cobra.Command, w io.Writer) func() bool {
	return func() bool { return palette(cmd, w).Enabled }
}

func (o *diagnoseOptions) complete(args []string) error {
	scope, err := parseDiagnoseArgs(args, o.selector)
	if err != nil {
		return err
	}
	if o.all {
		for _, t := range scope.Targets {
			if t.Name != "" && t.Kind != troubleshoot.ScopeNode {
				return usageErrorf("-A diagnoses every namespace: drop it to diagnose %s", t)
			}
		}
		if scope.Kind == troubleshoot.ScopeComponent {
			return usageErrorf("-A diagnoses every namespace: drop it to diagnose component %s", scope.Name)
		}
	}
	scope.AllNamespaces = o.all
	o.scope = scope
	if o.failAt, err = o.failOn.severity(); err != nil {
		return err
	}
	if err := o.probe.validate(o.scope); err != nil {
		return err
	}
	if o.logLines < 0 || o.maxLogs < 0 {
		return usageErrorf("--log-lines and --max-logs must not be negative")
	}
	return o.out.validate()
}

func (o *diagnoseOptions) run(ctx context.Context) error {
	c, err := o.clients()
	if err != nil {
		return err
	}
	o.scope.Namespace = c.Namespace
	var rep progress.Reporter
	if term.IsTerminal(o.streams.ErrOut) {
		rep = reporter(o.streams)
	}
	maxLogs := o.maxLogs
	if maxLogs == 0 {
		maxLogs = -1 // read none
	}
	r, err := troubleshoot.Diagnose(ctx, c.Kube, o.scope, troubleshoot.Options{
		Metadata: c.Metadata, LogLines: o.logLines, MaxLogs: maxLogs, Now: o.now, Progress: rep,
		Probe: o.probe.options(),
	})
	if err != nil {
		var nf *troubleshoot.NotFoundError
		var fb *troubleshoot.ForbiddenError
		if errors.As(err, &nf) || errors.As(err, &fb) {
			return err
		}
		return fmt.Errorf("diagnose: %w", err)
	}
	for _, s := range r.Skipped {
		warnf(o.streams, "not checked (no permission): %s", term.Escape(s))
	}
	color := o.color != nil && o.color()
	if err := o.out.print(o.streams.Out, r, func(w io.Writer) error {
		if err := printDiagnose(w, r, term.Palette{Enabled: color}); err != nil || r.Probe == nil {
			return err
		}
		return printProbe(w, r.Probe)
	}); err != nil {
		return err
	}
	if err := r.Probe.ForbiddenError(); err != nil {
		return err
	}
	if n := r.AtLeast(o.failAt); n > 0 {
		return problemsFound("%d finding(s) at or above %s (see above; --fail-on sets the level)", n, o.failAt)
	}
	return nil
}

// printDiagnose renders a report for people: a summary line, a table of the findings, then
// each finding's cause, details, evidence and fix. Every server-supplied string is escaped.
func printDiagnose(w io.Writer, r *troubleshoot.Report, pal term.Palette) error {
	scope := scopeText(r.Scope)
	s := r.Summary
	notChecked := ""
	if len(r.Skipped) > 0 {
		notChecked = "; not checked (no permission): " + strings.Join(r.Skipped, ", ")
	}
	if len(r.Findings) == 0 {
		_, err := fmt.Fprintf(w, "%s: no problems found (%d pods, %d services, %d nodes checked%s)\n", scope, s.Pods, s.Services, s.Nodes, term.Escape(notChecked))
		return err
	}
	down := "no service down"
	if s.ServicesDown > 0 {
		down = pal.Red(plural(s.ServicesDown, "service") + " down")
	}
	fmt.Fprintf(w, "%s: %s; %s, %s, %s (%d pods, %d services, %d nodes checked%s)\n\n", scope, down,
		plural(s.Errors, "error"), plural(s.Warnings, "warning"), plural(s.Infos, "info"), s.Pods, s.Services, s.Nodes, term.Escape(notChecked))
	// Several namespaces: a NAMESPACE column, as kubectl get -A prints.
	multi := r.Scope.Namespace == ""
	headers := []string{"#", "IMPACT", "SEVERITY", "CATEGORY", "OBJECT", "CAUSE"}
	if multi {
		headers = append([]string{"#", "NAMESPACE"}, headers[1:]...)
	}
	t := newTable(w, headers...)
	for i := range r.Findings {
		f := &r.Findings[i]
		cells := []string{fmt.Sprint(i + 1), string(f.Impact), string(f.Severity), string(f.Category), f.Object.String(), truncate(f.Cause, 120)}
		if multi {
			cells = append([]string{cells[0], f.Object.Namespace}, cells[1:]...)
		}
		t.row(cells...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s %s %s %s %s (%s confidence)\n", pal.Bold(fmt.Sprintf("%d.", i+1)), strings.ToUpper(string(f.Impact)), severityText(f.Severity, pal), term.Escape(string(f.Category)), term.Escape(objectText(f.Object, r.Scope)), f.Confidence)
		field(w, "cause", []string{f.Cause})
		field(w, "affects", f.Affects)
		if len(f.Pods) > 0 && (f.Object.Kind != "Pod" || len(f.Pods) > 1) {
			field(w, "pods", []string{truncate(strings.Join(f.Pods, ", "), 300)})
		}
		field(w, "details", f.Details)
		field(w, "status", f.Evidence.Status)
		if len(f.Evidence.Events) > 0 {
			field(w, "events", eventLines(f.Evidence.Events, r.Time.Time))
		}
		for _, l := range f.Evidence.Logs {
			which := "log"
			if l.Previous {
				which = "previous log"
			}
			head := fmt.Sprintf("%s of %s/%s, last %d lines:", which, l.Pod, l.Container, len(l.Lines))
			lines := []string{head}
			if l.Error != "" {
				lines = []string{fmt.Sprintf("%s of %s/%s: %s", which, l.Pod, l.Container, l.Error)}
			}
			for _, ln := range l.Lines {
				lines = append(lines, "| "+ln)
			}
			field(w, "logs", lines)
		}
		field(w, "fix", f.Fix)
	}
	return nil
}

func scopeText(s troubleshoot.ScopeRef) string {
	where := "namespace " + s.Namespace
	if s.AllNamespaces {
		where = "all namespaces"
	}
	if len(s.Targets) > 0 {
		parts := make([]string, 0, len(s.Targets))
		for _, t := range s.Targets {
			parts = append(parts, t.String())
		}
		return strings.Join(parts, ", ") + " in " + where
	}
	switch {
	case s.Kind != "" && s.Name == "" && s.Selector != "":
		return fmt.Sprintf("%s -l %s in %s", s.Kind, s.Selector, where)
	case s.Kind == string(troubleshoot.ScopeNode) && s.Name == "":
		return "every node"
	case s.Kind != "" && s.Name == "":
		return fmt.Sprintf("every %s in %s", s.Kind, where)
	case s.Kind == string(troubleshoot.ScopeNode):
		return "node " + s.Name
	case s.Kind == string(troubleshoot.ScopeComponent):
		return fmt.Sprintf("component %s in namespace %s", s.Name, s.Namespace)
	case s.Kind != "":
		return fmt.Sprintf("%s/%s in namespace %s", s.Kind, s.Name, s.Namespace)
	case s.AllNamespaces:
		return "all namespaces"
	}
	return "namespace " + s.Namespace
}

func objectText(o troubleshoot.ObjectRef, scope troubleshoot.ScopeRef) string {
	if o.Namespace != "" && o.Namespace != scope.Namespace {
		return o.String() + " -n " + o.Namespace
	}
	return o.String()
}

func severityText(s troubleshoot.Severity, pal term.Palette) string {
	up := strings.ToUpper(string(s))
	switch s {
	case troubleshoot.SeverityError:
		return pal.Red(up)
	case troubleshoot.SeverityWarning:
		return pal.Yellow(up)
	}
	return up
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if word == "info" {
		return fmt.Sprintf("%d infos", n)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// field prints "  name:  line" and aligns continuation lines; every line is escaped.
func field(w io.Writer, name string, lines []string) {
	if len(lines) == 0 {
		return
	}
	label := fmt.Sprintf("  %-8s ", name+":")
	pad := strings.Repeat(" ", len(label))
	for i, l := range lines {
		if i == 0 {
			fmt.Fprintln(w, label+term.Escape(l))
		} else {
			fmt.Fprintln(w, pad+term.Escape(l))
		}
	}
}

// maxEventLines caps the events shown per finding; -o json has them all.
const maxEventLines = 10

func eventLines(evs []troubleshoot.EventRecord, now time.Time) []string {
	var b strings.Builder
	t := newTable(&b, "LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE")
	shown := evs
	if len(shown) > maxEventLines {
		shown = shown[:maxEventLines]
	}
	for _, e := range shown {
		t.row(term.Age(now, e.LastSeen.Time), e.Type, e.Reason, e.Object, fmt.Sprint(e.Count), truncate(oneLineText(e.Message), 160))
	}
	_ = t.flush()
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(evs) > len(shown) {
		lines = append(lines, fmt.Sprintf("… and %d older events (-o json shows all)", len(evs)-len(shown)))
	}
	return lines
}

func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
