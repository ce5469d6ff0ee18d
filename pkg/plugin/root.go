// Package plugin wires the kubectl-feastflow command line: cobra commands and flags turn
// into the inputs of the libraries (pkg/strategy, pkg/troubleshoot, pkg/maintenance), and
// their typed results into tables for people or JSON/YAML for machines.
package plugin

import (
	"context"
	"flag"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// rootName is how users invoke the plugin; help and usage always say it.
const rootName = "kubectl feastflow"

// globalOptions are the root's own persistent flags besides kubectl's.
type globalOptions struct {
	color string
}

func (g *globalOptions) validate() error {
	switch term.ColorMode(g.color) {
	case term.ColorAuto, term.ColorAlways, term.ColorNever:
		return nil
	}
	return usageErrorf("invalid --color %q: use auto, always or never", g.color)
}

// NewRootCmd builds the whole command tree. Nothing below it exits or panics: errors come
// back from Execute and ExitCode maps them to the process exit code.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	return newRootCmd(configFlags, streams)
}

func newRootCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "feastflow",
		Short: "Zero-downtime releases, diagnosis and node maintenance for plain Deployments and Services",
		Long: `kubectl feastflow gives plain Deployments and Services the release workflow (rolling,
blue-green switch, canary steps, promote, rollback), one-command troubleshooting and safe
node maintenance, from the client, with no controller installed in the cluster.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: rootName},
		SilenceErrors: true,
		SilenceUsage:  true,
		// Everything before PersistentPreRunE (flag parsing, argument validation) is bad
		// usage; see Execute. Cobra checks required flags and flag groups only after the
		// persistent pre-run, so they are checked here, before the command counts as started.
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			if err := g.validate(); err != nil {
				return err
			}
			if err := c.ValidateRequiredFlags(); err != nil {
				return asUsage(err)
			}
			if err := c.ValidateFlagGroups(); err != nil {
				return asUsage(err)
			}
			markStarted(c)
			return nil
		},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see '%s --help')", err, c.CommandPath())
	})

	flags := cmd.PersistentFlags()
	if cf, ok := getter.(*genericclioptions.ConfigFlags); ok {
		cf.AddFlags(flags)
	}
	flags.StringVar(&g.color, "color", "auto", "Colour output: auto (only on a terminal, never with NO_COLOR), always or never")
	addKlogVerbosity(flags)
	registerGlobalFlagCompletions(cmd, getter)

	cmd.AddGroup(
		&cobra.Group{ID: groupRelease, Title: "Release Commands:"},
		&cobra.Group{ID: groupTroubleshoot, Title: "Troubleshooting Commands:"},
		&cobra.Group{ID: groupMaintenance, Title: "Maintenance Commands:"},
	)
	for _, c := range newReleaseCmds(getter, streams) {
		c.GroupID = groupRelease
		cmd.AddCommand(c)
	}
	for _, c := range newTroubleshootCmds(getter, streams) {
		c.GroupID = groupTroubleshoot
		cmd.AddCommand(c)
	}
	for _, c := range newMaintenanceCmds(getter, streams) {
		c.GroupID = groupMaintenance
		cmd.AddCommand(c)
	}
	cmd.AddCommand(newVersionCmd(streams))
	enableFleet(cmd, getter, streams)
	setCompletionHelp(cmd)
	return cmd
}

const (
	groupRelease      = "release"
	groupTroubleshoot = "troubleshoot"
	groupMaintenance  = "maintenance"
	startedAnnotation = "feastflow.dev/started"
)

// markStarted records on the root that argument validation passed; errors after it are
// not usage errors.
func markStarted(c *cobra.Command) {
	root := c.Root()
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[startedAnnotation] = "true"
}

// addKlogVerbosity exposes klog's -v (so -v=6 shows the API requests, as in kubectl) and
// hides the rest of klog's flags.
func addKlogVerbosity(flags *pflag.FlagSet) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if v := fs.Lookup("v"); v != nil {
		pf := pflag.PFlagFromGoFlag(v)
		pf.Shorthand = "v"
		pf.Usage = "Log level for API requests (6 shows every request, as in kubectl)"
		flags.AddFlag(pf)
	}
	_ = fs.Set("logtostderr", "true")
}

// Execute runs the command tree with ctx and returns the process exit code, having printed
// any error as one line on stderr.
func Execute(ctx context.Context, cmd *cobra.Command) error {
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return nil
	}
	if cmd.Annotations[startedAnnotation] != "true" {
		err = asUsage(err)
	}
	return err
}

// getenv is the environment seam of the plugin (tests replace it).
var getenv = os.Getenv
