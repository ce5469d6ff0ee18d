package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// writeFlags are the flags every write verb has: --dry-run, --timeout, --reason and
// --override-window (release verbs), --yes (destructive verbs).
type writeFlags struct {
	dryRun         string
	timeout        time.Duration
	reason         string
	overrideWindow string
	yes            bool
}

// add registers --dry-run, --timeout and --reason.
func (f *writeFlags) add(cmd *cobra.Command, defaultTimeout time.Duration) {
	cmd.Flags().StringVar(&f.dryRun, "dry-run", "none", `Must be "none", "client", or "server". client: only print what would change; server: send every write with dryRun=All, nothing persists`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
	cmd.Flags().DurationVar(&f.timeout, "timeout", defaultTimeout, "How long to wait before giving up (0 waits forever)")
	cmd.Flags().StringVar(&f.reason, "reason", "", "Why: recorded in the last-operation annotation and the Event")
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
}

// addWindow registers --override-window on release verbs.
func (f *writeFlags) addWindow(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.overrideWindow, "override-window", "", "Act outside the namespace's deployment window or freeze; the given reason is recorded")
}

// addYes registers --yes on destructive verbs.
func (f *writeFlags) addYes(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "Do not ask for confirmation (required when stdin is not a terminal)")
}

// writer validates the flags (no I/O) and returns the audit writer; the user is filled in
// later by Run, because finding it may need an API call.
func (f *writeFlags) writer() (*audit.Writer, error) {
	mode, err := audit.ParseDryRun(f.dryRun)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if f.timeout < 0 {
		return nil, usageErrorf("invalid --timeout %s: must not be negative", f.timeout)
	}
	return &audit.Writer{DryRun: mode, Reason: f.reason, OverrideWindow: f.overrideWindow}, nil
}

// withTimeout bounds ctx by --timeout (0: no bound).
func (f *writeFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, f.timeout)
}
