package localcluster

import (
	"testing"
)

func TestParseRecord(t *testing.T) {
	good := `{"fingerprint":"f","processes":[{"name":"etcd","pid":123,"exe":"/bin/etcd","startTicks":5}]}`
	r, err := parseRecord([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Processes) != 1 || r.Processes[0].PID != 123 || r.Processes[0].Exe != "/bin/etcd" {
		t.Errorf("got %+v", r)
	}
	for name, bad := range map[string]string{
		"not json":     `pids`,
		"pid 1":        `{"processes":[{"name":"etcd","pid":1,"exe":"/bin/etcd"}]}`,
		"relative exe": `{"processes":[{"name":"etcd","pid":123,"exe":"etcd"}]}`,
		"missing name": `{"processes":[{"pid":123,"exe":"/bin/etcd"}]}`,
		"negative pid": `{"processes":[{"name":"etcd","pid":-5,"exe":"/bin/etcd"}]}`,
	} {
		if _, err := parseRecord([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if r, err := readRecord(dir); r != nil || err != nil {
		t.Fatalf("missing pids file: %v %v, want nil nil", r, err)
	}
	want := &record{Fingerprint: "x", Processes: []Process{{Name: "kwok", PID: 99, Exe: "/b/kwok", StartTicks: 7}}}
	if err := writeRecord(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := readRecord(dir)
	if err != nil || got.Processes[0] != want.Processes[0] {
		t.Fatalf("got %+v %v", got, err)
	}
	if err := removeRecord(dir); err != nil {
		t.Fatal(err)
	}
	if err := removeRecord(dir); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func TestStopWithoutClusterIsNoop(t *testing.T) {
	if err := Stop(t.TempDir(), nil); err != nil {
		t.Fatal(err)
	}
	if err := Stop(t.TempDir()+"/missing", nil); err != nil {
		t.Fatal(err)
	}
}
