package localcluster

import (
	"fmt"
	"net"
	"strconv"
)

// PortInUseError reports a requested port that something else already listens on.
type PortInUseError struct {
	Port      int
	Component string
}

// Error names the port and its component on one line.
func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d (%s) is already in use on 127.0.0.1; stop what listens there or choose another port", e.Port, e.Component)
}

// portSlot is one port of Ports with its component name.
type portSlot struct {
	component string
	field     func(*Ports) *int
}

var portSlots = []portSlot{
	{"etcd", func(p *Ports) *int { return &p.Etcd }},
	{"etcd peer", func(p *Ports) *int { return &p.EtcdPeer }},
	{"kube-apiserver", func(p *Ports) *int { return &p.APIServer }},
	{"kwok", func(p *Ports) *int { return &p.Kwok }},
}

// portFree reports whether a TCP port on 127.0.0.1 can be listened on.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// freePort asks the kernel for an unused port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// choosePorts resolves the ports to use: a requested port must be free (else a
// PortInUseError); an automatic one reuses the previous run's port when it is free, else gets
// a fresh one from pick. No two slots share a port.
func choosePorts(requested, previous Ports, free func(int) bool, pick func() (int, error)) (Ports, error) {
	var out Ports
	used := map[int]bool{}
	for _, s := range portSlots {
		want := *s.field(&requested)
		if want != 0 {
			if used[want] || !free(want) {
				return out, &PortInUseError{Port: want, Component: s.component}
			}
			*s.field(&out) = want
			used[want] = true
		}
	}
	for _, s := range portSlots {
		if *s.field(&out) != 0 {
			continue
		}
		port := *s.field(&previous)
		if port == 0 || used[port] || !free(port) {
			port = 0
			for range 20 {
				p, err := pick()
				if err != nil {
					return out, err
				}
				if !used[p] {
					port = p
					break
				}
			}
			if port == 0 {
				return out, fmt.Errorf("pick a free port for %s: no distinct port found", s.component)
			}
		}
		*s.field(&out) = port
		used[port] = true
	}
	return out, nil
}
