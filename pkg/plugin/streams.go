package plugin

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/progress"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// reporter writes library progress to stderr, one line per change of state, escaped.
func reporter(streams genericiooptions.IOStreams) progress.Reporter {
	return progress.Dedup(progress.Func(func(msg string) {
		fmt.Fprintln(streams.ErrOut, term.Escape(msg))
	}))
}

// palette is the colouring for w: the root's --color (auto: only on a terminal, never with
// NO_COLOR or TERM=dumb).
func palette(cmd *cobra.Command, w io.Writer) term.Palette {
	mode := term.ColorAuto
	if f := cmd.Root().PersistentFlags().Lookup("color"); f != nil {
		mode = term.ColorMode(f.Value.String())
	}
	return term.Palette{Enabled: term.UseColor(mode, w, getenv)}
}

// warnf prints a warning line to stderr.
func warnf(streams genericiooptions.IOStreams, format string, args ...any) {
	fmt.Fprintf(streams.ErrOut, "warning: "+format+"\n", args...)
}

// confirm asks a y/N question on a terminal; without one it refuses unless yes is set.
func confirm(streams genericiooptions.IOStreams, yes bool, question string) error {
	if yes {
		return nil
	}
	if !term.IsTerminal(streams.In) || !term.IsTerminal(streams.ErrOut) {
		return fmt.Errorf("%s: refusing without --yes because stdin is not a terminal", question)
	}
	fmt.Fprintf(streams.ErrOut, "%s [y/N]: ", question)
	line, err := bufio.NewReader(streams.In).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%s: not confirmed, nothing changed", question)
}
