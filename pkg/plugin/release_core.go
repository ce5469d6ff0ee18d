package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// newCoreReleaseCmds returns status, deploy, switch, promote, abort and rollback.
func newCoreReleaseCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return []*cobra.Command{
		newStatusCmd(getter, streams),
		newDeployCmd(getter, streams),
		newSwitchCmd(getter, streams),
		newPromoteCmd(getter, streams),
		newAbortCmd(getter, streams),
		newRollbackCmd(getter, streams),
	}
}

// keyFlags are the app-model overrides of the core release verbs.
type keyFlags struct {
	colorKey string
}

func (k *keyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.colorKey, "color-key", "", `Label key that selects the blue-green color (default: the Service's feastflow.dev/color-key annotation, else "version")`)
}

func (k *keyFlags) keys() strategy.Keys { return strategy.Keys{ColorKey: k.colorKey} }

// releaseSession is what a release verb's run needs: clients, the audit writer with the
// user filled in, and the library environment.
type releaseSession struct {
	c   *clients
	env *strategy.Env
}

// releaseClients builds the clients of the core release verbs; command tests replace it
// with a fake clientset.
var releaseClients = newClients

// newReleaseSession builds the clients and the environment; w may be nil for read-only verbs.
func newReleaseSession(ctx context.Context, getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams, w *audit.Writer) (*releaseSession, error) {
	c, err := releaseClients(getter)
	if err != nil {
		return nil, err
	}
	if w != nil {
		w.User = c.User(ctx)
	}
	return &releaseSession{c: c, env: &strategy.Env{Client: c.Kube, Writer: w, Progress: reporter(streams)}}, nil
}

// component loads the named component (GET its Service and LIST Deployments), or, with no
// name, the namespace's only component of the wanted strategies.
func (s *releaseSession) component(ctx context.Context, name string, keys strategy.Keys, want ...strategy.Kind) (*strategy.Component, error) {
	if name != "" {
		c, err := strategy.Load(ctx, s.c.Kube, s.c.Namespace, name, keys)
		if err != nil {
			return nil, err
		}
		if len(want) > 0 && !kindIn(c.Strategy, want) {
			return nil, strategy.WrongStrategyError(c, want...)
		}
		return c, nil
	}
	inv, err := strategy.List(ctx, s.c.Kube, s.c.Namespace)
	if err != nil {
		return nil, err
	}
	return strategy.Select(inv.Components(keys), "", want...)
}

func kindIn(k strategy.Kind, want []strategy.Kind) bool {
	for _, w := range want {
		if k == w {
			return true
		}
	}
	return false
}

// releaseError maps library errors to exit codes: an unknown container is bad usage.
func releaseError(err error) error {
	var ce *strategy.ContainerError
	if errors.As(err, &ce) {
		return &exitError{code: ExitUsage, err: err}
	}
	return err
}

// printResult prints a strategy.Result: the message and the changes for people.
func printResult(out *outputFlag, w io.Writer, res *strategy.Result) error {
	return out.print(w, res, func(w io.Writer) error {
		return humanResult(w, res.Message, res.Changes, res.DryRun)
	})
}

func humanResult(w io.Writer, message string, changes []strategy.Change, dryRun string) error {
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
	_, err := fmt.Fprintln(w, term.Escape(message))
	return err
}

// confirmer adapts confirm to the libraries' Confirm callback.
func confirmer(streams genericiooptions.IOStreams, f *writeFlags) func(string) error {
	if f.dryRun != "" && f.dryRun != string(audit.DryRunNone) {
		return nil // a dry run changes nothing: nothing to confirm
	}
	return func(q string) error { return confirm(streams, f.yes, q) }
}

// oneArg returns the optional single argument.
func oneArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return strings.TrimSpace(args[0])
}
