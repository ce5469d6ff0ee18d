package localcluster

import (
	"errors"
	"net"
	"testing"
)

func TestChoosePorts(t *testing.T) {
	busy := map[int]bool{16443: true, 30000: true}
	free := func(p int) bool { return !busy[p] }
	seq := []int{30000, 40001, 40001, 40002, 40003, 40004}
	newPick := func() func() (int, error) {
		i := 0
		return func() (int, error) { p := seq[i%len(seq)]; i++; return p, nil }
	}
	tests := []struct {
		name      string
		requested Ports
		previous  Ports
		want      Ports
		wantErr   *PortInUseError
	}{
		{
			name: "all automatic, distinct even when pick repeats",
			want: Ports{Etcd: 30000, EtcdPeer: 40001, APIServer: 40002, Kwok: 40003},
		},
		{
			name:     "previous ports reused when free",
			previous: Ports{Etcd: 20001, EtcdPeer: 20002, APIServer: 20003, Kwok: 20004},
			want:     Ports{Etcd: 20001, EtcdPeer: 20002, APIServer: 20003, Kwok: 20004},
		},
		{
			name:     "busy previous port replaced",
			previous: Ports{Etcd: 20001, EtcdPeer: 20002, APIServer: 16443, Kwok: 20004},
			want:     Ports{Etcd: 20001, EtcdPeer: 20002, APIServer: 30000, Kwok: 20004},
		},
		{
			name:      "requested port kept",
			requested: Ports{APIServer: 20010},
			previous:  Ports{APIServer: 20003},
			want:      Ports{Etcd: 30000, EtcdPeer: 40001, APIServer: 20010, Kwok: 40002},
		},
		{
			name:      "requested busy port is an error",
			requested: Ports{APIServer: 16443},
			wantErr:   &PortInUseError{Port: 16443, Component: "kube-apiserver"},
		},
		{
			name:      "requested port twice is an error",
			requested: Ports{Etcd: 20020, Kwok: 20020},
			wantErr:   &PortInUseError{Port: 20020, Component: "kwok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := choosePorts(tt.requested, tt.previous, free, newPick())
			if tt.wantErr != nil {
				var pe *PortInUseError
				if !errors.As(err, &pe) || *pe != *tt.wantErr {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPortFreeSeesListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if portFree(port) {
		t.Errorf("portFree(%d) = true while listening", port)
	}
	got, err := choosePorts(Ports{APIServer: port}, Ports{}, portFree, freePort)
	var pe *PortInUseError
	if !errors.As(err, &pe) || pe.Port != port {
		t.Fatalf("choosePorts = %+v, %v; want PortInUseError for %d", got, err, port)
	}
}

func TestPortsMatch(t *testing.T) {
	running := Ports{Etcd: 1, EtcdPeer: 2, APIServer: 3, Kwok: 4}
	if !portsMatch(Ports{}, running) || !portsMatch(Ports{APIServer: 3}, running) {
		t.Error("automatic or equal ports reported as different")
	}
	if portsMatch(Ports{APIServer: 5}, running) {
		t.Error("a different requested port reported as matching")
	}
}
