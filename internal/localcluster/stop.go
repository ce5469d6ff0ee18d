package localcluster

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stopGrace is how long a component gets to exit after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Stop stops the processes recorded in stateDir's pids file, in reverse start order, each
// only if it is still the recorded process (same binary and start time), waiting for each
// (SIGKILL after 10 s). It then removes the pids file. Stop on a stopped cluster does nothing.
// Progress lines go to log (nil discards them).
func Stop(stateDir string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	unlock, err := lockState(stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := readRecord(stateDir)
	if err != nil {
		fmt.Fprintf(log, "pids file unreadable, nothing signalled: %v\n", err)
		return removeRecord(stateDir)
	}
	if rec == nil {
		return nil
	}
	stopProcesses(rec.Processes, log)
	return removeRecord(stateDir)
}

// stopProcesses stops ps in reverse order; see Stop.
func stopProcesses(ps []Process, log io.Writer) {
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		signalled, killed := terminate(p, stopGrace)
		switch {
		case killed:
			fmt.Fprintf(log, "killed %s (pid %d) after %s\n", p.Name, p.PID, stopGrace)
		case signalled:
			fmt.Fprintf(log, "stopped %s (pid %d)\n", p.Name, p.PID)
		default:
			fmt.Fprintf(log, "%s (pid %d) was not running\n", p.Name, p.PID)
		}
	}
}

func removeRecord(stateDir string) error {
	err := os.Remove(filepath.Join(stateDir, pidsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pids file: %w", err)
	}
	return nil
}
