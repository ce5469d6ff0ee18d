package plugin

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// Set at build time with -ldflags -X.
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// VersionInfo is the -o json|yaml schema of `kubectl feastflow version`.
type VersionInfo struct {
	metav1.TypeMeta `json:",inline"`
	Version         string `json:"version"`
	Commit          string `json:"commit"`
	Date            string `json:"date"`
	GoVersion       string `json:"goVersion"`
	Platform        string `json:"platform"`
}

func newVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	out := &outputFlag{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			info := VersionInfo{
				TypeMeta: report.TypeMeta("VersionInfo"), Version: version, Commit: commit, Date: date,
				GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
			}
			return out.print(streams.Out, info, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "kubectl-feastflow %s (commit %s, built %s, %s, %s)\n", info.Version, info.Commit, info.Date, info.GoVersion, info.Platform)
				return err
			})
		},
	}
	out.add(cmd)
	return cmd
}
