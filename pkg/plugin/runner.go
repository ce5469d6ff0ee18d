package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// releaseVerb is what every release verb shares: kubectl's flags, -o, the write flags, the
// label keys, the component argument and the strategies the verb works on. Every release
// verb runs through runOn (one component) or runIn (verbs that pick their components
// themselves: switch, restart --all, status), so that the same failure gives the same exit
// code and the same output from every verb:
//
//   - bad flags or arguments are usage errors (exit 2) raised by prepare, before any request;
//   - an unknown component, a component of another strategy, an unknown color or container
//     are errors (exit 1: a request was needed to know) whose message lists the candidates;
//   - a result that exists is printed in the chosen output (-o json|yaml too), then the
//     error, also when the run was interrupted (Ctrl-C) or timed out half-way;
//   - a result's "changed" is false in every dry run, where "changes" lists what would change.
type releaseVerb struct {
	getter  genericclioptions.RESTClientGetter
	streams genericiooptions.IOStreams
	out     outputFlag
	write   writeFlags
	keys    keyFlags

	// want are the strategies the verb works on (empty: every recognised one);
	// allowUnknown also accepts a Service that reaches no releasable Deployment (history).
	want         []strategy.Kind
	allowUnknown bool

	component string
	writer    *audit.Writer // nil for read-only verbs
}

func newReleaseVerb(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams, want ...strategy.Kind) releaseVerb {
	return releaseVerb{getter: getter, streams: streams, want: want}
}

// addWrite registers -o, the write flags (--dry-run, --timeout, --reason) and --color-key.
func (v *releaseVerb) addWrite(cmd *cobra.Command, timeout time.Duration) {
	v.write.add(cmd, timeout)
	v.out.add(cmd)
	v.keys.add(cmd)
}

// prepare reads the component argument and checks -o and, for write verbs, the write
// flags: no I/O, so its errors are usage errors (exit 2) sent before any request.
func (v *releaseVerb) prepare(args []string, writes bool) error {
	v.component = oneArg(args)
	if err := v.out.validate(); err != nil {
		return err
	}
	if !writes {
		return nil
	}
	w, err := v.write.writer()
	if err != nil {
		return err
	}
	v.writer = w
	return nil
}

// runOn is the runner of a verb on one component: it opens the session, bounds ctx by
// --timeout, resolves the component (the one resolver: strategy.Resolve) and prints op's
// result by the one print rule.
func runOn[T any](ctx context.Context, v *releaseVerb, op func(context.Context, *releaseSession, *strategy.Component) (*T, error), human func(io.Writer, *T) error) error {
	return runIn(ctx, v, func(ctx context.Context, s *releaseSession) (*T, error) {
		c, err := s.component(ctx, v.component, v.keys.keys(), v.allowUnknown, v.want...)
		if err != nil {
			return nil, err
		}
		return op(ctx, s, c)
	}, human)
}

// runIn is the runner of a verb that resolves its own components.
func runIn[T any](ctx context.Context, v *releaseVerb, op func(context.Context, *releaseSession) (*T, error), human func(io.Writer, *T) error) error {
	s, err := newReleaseSession(ctx, v.getter, v.streams, v.writer)
	if err != nil {
		return err
	}
	ctx, cancel := v.write.withTimeout(ctx)
	defer cancel()
	res, err := op(ctx, s)
	return emit(&v.out, v.streams.Out, res, err, human)
}

// emit is the one print rule: a result that exists is settled (strategy.Result.Settle),
// printed in the chosen output, and then the error, if any, is returned for main to print
// on stderr after it.
func emit[T any](out *outputFlag, w io.Writer, res *T, err error, human func(io.Writer, *T) error) error {
	if res == nil {
		return err
	}
	if o, ok := any(res).(strategy.Outcome); ok {
		o.Common().Settle()
	}
	perr := out.print(w, res, func(w io.Writer) error { return human(w, res) })
	if err != nil {
		return err
	}
	return perr
}

// humanOutcome renders a plain strategy.Result for people.
func humanOutcome(w io.Writer, res *strategy.Result) error {
	return humanResult(w, res)
}

// humanResult prints the changes (made, or with a dry run, that would be made) as a table,
// under a dry run the plan (one numbered line per step), then the message.
func humanResult(w io.Writer, res *strategy.Result) error {
	return humanChanges(w, res.Message, res.Changes, res.DryRun, res.Planned)
}

// humanChanges is humanResult of a result whose changes are gathered elsewhere (switch).
func humanChanges(w io.Writer, message string, changes []strategy.Change, dryRun string, planned []strategy.Step) error {
	if len(changes) > 0 {
		header := "CHANGED"
		if dryRun != "" {
			header = "WOULD CHANGE"
		}
		t := newTable(w, "OBJECT", "FIELD", "FROM", header)
		for _, ch := range changes {
			t.row(ch.Object, ch.Field, ch.From, ch.To)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if dryRun != "" && len(planned) > 0 {
		if _, err := fmt.Fprintln(w, "plan:"); err != nil {
			return err
		}
		for i, s := range planned {
			if _, err := fmt.Fprintf(w, "  %d. %s\n", i+1, term.Escape(strategy.StepText(s))); err != nil {
				return err
			}
		}
	}
	if message == "" {
		return nil
	}
	_, err := fmt.Fprintln(w, term.Escape(message))
	return err
}
