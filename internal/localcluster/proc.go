package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat is what this package reads from /proc/PID/stat.
type procStat struct {
	state      byte
	startTicks uint64
}

// parseProcStat parses the content of /proc/PID/stat. The command name (field 2) may contain
// spaces and parentheses, so fields are counted from the last ')'.
func parseProcStat(data string) (procStat, error) {
	end := strings.LastIndexByte(data, ')')
	if end < 0 {
		return procStat{}, errors.New("malformed stat: no ')'")
	}
	fields := strings.Fields(data[end+1:])
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, errors.New("malformed stat: too few fields")
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed stat: starttime: %w", err)
	}
	return procStat{state: fields[0][0], startTicks: start}, nil
}

// identify returns the resolved binary path and start time of a live (non-zombie) process.
func identify(pid int) (exe string, startTicks uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	st, err := parseProcStat(string(data))
	if err != nil {
		return "", 0, err
	}
	if st.state == 'Z' || st.state == 'X' {
		return "", 0, errors.New("process exited")
	}
	exe, err = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "", 0, err
	}
	return strings.TrimSuffix(exe, " (deleted)"), st.startTicks, nil
}

// Alive reports whether p is still the very process that was recorded: same PID, same binary,
// same start time, not a zombie. A PID reused by anything else is not alive.
func Alive(p Process) bool { return alive(p) }

func alive(p Process) bool {
	exe, start, err := identify(p.PID)
	if err != nil {
		return false
	}
	return sameFile(exe, p.Exe) && start == p.StartTicks
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

// terminate stops p if it is still the recorded process: SIGTERM, then SIGKILL after grace.
// It reports whether a signal was sent and whether SIGKILL was needed.
func terminate(p Process, grace time.Duration) (signalled, killed bool) {
	if !alive(p) {
		return false, false
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		return false, false
	}
	if waitGone(p, grace) {
		return true, false
	}
	if !exited(p) {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
		waitGone(p, 5*time.Second)
	}
	return true, true
}

// exited reports whether the recorded process has finished exiting: its PID is gone, is a
// zombie, or belongs to a newer process. A process in the middle of exiting has already lost
// its /proc/PID/exe link, so alive (which needs it) turns false too early to wait on.
func exited(p Process) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return true
	}
	st, err := parseProcStat(string(data))
	if err != nil {
		return true
	}
	return st.startTicks != p.StartTicks || st.state == 'Z' || st.state == 'X'
}

// waitGone waits until p has exited, up to d.
func waitGone(p Process, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !exited(p) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
