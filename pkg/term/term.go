// Package term decides how text reaches a terminal: whether colour is allowed and how
// server-supplied text is made safe to print.
package term

import (
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal.
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ColorMode is the --color flag.
type ColorMode string

// The colour modes.
const (
	ColorAuto   ColorMode = "auto"
	ColorAlways ColorMode = "always"
	ColorNever  ColorMode = "never"
)

// UseColor decides colour for writer w: never with NO_COLOR or TERM=dumb in auto mode, and
// only on a terminal.
func UseColor(mode ColorMode, w io.Writer, getenv func(string) string) bool {
	switch mode {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return IsTerminal(w)
}

// Escape makes server-supplied text safe for a terminal: control characters (ANSI escape
// sequences, carriage returns and newlines included; tabs excepted) are shown quoted, as
// Go would write them in a string literal, instead of being interpreted. Callers that print
// multi-line text (log lines) split it into lines first.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !isControl(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// OneLine joins the non-blank lines of a multi-line text with "; " and escapes the result,
// so that an error message (client-go's exec-plugin error has five lines) stays one line.
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return Escape(s)
	}
	var parts []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return Escape(strings.Join(parts, "; "))
}

func needsEscape(s string) bool {
	return strings.IndexFunc(s, isControl) >= 0
}

// isControl reports whether r is a C0 control (but tab), DEL or a C1 control: the runes a
// terminal may interpret (ESC starts ANSI sequences, 0x9b is the one-byte CSI).
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// Palette colours text when enabled and passes it through otherwise.
type Palette struct{ Enabled bool }

func (p Palette) wrap(code, s string) string {
	if !p.Enabled || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Red is for failures and errors.
func (p Palette) Red(s string) string { return p.wrap("31", s) }

// Yellow is for warnings.
func (p Palette) Yellow(s string) string { return p.wrap("33", s) }

// Green is for success.
func (p Palette) Green(s string) string { return p.wrap("32", s) }

// Bold is for headings.
func (p Palette) Bold(s string) string { return p.wrap("1", s) }
