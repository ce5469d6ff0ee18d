package localcluster

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// Field 2 may contain spaces and parentheses.
	line := "4242 (kube (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 12 0 987654 123456 789 18446744073709551615"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.state != 'S' || st.startTicks != 987654 {
		t.Errorf("got state %c start %d, want S 987654", st.state, st.startTicks)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 x S"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
}

func TestAliveMatchesOnlyTheRecordedProcess(t *testing.T) {
	exe, start, err := identify(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := Process{Name: "self", PID: os.Getpid(), Exe: exe, StartTicks: start}
	if !alive(self) {
		t.Fatal("own process not alive")
	}
	tests := map[string]Process{
		"other binary":     {Name: "x", PID: os.Getpid(), Exe: "/usr/bin/true", StartTicks: start},
		"other start time": {Name: "x", PID: os.Getpid(), Exe: exe, StartTicks: start + 1},
		"no such pid":      {Name: "x", PID: 1 << 30, Exe: exe, StartTicks: start},
	}
	for name, p := range tests {
		if alive(p) {
			t.Errorf("%s: alive = true, want false (a reused or foreign PID must never count as ours)", name)
		}
	}
}

func TestTerminateSkipsForeignProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	exe, start, err := identify(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	foreign := Process{Name: "etcd", PID: cmd.Process.Pid, Exe: "/nonexistent/etcd", StartTicks: start}
	if signalled, _ := terminate(foreign, 0); signalled {
		t.Fatal("terminate signalled a process whose binary differs from the record")
	}
	ours := Process{Name: "sleep", PID: cmd.Process.Pid, Exe: exe, StartTicks: start}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if exited(ours) {
		t.Fatal("exited = true for a running process")
	}
	if signalled, killed := terminate(ours, 5e9); !signalled || killed {
		t.Fatalf("terminate(ours) signalled=%v killed=%v, want SIGTERM to suffice", signalled, killed)
	}
	<-done
	if !exited(ours) || alive(ours) {
		t.Fatal("process still counted as running after it was reaped")
	}
}
