package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// outputFlag is the -o flag of every verb that reports.
type outputFlag struct{ format string }

func (o *outputFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "", "Output format: json or yaml (default: a table for people)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
}

func (o *outputFlag) validate() error {
	switch o.format {
	case "", "json", "yaml":
		return nil
	}
	return usageErrorf("unknown output format %q: use -o json or -o yaml", o.format)
}

// machine reports whether a machine format was asked for.
func (o *outputFlag) machine() bool { return o.format != "" }

// print writes the report in the requested format: JSON or YAML of the struct (which
// carries apiVersion/kind), or the human rendering.
func (o *outputFlag) print(w io.Writer, result any, human func(io.Writer) error) error {
	switch o.format {
	case "json":
		b, err := json.MarshalIndent(result, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(result)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return human(w)
}

// table is a kubectl-style table: tab-separated cells, escaped, "<none>" for empty cells.
type table struct {
	tw *tabwriter.Writer
	// captured is set when the table is written into a fleet capture: the rows are kept
	// for the fleet's merged table with a CONTEXT column (fleet_print.go).
	captured *captureBlock
}

func newTable(w io.Writer, headers ...string) *table {
	if c, ok := w.(*fleetCapture); ok {
		return &table{captured: c.table(headers)}
	}
	t := &table{tw: tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = orNone(term.Escape(c))
	}
	t.rawRow(cells)
}

// rawRow writes cells that are escaped already.
func (t *table) rawRow(cells []string) {
	if t.captured != nil {
		t.captured.rows = append(t.captured.rows, cells)
		return
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if t.captured != nil {
		return nil
	}
	return t.tw.Flush()
}

// orNone is kubectl's placeholder for an empty value.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
