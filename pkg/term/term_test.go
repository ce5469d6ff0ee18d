package term

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tkept", "tab\tkept"},
		{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x1b]0;owned title\x07", `\x1b]0;owned title\a`},
		{"line\nbreak\r", `line\nbreak\r`},
		{"del\x7f", `del\x7f`},
		{"c1 csi \u009b31m", `c1 csi \u009b31m`},
		{"nul\x00", `nul\x00`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"one line", "one line"},
		{"first\n\n  second  \r\nthird\n", "first; second; third"},
		{"evil \x1b[2J\nnext", `evil \x1b[2J; next`},
	}
	for _, tt := range tests {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUseColor(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer tty.Close()
	var pipe bytes.Buffer
	tests := []struct {
		name string
		mode ColorMode
		w    *os.File
		env  map[string]string
		want bool
	}{
		{"auto on a terminal", ColorAuto, tty, nil, true},
		{"auto on a pipe", ColorAuto, nil, nil, false},
		{"NO_COLOR", ColorAuto, tty, map[string]string{"NO_COLOR": "1"}, false},
		{"TERM=dumb", ColorAuto, tty, map[string]string{"TERM": "dumb"}, false},
		{"never", ColorNever, tty, nil, false},
		{"always", ColorAlways, nil, map[string]string{"NO_COLOR": "1"}, true},
	}
	for _, tt := range tests {
		var got bool
		if tt.w != nil {
			got = UseColor(tt.mode, tt.w, env(tt.env))
		} else {
			got = UseColor(tt.mode, &pipe, env(tt.env))
		}
		if got != tt.want {
			t.Errorf("%s: UseColor = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPalette(t *testing.T) {
	if got := (Palette{}).Red("x"); got != "x" {
		t.Errorf("disabled palette coloured: %q", got)
	}
	if got := (Palette{Enabled: true}).Red("x"); got != "\x1b[31mx\x1b[0m" {
		t.Errorf("Red = %q", got)
	}
	if got := (Palette{Enabled: true}).Bold(""); got != "" {
		t.Errorf("empty text coloured: %q", got)
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		ago  time.Duration
		want string
	}{{-time.Second, "0s"}, {45 * time.Second, "45s"}, {119 * time.Second, "119s"}, {3 * time.Minute, "3m"}, {5 * time.Hour, "5h"}, {50 * time.Hour, "2d"}} {
		if got := Age(now, now.Add(-tt.ago)); got != tt.want {
			t.Errorf("Age(%s ago) = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := Age(now, time.Time{}); got != "<unknown>" {
		t.Errorf("Age(zero) = %q", got)
	}
}
