package plugin

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// fleetCapture is the stdout of one context's run. Machine output is kept as bytes; for
// people, the verb's tables (newTable recognises the capture) are kept as rows and the rest
// as text lines, so that the fleet can print one table per kind with a CONTEXT column.
type fleetCapture struct {
	buf    bytes.Buffer // everything written as text (and all of -o json)
	blocks []*captureBlock
	text   []byte // text since the last table
}

// captureBlock is one table or one run of text lines, in the order the verb printed them.
type captureBlock struct {
	headers []string
	rows    [][]string
	text    []string
}

func (c *fleetCapture) Write(b []byte) (int, error) {
	c.buf.Write(b)
	c.text = append(c.text, b...)
	return len(b), nil
}

// endText closes the text written since the last table into a block.
func (c *fleetCapture) endText() {
	if len(c.text) == 0 {
		return
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(c.text), "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	c.text = nil
	if len(lines) > 0 {
		c.blocks = append(c.blocks, &captureBlock{text: lines})
	}
}

// table starts a captured table (called by newTable); cells arrive escaped.
func (c *fleetCapture) table(headers []string) *captureBlock {
	c.endText()
	b := &captureBlock{headers: headers}
	c.blocks = append(c.blocks, b)
	return b
}

// mergedTable is one kind of table (by its headers) across contexts.
type mergedTable struct {
	headers []string
	rows    [][]string
	// before are the text lines each context printed just before this table, prefixed.
	before []string
}

// printFleetHuman prints the runs for people: each kind of table once, with a CONTEXT column
// and the rows of every context; text lines prefixed with [context]; then one line per
// context with its outcome.
func printFleetHuman(w io.Writer, runs []*fleetRun) error {
	var order []string
	tables := map[string]*mergedTable{}
	var trailing []string
	for _, r := range runs {
		r.out.endText()
		prefix := "[" + term.Escape(r.name) + "] "
		var pending []string
		for _, b := range r.out.blocks {
			if b.headers == nil {
				for _, l := range b.text {
					pending = append(pending, prefix+l)
				}
				continue
			}
			key := strings.Join(b.headers, "\t")
			t := tables[key]
			if t == nil {
				t = &mergedTable{headers: append([]string{"CONTEXT"}, b.headers...)}
				tables[key] = t
				order = append(order, key)
			}
			t.before = append(t.before, pending...)
			pending = nil
			for _, row := range b.rows {
				t.rows = append(t.rows, append([]string{term.Escape(r.name)}, row...))
			}
		}
		trailing = append(trailing, pending...)
	}
	first := true
	section := func() {
		if !first {
			fmt.Fprintln(w)
		}
		first = false
	}
	for _, key := range order {
		t := tables[key]
		if len(t.before) > 0 {
			section()
			fmt.Fprintln(w, strings.Join(t.before, "\n"))
		}
		section()
		tw := newTable(w, t.headers...)
		for _, row := range t.rows {
			tw.rawRow(row)
		}
		if err := tw.flush(); err != nil {
			return err
		}
	}
	if len(trailing) > 0 {
		section()
		fmt.Fprintln(w, strings.Join(trailing, "\n"))
	}
	section()
	if len(runs) > 0 && runs[0].wave > 0 {
		t := newTable(w, "CONTEXT", "WAVE", "STATE", "RESULT")
		for _, r := range runs {
			t.row(r.name, fmt.Sprint(r.wave), waveState(r), runOutcome(r))
		}
		return t.flush()
	}
	t := newTable(w, "CONTEXT", "RESULT")
	for _, r := range runs {
		t.row(r.name, runOutcome(r))
	}
	return t.flush()
}

// runOutcome is one context's outcome in words.
func runOutcome(r *fleetRun) string {
	if r.wave > 0 && !r.started {
		return "-"
	}
	if r.err == nil {
		return "ok"
	}
	return fmt.Sprintf("exit %d: %s", ExitCode(r.err), truncate(ErrorLine(r.err), 300))
}
