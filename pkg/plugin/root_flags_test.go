package plugin

import (
	"context"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Cobra validates required flags and flag groups after the persistent pre-run; the root
// checks them itself so that they stay usage errors (exit 2) and no verb runs.
func TestRequiredAndGroupedFlagsExit2(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"required flag missing", []string{"probe"}},
		{"mutually exclusive flags", []string{"probe", "--need=x", "--a", "--b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd(testFlags(t, "https://127.0.0.1:1"), genericiooptions.NewTestIOStreamsDiscard())
			ran := false
			probe := &cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
			probe.Flags().String("need", "", "")
			probe.Flags().Bool("a", false, "")
			probe.Flags().Bool("b", false, "")
			_ = probe.MarkFlagRequired("need")
			probe.MarkFlagsMutuallyExclusive("a", "b")
			root.AddCommand(probe)
			root.SetArgs(tt.args)
			err := Execute(context.Background(), root)
			if got := ExitCode(err); got != ExitUsage || ran {
				t.Fatalf("exit = %d (err %v), ran = %v; want exit 2 and no run", got, err, ran)
			}
		})
	}
}
