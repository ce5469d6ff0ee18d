// Package progress is how the libraries tell the user what they are doing while they wait:
// one line per change of state. The plugin turns it into lines on stderr; tests record it.
package progress

import (
	"fmt"
	"sync"
)

// Reporter receives one message per change of state of a long operation.
type Reporter interface {
	// Report is called with a human sentence, lowercase, without a trailing newline.
	Report(msg string)
}

// Func adapts a function to a Reporter.
type Func func(msg string)

// Report calls f.
func (f Func) Report(msg string) { f(msg) }

// Discard is a Reporter that drops every message.
var Discard Reporter = Func(func(string) {})

// Printf reports a formatted message to r, or nothing when r is nil.
func Printf(r Reporter, format string, args ...any) {
	if r == nil {
		return
	}
	r.Report(fmt.Sprintf(format, args...))
}

// Recorder is a Reporter that keeps every message, for tests.
type Recorder struct {
	mu   sync.Mutex
	msgs []string
}

// Report records msg.
func (r *Recorder) Report(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
}

// Messages returns a copy of what was reported so far.
func (r *Recorder) Messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// Dedup wraps r so that a message equal to the previous one is dropped: waits report their
// state on every event they see, and the user should see a line only when it changes.
func Dedup(r Reporter) Reporter {
	var mu sync.Mutex
	last := ""
	return Func(func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if msg == last {
			return
		}
		last = msg
		r.Report(msg)
	})
}
