package progress

import (
	"reflect"
	"sync"
	"testing"
)

func TestDedupReportsChangesOnly(t *testing.T) {
	rec := &Recorder{}
	r := Dedup(rec)
	for _, m := range []string{"waiting: 0/3 ready", "waiting: 0/3 ready", "waiting: 1/3 ready", "waiting: 0/3 ready", "done", "done"} {
		r.Report(m)
	}
	want := []string{"waiting: 0/3 ready", "waiting: 1/3 ready", "waiting: 0/3 ready", "done"}
	if got := rec.Messages(); !reflect.DeepEqual(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

func TestPrintf(t *testing.T) {
	Printf(nil, "nothing %d", 1) // a nil reporter is allowed
	rec := &Recorder{}
	Printf(rec, "scaled %s to %d", "web", 3)
	if got := rec.Messages(); len(got) != 1 || got[0] != "scaled web to 3" {
		t.Errorf("messages = %q", got)
	}
	Discard.Report("dropped")
}

func TestRecorderConcurrent(t *testing.T) {
	rec := &Recorder{}
	r := Dedup(rec)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Report(string(rune('a' + i)))
		}()
	}
	wg.Wait()
	if n := len(rec.Messages()); n != 8 {
		t.Errorf("%d messages, want 8", n)
	}
	msgs := rec.Messages()
	msgs[0] = "changed"
	if rec.Messages()[0] == "changed" {
		t.Error("Messages returns the recorder's own slice")
	}
}
