package troubleshoot

import (
	"math"
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func memoryLimit() int64 { return debug.SetMemoryLimit(-1) }

// Two diagnoses side by side: the read's target holds while either reads, the limit is set
// only when both have read, and the last release restores what was there before.
func TestHoldGCPhasesAndRestore(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(77))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	a, b := holdGC(), holdGC()
	if p := gcPercent(); p != readGCPercent {
		t.Fatalf("reading: GOGC %d, want %d", p, readGCPercent)
	}
	a.readDone()
	if p, l := gcPercent(), memoryLimit(); p != readGCPercent || l != math.MaxInt64 {
		t.Fatalf("one still reading: GOGC %d limit %d, want %d and none", p, l, readGCPercent)
	}
	b.readDone()
	if p, l := gcPercent(), memoryLimit(); p != snapshotGCPercent || l <= 0 || l == math.MaxInt64 {
		t.Fatalf("both read: GOGC %d limit %d, want %d and a limit", p, l, snapshotGCPercent)
	}
	c := holdGC() // a third read starts: the limit is lifted while it reads
	if p, l := gcPercent(), memoryLimit(); p != readGCPercent || l != math.MaxInt64 {
		t.Fatalf("new read: GOGC %d limit %d, want %d and none", p, l, readGCPercent)
	}
	c.release()
	a.release()
	a.release() // idempotent
	if p := gcPercent(); p != snapshotGCPercent {
		t.Fatalf("one holder left: GOGC %d, want %d", p, snapshotGCPercent)
	}
	b.release()
	if p, l := gcPercent(), memoryLimit(); p != 77 || l != math.MaxInt64 {
		t.Fatalf("released: GOGC %d limit %d, want 77 and none", p, l)
	}
}

// A GOGC or GOMEMLIMIT the user set wins.
func TestHoldGCLeavesUserSettings(t *testing.T) {
	t.Setenv("GOGC", "77")
	t.Setenv("GOMEMLIMIT", "1GiB")
	defer debug.SetGCPercent(debug.SetGCPercent(77))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	h := holdGC()
	h.readDone()
	if p, l := gcPercent(), memoryLimit(); p != 77 || l != 1<<30 {
		t.Fatalf("user settings: GOGC %d limit %d, want 77 and 1GiB", p, l)
	}
	h.release()
}
