package plugin

import (
	"errors"
	"net/url"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

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
