package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// newMaintenanceCmds returns the maintenance verbs (pkg/maintenance).
func newMaintenanceCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return nil
}
