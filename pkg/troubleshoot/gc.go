package troubleshoot

import (
	"os"
	"runtime"
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
//
// Those percents are floors: after every collection while a diagnose holds the settings,
// GOGC follows what is live (percentFor). Each collection marks the whole snapshot, so at a
// fixed GOGC the collector's CPU grows with the cluster (at 50k pods, GOGC 30 made ~100
// collections of ~100 MB each, most of diagnose's CPU beyond its floor's), while the part of
// the peak that does not grow (the executable's pages and the runtime, ~40 MiB) matters
// less and less: large snapshots can afford a larger target.
//
// Diagnoses may run side by side (fleet): the first sets the values, the last restores them;
// while any of them is still reading, the read's target holds and no limit is set.
const (
	readGCPercent     = 30
	snapshotGCPercent = 40
	// fixedMiB is the part of diagnose's peak RSS that does not grow with the cluster: the
	// executable's pages (27 MiB at 10k pods, RssFile) and the runtime's own (~13 MiB).
	fixedMiB = 40
)

// percentFor is GOGC for a live heap of live bytes, at least floor, at most Go's default
// 100. The peak is about fixed + (1 + GOGC/100) × live, and the snapshot's live heap was
// 0.55–0.6× the protobuf bytes read at 10k and 50k pods (docs/scale.md): a peak of 1.5×
// the bytes is about 2.55× live, so GOGC may reach 155 − 100 × fixed/live; this keeps 45
// points of margin (at 50k pods, 130 − … peaked at 1.31–1.39× the bytes, 110 − … at
// 1.18–1.25×, for about the same CPU). Below ~50 MiB live the floor holds: the fixed part is
// most of the peak.
func percentFor(floor int, live uint64) int {
	if live == 0 {
		return floor
	}
	p := 110 - int(uint64(fixedMiB)<<20*100/live)
	return min(max(p, floor), 100)
}

var gc struct {
	sync.Mutex
	holders, readers int
	savedGC          int
	savedLimit       int64
	limited          bool
	live             uint64 // the live heap after the last collection, while held
	percent          int    // the GOGC diagnose set last
	tuner            int    // the generation of the running tuner (see retune)
}

// target is the GOGC for now: the phase's floor raised by what is live.
func target() int {
	floor := snapshotGCPercent
	if gc.readers > 0 {
		floor = readGCPercent
	}
	return percentFor(floor, gc.live)
}

func setPercent(p int) {
	debug.SetGCPercent(p)
	gc.percent = p
}

// gcHold is one diagnose's hold on the collector's settings: holdGC at its start, readDone
// when its read is over (failed or not), release at its end.
type gcHold struct{ reading, held bool }

func userGC() bool    { return os.Getenv("GOGC") != "" }
func userLimit() bool { return os.Getenv("GOMEMLIMIT") != "" }

func holdGC() *gcHold {
	gc.Lock()
	defer gc.Unlock()
	gc.readers++
	if !userGC() {
		if gc.holders == 0 {
			gc.live = 0
		}
		gc.percent = target()
		percent := debug.SetGCPercent(gc.percent)
		if gc.holders == 0 {
			gc.savedGC = percent
			gc.tuner++
			armTuner(gc.tuner)
		}
	}
	if gc.limited {
		debug.SetMemoryLimit(gc.savedLimit)
		gc.limited = false
	}
	gc.holders++
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
		setPercent(target())
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

// gcSentinel is garbage as soon as it is made; its finalizer runs after the collection that
// found it, once per collection (it is 24 bytes with no pointers: not a tiny allocation, whose
// finalizer may never run).
type gcSentinel struct {
	generation int
	_          [16]byte
}

// armTuner makes retune run after the next collection, and after each one from then on
// while the tuner of generation is current.
func armTuner(generation int) {
	runtime.SetFinalizer(&gcSentinel{generation: generation}, func(s *gcSentinel) {
		if retune(s.generation) {
			armTuner(s.generation)
		}
	})
}

// retune sets GOGC for the live heap the last collection left, when it moved by 5 points
// or more (not on every collection's small drift). It reports whether the tuner goes on: not
// once every diagnose released its hold, nor for a tuner a later hold replaced.
func retune(generation int) bool {
	gc.Lock()
	defer gc.Unlock()
	if gc.holders == 0 || generation != gc.tuner || userGC() {
		return false
	}
	gc.live = liveHeap()
	if p := target(); p-gc.percent >= 5 || gc.percent-p >= 5 {
		setPercent(p)
	}
	if retuned != nil {
		retuned()
	}
	return true
}

// retuned, when set (tests, under gc's lock), is called after each retune.
var retuned func()

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heldMemory is the memory the Go runtime holds from the OS now (what a memory limit
// counts): everything it mapped minus what it has returned.
func heldMemory() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}
