// Package window implements deployment windows and freezes: the namespace annotations
// feastflow.dev/deploy-window (e.g. "Tue-Thu 02:00-04:00 Europe/Berlin") and
// feastflow.dev/freeze (e.g. "2026-12-24..2026-12-26, 2026-12-31") that make release
// verbs refuse outside the window unless the user overrides it with a recorded reason.
package window

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	// WindowAnnotation is the namespace annotation with the deployment windows.
	WindowAnnotation = "feastflow.dev/deploy-window"
	// FreezeAnnotation is the namespace annotation with the freeze dates.
	FreezeAnnotation = "feastflow.dev/freeze"
)

// Schedule is the parsed pair of annotations. A nil *Schedule is always open.
type Schedule struct {
	Windows []Window
	Freezes []Freeze
	// Loc is the time zone of the freeze dates: that of the first window, or UTC.
	Loc *time.Location
}

// Window is one recurring weekly window; Days[time.Weekday] is true on the days it opens.
// End before Start means the window crosses midnight.
type Window struct {
	Days       [7]bool
	Start, End time.Duration // since midnight
	Loc        *time.Location
	Text       string
}

// Freeze is an inclusive range of calendar dates during which nothing is released.
type Freeze struct {
	From, To time.Time // midnight of the first and of the last day, in Schedule.Loc
	Text     string
}

// Status is the verdict of a schedule at one instant.
type Status struct {
	// Configured is false when the namespace has no window and no freeze.
	Configured bool      `json:"configured"`
	Open       bool      `json:"open"`
	Reason     string    `json:"reason,omitempty"`
	NextOpen   time.Time `json:"nextOpen,omitempty"`
}

// FromNamespace parses the namespace's annotations; it returns nil when neither is set.
func FromNamespace(ns *corev1.Namespace) (*Schedule, error) {
	if ns == nil {
		return nil, nil
	}
	return Parse(ns.Annotations[WindowAnnotation], ns.Annotations[FreezeAnnotation])
}

// Parse parses the two annotation values; empty values mean "not set". Errors name the
// annotation and the position of the offending text.
func Parse(windows, freezes string) (*Schedule, error) {
	if strings.TrimSpace(windows) == "" && strings.TrimSpace(freezes) == "" {
		return nil, nil
	}
	s := &Schedule{Loc: time.UTC}
	pos := 0
	for _, part := range strings.Split(windows, ";") {
		text := strings.TrimSpace(part)
		if text != "" {
			w, err := parseWindow(text)
			if err != nil {
				return nil, fmt.Errorf("annotation %s at position %d (%q): %w", WindowAnnotation, pos+1+strings.Index(part, text), text, err)
			}
			s.Windows = append(s.Windows, w)
		}
		pos += len(part) + 1
	}
	if len(s.Windows) > 0 {
		s.Loc = s.Windows[0].Loc
	}
	pos = 0
	for _, part := range strings.Split(freezes, ",") {
		text := strings.TrimSpace(part)
		if text != "" {
			f, err := parseFreeze(text, s.Loc)
			if err != nil {
				return nil, fmt.Errorf("annotation %s at position %d (%q): %w", FreezeAnnotation, pos+1+strings.Index(part, text), text, err)
			}
			s.Freezes = append(s.Freezes, f)
		}
		pos += len(part) + 1
	}
	return s, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseWindow parses "DAYS HH:MM-HH:MM [ZONE]" where DAYS is "*", "Mon", "Mon-Fri" or
// "Mon,Wed,Fri" (ranges allowed in the list).
func parseWindow(text string) (Window, error) {
	fields := strings.Fields(text)
	if len(fields) < 2 || len(fields) > 3 {
		return Window{}, fmt.Errorf(`want "DAYS HH:MM-HH:MM [TIME/ZONE]", e.g. "Tue-Thu 02:00-04:00 Europe/Berlin"`)
	}
	w := Window{Loc: time.UTC, Text: text}
	if err := parseDays(fields[0], &w.Days); err != nil {
		return Window{}, err
	}
	from, to, ok := strings.Cut(fields[1], "-")
	if !ok {
		return Window{}, fmt.Errorf("hours %q: want HH:MM-HH:MM", fields[1])
	}
	var err error
	if w.Start, err = parseClock(from); err != nil {
		return Window{}, err
	}
	if w.End, err = parseClock(to); err != nil {
		return Window{}, err
	}
	if w.Start == w.End {
		return Window{}, fmt.Errorf("hours %q: the window is empty", fields[1])
	}
	if len(fields) == 3 {
		if w.Loc, err = time.LoadLocation(fields[2]); err != nil {
			return Window{}, fmt.Errorf("time zone %q: unknown", fields[2])
		}
	}
	return w, nil
}

func parseDays(s string, days *[7]bool) error {
	if s == "*" || strings.EqualFold(s, "daily") {
		for i := range days {
			days[i] = true
		}
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		start, ok := weekdays[strings.ToLower(a)]
		if !ok {
			return fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", a)
		}
		end := start
		if isRange {
			if end, ok = weekdays[strings.ToLower(b)]; !ok {
				return fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", b)
			}
		}
		for d := start; ; d = (d + 1) % 7 {
			days[d] = true
			if d == end {
				break
			}
		}
	}
	return nil
}

func parseClock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * time.Hour, nil
		}
		return 0, fmt.Errorf("time %q: want HH:MM (24-hour clock)", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

func parseFreeze(text string, loc *time.Location) (Freeze, error) {
	from, to, isRange := strings.Cut(text, "..")
	f := Freeze{Text: text}
	var err error
	if f.From, err = time.ParseInLocation(time.DateOnly, strings.TrimSpace(from), loc); err != nil {
		return Freeze{}, fmt.Errorf("date %q: want YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD", from)
	}
	f.To = f.From
	if isRange {
		if f.To, err = time.ParseInLocation(time.DateOnly, strings.TrimSpace(to), loc); err != nil {
			return Freeze{}, fmt.Errorf("date %q: want YYYY-MM-DD", to)
		}
		if f.To.Before(f.From) {
			return Freeze{}, fmt.Errorf("range %q ends before it starts", text)
		}
	}
	return f, nil
}

// open reports whether the window is open at now.
func (w Window) open(now time.Time) bool {
	t := now.In(w.Loc)
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, w.Loc)
	since := t.Sub(midnight)
	if w.Start < w.End {
		return w.Days[t.Weekday()] && since >= w.Start && since < w.End
	}
	// Crosses midnight: open from Start on a listed day until End on the next day.
	yesterday := (t.Weekday() + 6) % 7
	return (w.Days[t.Weekday()] && since >= w.Start) || (w.Days[yesterday] && since < w.End)
}

func (f Freeze) covers(now time.Time, loc *time.Location) bool {
	t := now.In(loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	return !day.Before(f.From) && !day.After(f.To)
}

// Check evaluates the schedule at now: open when inside a window (or no window is set)
// and on no freeze date. NextOpen is found by stepping minute by minute over two weeks
// and the freezes, which is exact for windows on whole minutes.
func (s *Schedule) Check(now time.Time) Status {
	if s == nil {
		return Status{Open: true}
	}
	st := Status{Configured: true, Open: s.openAt(now)}
	if st.Open {
		return st
	}
	st.Reason = s.reason(now)
	start := now.Truncate(time.Minute).Add(time.Minute)
	limit := start.Add(15 * 24 * time.Hour)
	for _, f := range s.Freezes {
		if end := f.To.AddDate(0, 0, 15); end.After(limit) {
			limit = end
		}
	}
	for t := start; t.Before(limit); t = t.Add(time.Minute) {
		if s.openAt(t) {
			st.NextOpen = t
			break
		}
	}
	return st
}

func (s *Schedule) openAt(t time.Time) bool {
	for _, f := range s.Freezes {
		if f.covers(t, s.Loc) {
			return false
		}
	}
	if len(s.Windows) == 0 {
		return true
	}
	for _, w := range s.Windows {
		if w.open(t) {
			return true
		}
	}
	return false
}

func (s *Schedule) reason(now time.Time) string {
	for _, f := range s.Freezes {
		if f.covers(now, s.Loc) {
			return fmt.Sprintf("freeze %s (%s)", f.Text, FreezeAnnotation)
		}
	}
	texts := make([]string, len(s.Windows))
	for i, w := range s.Windows {
		texts[i] = w.Text
	}
	return fmt.Sprintf("outside the deployment window %q (%s)", strings.Join(texts, "; "), WindowAnnotation)
}
