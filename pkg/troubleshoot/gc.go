package troubleshoot

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The collector's settings while diagnose runs. A snapshot is most of the heap and lives
// until the report is written; with Go's defaults (GOGC 100, no memory limit) the heap may
// grow to twice what is live, and the peak RSS with it.
//
//   - While pages are in flight: GOGC readGCPercent. Each page is garbage once its items are
//     kept, so the heap holds the snapshot so far plus pages; a low target collects them
//     before the heap grows far past what is kept.
//   - Once the read is done: GOGC snapshotGCPercent, and a soft memory limit
//     (runtime/debug.SetMemoryLimit) at the memory the process holds at that moment: the
//     read's peak is already paid for, so the analysis may use what the read left free but
//     not grow the peak further (without the limit it did: at 10k pods the runtime held
//     49–60 MiB after the read for 30–37 MB live, and GOGC 40 alone let the analysis's
//     garbage push the heap past the read's peak). The limit is
//     soft: if what is live ever needs more, the collector works harder (at most half the
//     CPU) and the heap grows anyway; nothing fails.
//
// Measured at 10k pods (docs/scale.md, session 5): peak RSS 85–87 → 80 MiB for ~0.1–0.2 s more
// collection CPU. A GOGC or GOMEMLIMIT the user set is left alone (each separately).
// Diagnoses may run side by side (fleet): the first sets the values, the last restores them;
// while any of them is still reading, the read's target holds and no limit is set.
const (
	readGCPercent     = 30
	snapshotGCPercent = 40
)

var gc struct {
	sync.Mutex
	holders, readers int
	savedGC          int
	savedLimit       int64
	limited          bool
}

// gcHold is one diagnose's hold on the collector's settings: holdGC at its start, readDone
// when its read is over (failed or not), release at its end.
type gcHold struct{ reading, held bool }

func userGC() bool    { return os.Getenv("GOGC") != "" }
func userLimit() bool { return os.Getenv("GOMEMLIMIT") != "" }

func holdGC() *gcHold {
	gc.Lock()
	defer gc.Unlock()
	if !userGC() {
		percent := debug.SetGCPercent(readGCPercent)
		if gc.holders == 0 {
			gc.savedGC = percent
		}
	}
	if gc.limited {
		debug.SetMemoryLimit(gc.savedLimit)
		gc.limited = false
	}
	gc.holders++
	gc.readers++
	return &gcHold{reading: true, held: true}
}

func (h *gcHold) readDone() {
	gc.Lock()
	defer gc.Unlock()
	if !h.reading {
		return
	}
	h.reading = false
	gc.readers--
	if gc.readers > 0 {
		return
	}
	if !userGC() {
		debug.SetGCPercent(snapshotGCPercent)
	}
	if !userLimit() {
		limit := debug.SetMemoryLimit(heldMemory())
		if !gc.limited {
			gc.savedLimit, gc.limited = limit, true
		}
	}
}

func (h *gcHold) release() {
	h.readDone()
	gc.Lock()
	defer gc.Unlock()
	if !h.held {
		return
	}
	h.held = false
	gc.holders--
	if gc.holders > 0 {
		return
	}
	if !userGC() {
		debug.SetGCPercent(gc.savedGC)
	}
	if gc.limited {
		debug.SetMemoryLimit(gc.savedLimit)
		gc.limited = false
	}
}

// heldMemory is the memory the Go runtime holds from the OS now (what a memory limit
// counts): everything it mapped minus what it has returned.
func heldMemory() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}
