package plugin

import (
	"context"
	"errors"
	"net/url"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

// newRolloutCmds returns canary-step, scale, autoscale, history, pause, resume and restart.
func newRolloutCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return []*cobra.Command{
		newCanaryStepCmd(getter, streams),
		newScaleCmd(getter, streams),
		newAutoscaleCmd(getter, streams),
		newHistoryCmd(getter, streams),
		newPauseCmd(getter, streams, true),
		newPauseCmd(getter, streams, false),
		newRestartCmd(getter, streams),
	}
}

// componentCmd is what a verb acting on one component with a *strategy.Result shares:
// kubectl's flags, -o, the write flags, the label keys and the component argument.
type componentCmd struct {
	getter  genericclioptions.RESTClientGetter
	streams genericiooptions.IOStreams
	out     outputFlag
	write   writeFlags
	keys    keyFlags

	component string
	writer    *audit.Writer
}

// runOnComponent opens a release session, resolves the component, bounds ctx by --timeout
// and prints the result of op on it.
func (o *componentCmd) runOnComponent(ctx context.Context, op func(ctx context.Context, env *strategy.Env, c *strategy.Component) (*strategy.Result, error)) error {
	s, err := newReleaseSession(ctx, o.getter, o.streams, o.writer)
	if err != nil {
		return err
	}
	c, err := s.component(ctx, o.component, o.keys.keys())
	if err != nil {
		return componentError(err)
	}
	ctx, cancel := o.write.withTimeout(ctx)
	defer cancel()
	return runResult(&o.out, o.streams, func() (*strategy.Result, error) { return op(ctx, s.env, c) })
}

// runResult runs a library call that returns a *strategy.Result and prints it: the result
// is printed on success, and on failure when it recorded changes (what did change).
func runResult(out *outputFlag, streams genericiooptions.IOStreams, call func() (*strategy.Result, error)) error {
	res, err := call()
	if res != nil && (err == nil || res.Changed) {
		if perr := printResult(out, streams.Out, res); perr != nil && err == nil {
			return perr
		}
	}
	return releaseError(err)
}

// componentError makes a component argument that cannot be resolved (unknown, of another
// strategy, ambiguous) bad usage, exit 2: nothing was changed and the fix is in the
// arguments. API failures (forbidden, unreachable) stay errors, exit 1.
func componentError(err error) error {
	if err == nil {
		return nil
	}
	var status apierrors.APIStatus
	var urlErr *url.Error
	if errors.As(err, &status) || errors.As(err, &urlErr) {
		return err
	}
	return asUsage(err)
}
