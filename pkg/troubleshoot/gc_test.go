package troubleshoot

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gcPercent reads GOGC without setting it (a set and a set back could race the tuner's).
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
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

// GOGC follows what is live: the phase's floor for small heaps, more for large ones, never
// past Go's default.
func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		floor int
		live  uint64
		want  int
	}{
		{readGCPercent, 0, readGCPercent},
		{readGCPercent, 27 * mib, readGCPercent}, // 10k pods
		{snapshotGCPercent, 27 * mib, snapshotGCPercent},
		{readGCPercent, 57 * mib, 40},  // ~25k pods
		{readGCPercent, 107 * mib, 73}, // 50k pods
		{readGCPercent, 4 << 30, 100},  // never past the default
	} {
		if got := percentFor(c.floor, c.live); got != c.want {
			t.Errorf("percentFor(%d, %d MiB) = %d, want %d", c.floor, c.live/mib, got, c.want)
		}
	}
}

// While a diagnose holds the settings, each collection retunes GOGC for the live heap; after
// the release the tuner stops and the user's value is back.
func TestHoldGCRetunesForALargeHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(77))
	done := make(chan struct{}, 1)
	gc.Lock()
	retuned = func() {
		select {
		case done <- struct{}{}:
		default:
		}
	}
	gc.Unlock()
	defer func() { gc.Lock(); retuned = nil; gc.Unlock() }()
	h := holdGC()
	live := make([][]byte, 0, 160)
	for range 160 {
		live = append(live, make([]byte, 1<<20))
	}
	deadline := time.After(5 * time.Second)
	for waiting := true; waiting && gcPercent() <= readGCPercent; {
		runtime.GC() // the tuner runs after a collection (its sentinel's finalizer)
		select {
		case <-done:
		case <-deadline:
			waiting = false
		}
	}
	if p := gcPercent(); p <= readGCPercent || p > 100 {
		t.Errorf("with %d MiB live: GOGC %d, want above %d and at most 100", len(live), p, readGCPercent)
	}
	runtime.KeepAlive(live)
	h.release()
	runtime.GC()
	runtime.GC()
	if p := gcPercent(); p != 77 {
		t.Errorf("released: GOGC %d, want 77", p)
	}
}
