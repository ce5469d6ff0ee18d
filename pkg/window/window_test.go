package window

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name, window, freeze, now string
		open                      bool
		next                      string
	}{
		{"no annotations", "", "", "2026-11-25T10:00:00Z", true, ""},
		{"inside", "Tue-Thu 02:00-04:00 Europe/Berlin", "", "2026-11-25T02:30:00Z", true, ""}, // Wed 03:30 Berlin
		{"before", "Tue-Thu 02:00-04:00 Europe/Berlin", "", "2026-11-25T00:30:00Z", false, "2026-11-25T01:00:00Z"},
		{"weekend", "Tue-Thu 02:00-04:00 UTC", "", "2026-11-28T03:00:00Z", false, "2026-12-01T02:00:00Z"},
		{"crosses midnight, after start", "Fri 22:00-02:00", "", "2026-11-27T23:00:00Z", true, ""},
		{"crosses midnight, next morning", "Fri 22:00-02:00", "", "2026-11-28T01:59:00Z", true, ""},
		{"crosses midnight, closed", "Fri 22:00-02:00", "", "2026-11-28T02:00:00Z", false, "2026-12-04T22:00:00Z"},
		{"freeze only", "", "2026-12-24..2026-12-26", "2026-12-25T12:00:00Z", false, "2026-12-27T00:00:00Z"},
		{"freeze beats window", "* 00:00-24:00", "2026-12-31", "2026-12-31T12:00:00Z", false, "2027-01-01T00:00:00Z"},
		{"list of days", "Mon,Wed 09:00-17:00", "", "2026-11-24T10:00:00Z", false, "2026-11-25T09:00:00Z"},
		{"two windows", "Mon 09:00-10:00; Tue 09:00-10:00", "", "2026-11-24T09:30:00Z", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.window, tt.freeze)
			if err != nil {
				t.Fatal(err)
			}
			st := s.Check(mustTime(t, tt.now))
			if st.Open != tt.open {
				t.Fatalf("open = %v, want %v (%s)", st.Open, tt.open, st.Reason)
			}
			if tt.next != "" && !st.NextOpen.Equal(mustTime(t, tt.next)) {
				t.Fatalf("next open = %s, want %s", st.NextOpen.UTC(), tt.next)
			}
			if !tt.open && st.Reason == "" {
				t.Fatal("closed without a reason")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ window, freeze, want string }{
		{"Tue-Thx 02:00-04:00", "", `feastflow.dev/deploy-window at position 1 ("Tue-Thx 02:00-04:00"): day "Thx"`},
		{"Mon 09:00-10:00; Tue 25:00-26:00", "", `position 18`},
		{"Mon 09:00-10:00 Mars/Olympus", "", `time zone "Mars/Olympus": unknown`},
		{"Mon 09:00", "", `want HH:MM-HH:MM`},
		{"", "2026-12-24, 2026-13-01", `feastflow.dev/freeze at position 13`},
		{"", "2026-12-26..2026-12-24", `ends before it starts`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.window, tt.freeze)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q, %q) error = %v, want it to contain %q", tt.window, tt.freeze, err, tt.want)
		}
	}
}
