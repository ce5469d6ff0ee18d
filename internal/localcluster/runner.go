package localcluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// running is a component started by this process.
type running struct {
	proc    Process
	logPath string
	// exited is closed when the process ends; err then holds its wait error.
	exited chan struct{}
	err    error
}

// startComponent starts one component with its output appended to logs/<name>.log, in its
// own process group so that a Ctrl-C aimed at the starting command does not reach it.
func startComponent(c Config, name string, args []string) (*running, error) {
	bin := filepath.Join(c.BinDir, name)
	exe, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return nil, fmt.Errorf("start %s: binary %s not found (run make cluster-bins): %w", name, bin, err)
	}
	logPath := filepath.Join(c.StateDir, logsDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n==== localcluster: starting %s %s\n", exe, strings.Join(args, " "))
	cmd := exec.Command(exe, args...)
	cmd.Dir = c.StateDir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.StopWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r := &running{proc: Process{Name: name, PID: cmd.Process.Pid, Exe: exe}, logPath: logPath, exited: make(chan struct{})}
	if _, start, err := identify(r.proc.PID); err == nil {
		r.proc.StartTicks = start
	}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}

// logTail returns the last n lines of a log file, for error messages.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// ComponentError is a start failure attributed to one component, with the tail of its log.
type ComponentError struct {
	Component string
	LogPath   string
	LogTail   string
	Err       error
}

// Error names the component and appends the tail of its log.
func (e *ComponentError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Component, e.Err)
	if e.LogPath != "" {
		msg += fmt.Sprintf("\nlast lines of %s:\n%s", e.LogPath, indent(e.LogTail))
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *ComponentError) Unwrap() error { return e.Err }

func indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
