package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// newReleaseCmds returns the release verbs (pkg/strategy).
func newReleaseCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return nil
}
