package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
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
