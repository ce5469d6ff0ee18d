package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// newReleaseCmds returns the release verbs (pkg/strategy): the strategy-aware core verbs
// and the rollout verbs.
func newReleaseCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return append(newCoreReleaseCmds(getter, streams), newRolloutCmds(getter, streams)...)
}
