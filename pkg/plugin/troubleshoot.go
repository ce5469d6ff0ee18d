package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// newTroubleshootCmds returns the troubleshooting verbs (pkg/troubleshoot).
func newTroubleshootCmds(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) []*cobra.Command {
	return []*cobra.Command{
		newDiagnoseCmd(getter, streams),
		newPreflightCmd(getter, streams),
	}
}
