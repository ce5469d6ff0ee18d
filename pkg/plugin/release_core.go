package plugin

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
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
	return &releaseSession{c: c, env: &strategy.Env{Client: c.Kube, Metadata: c.Metadata, Writer: w, Progress: reporter(streams)}}, nil
}

// component is the one component resolver of the release verbs (strategy.Resolve): the
// named component, or with no name the namespace's only one of the wanted strategies. Its
// failures are errors (exit 1) that list the candidates.
func (s *releaseSession) component(ctx context.Context, name string, keys strategy.Keys, allowUnknown bool, want ...strategy.Kind) (*strategy.Component, error) {
	return strategy.Resolve(ctx, s.c.Kube, s.c.Namespace, name, keys, allowUnknown, want...)
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
