package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Cluster is a running local cluster.
type Cluster struct {
	// StateDir is the cluster's state directory.
	StateDir string
	// Kubeconfig is the admin kubeconfig path (<state>/kubeconfig).
	Kubeconfig string
	// Ports the cluster listens on.
	Ports Ports
	// Processes are the components in start order.
	Processes []Process
	// Reused is true when Start found the cluster already running and healthy.
	Reused bool
}

// Start brings up the cluster described by cfg and returns once it is usable: apiserver
// /readyz ok, every node Ready, the default ServiceAccount created. When the state directory
// already runs a healthy cluster with the same settings, Start returns it unchanged. When its
// recorded cluster is partly dead, unhealthy or differently configured, Start stops what is
// left and starts everything again, keeping the etcd data and a valid PKI. On failure it stops
// every process it started and returns an error naming the component, with its log's tail.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{c.StateDir, filepath.Join(c.StateDir, logsDir), filepath.Join(c.StateDir, flexVolumeDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
	}
	unlock, err := lockState(c.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if cl, err := reuseOrClear(ctx, c); err != nil || cl != nil {
		return cl, err
	}
	state, err := readPersisted(c.StateDir)
	if err != nil {
		logf(c, "ignoring %s: %v", persistedFile, err)
	}
	state.Generation++
	previous := state.Ports
	var lastErr error
	for range 3 {
		ports, err := choosePorts(c.Ports, previous, portFree, freePort)
		if err != nil {
			return nil, err
		}
		state.Ports = ports
		if err := writeJSON(filepath.Join(c.StateDir, persistedFile), state); err != nil {
			return nil, err
		}
		cl, err := startFresh(ctx, c, ports, state.Generation)
		if err == nil {
			return cl, nil
		}
		lastErr = err
		// A port picked automatically can be taken between the check and the bind; pick
		// again. A port the caller asked for is never changed.
		var ce *ComponentError
		if !errors.As(err, &ce) || !strings.Contains(ce.LogTail, "address already in use") || c.Ports != (Ports{}) {
			return nil, err
		}
		logf(c, "a port was taken while starting; retrying with new ports")
		previous = Ports{}
	}
	return nil, lastErr
}

// reuseOrClear returns the running cluster when it is complete, healthy and started with the
// same settings; otherwise it stops whatever the pids file still names and removes the file.
func reuseOrClear(ctx context.Context, c Config) (*Cluster, error) {
	rec, err := readRecord(c.StateDir)
	if err != nil {
		logf(c, "ignoring unreadable pids file (no process will be signalled): %v", err)
		return nil, removeRecord(c.StateDir)
	}
	if rec == nil {
		return nil, nil
	}
	var dead []string
	for _, p := range rec.Processes {
		if !alive(p) {
			dead = append(dead, p.Name)
		}
	}
	switch {
	case len(dead) > 0:
		logf(c, "recorded components not running: %s; restarting the cluster", strings.Join(dead, ", "))
	case len(rec.Processes) != recordedComponents():
		logf(c, "recorded cluster is incomplete; restarting it")
	case rec.Fingerprint != c.fingerprint():
		logf(c, "cluster runs with other settings; restarting it")
	case !portsMatch(c.Ports, readPortsOrZero(c.StateDir)):
		logf(c, "cluster runs on other ports than requested; restarting it")
	default:
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := checkHealthy(hctx, c)
		cancel()
		if err == nil {
			state, _ := readPersisted(c.StateDir)
			logf(c, "cluster already running")
			return &Cluster{StateDir: c.StateDir, Kubeconfig: KubeconfigPath(c.StateDir), Ports: state.Ports, Processes: rec.Processes, Reused: true}, nil
		}
		logf(c, "cluster running but unhealthy (%v); restarting it", err)
	}
	stopProcesses(rec.Processes, c.Log)
	return nil, removeRecord(c.StateDir)
}

// portsMatch reports whether every explicitly requested port (non-zero) is the one in use.
func portsMatch(requested, running Ports) bool {
	for _, slot := range portSlots {
		if want := *slot.field(&requested); want != 0 && want != *slot.field(&running) {
			return false
		}
	}
	return true
}

func readPortsOrZero(stateDir string) Ports {
	state, err := readPersisted(stateDir)
	if err != nil {
		return Ports{}
	}
	return state.Ports
}

// checkHealthy checks readyz and that all configured nodes are Ready.
func checkHealthy(ctx context.Context, c Config) error {
	cs, err := adminClient(c.StateDir)
	if err != nil {
		return err
	}
	if err := readyz(ctx, cs); err != nil {
		return err
	}
	total, ready, err := readyNodes(ctx, cs)
	if err != nil {
		return err
	}
	if total != c.Nodes || ready != c.Nodes {
		return fmt.Errorf("%d of %d nodes ready", ready, c.Nodes)
	}
	return nil
}

// launch tracks the components started by one startFresh call.
type launch struct {
	c       Config
	ports   Ports
	gen     int
	rec     record
	started []*running
	// ctx is cancelled with a ComponentError as soon as a started component exits.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	t0     time.Time
}

// startFresh starts every component and waits for the cluster to become usable.
func startFresh(ctx context.Context, c Config, ports Ports, gen int) (*Cluster, error) {
	l := &launch{c: c, ports: ports, gen: gen, rec: record{Fingerprint: c.fingerprint()}, done: make(chan struct{}), t0: time.Now()}
	deadline, cancelDeadline := context.WithTimeoutCause(ctx, c.Timeout, fmt.Errorf("cluster not usable within %s", c.Timeout))
	defer cancelDeadline()
	l.ctx, l.cancel = context.WithCancelCause(deadline)
	defer close(l.done)
	if err := l.run(); err != nil {
		stopProcesses(l.rec.Processes, c.Log)
		_ = removeRecord(c.StateDir)
		return nil, err
	}
	logf(c, "%5.2fs cluster ready: %d nodes, kubeconfig %s", time.Since(l.t0).Seconds(), c.Nodes, KubeconfigPath(c.StateDir))
	return &Cluster{StateDir: c.StateDir, Kubeconfig: KubeconfigPath(c.StateDir), Ports: ports, Processes: l.rec.Processes}, nil
}

func (l *launch) run() error {
	c := l.c
	if _, err := ensurePKI(filepath.Join(c.StateDir, pkiDir)); err != nil {
		return err
	}
	if err := writeKubeconfigs(c.StateDir, l.ports.APIServer); err != nil {
		return err
	}
	if err := writeKwokFiles(c.StateDir, c.PodReadyDelay, c.Workers); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	if err := writeEgressConfig(c.StateDir); err != nil {
		return fmt.Errorf("write egress config: %w", err)
	}
	for _, name := range Components {
		if _, err := os.Stat(filepath.Join(c.BinDir, name)); err != nil {
			return fmt.Errorf("binary %s missing in %s (run make cluster-bins)", name, c.BinDir)
		}
	}
	l.step("pki, kubeconfigs and kwok config ready")
	if err := l.start(Etcd, KubeAPIServer); err != nil {
		return err
	}
	cs, err := adminClient(c.StateDir)
	if err != nil {
		return err
	}
	if err := l.wait(KubeAPIServer, func(ctx context.Context) error { return readyz(ctx, cs) }); err != nil {
		return err
	}
	l.step("kube-apiserver ready")
	if err := l.start(Egress); err != nil {
		return err
	}
	if err := l.wait(Egress, func(ctx context.Context) error { return egressReady(ctx, c.StateDir) }); err != nil {
		return err
	}
	if err := l.start(KubeControllerManager, KubeScheduler); err != nil {
		return err
	}
	err = l.wait(KubeAPIServer, func(ctx context.Context) error {
		if err := deleteNodeLeases(ctx, cs); err != nil {
			return err
		}
		if err := ensureNodes(ctx, cs, c); err != nil {
			return err
		}
		return ensureStorageClass(ctx, cs)
	})
	if err != nil {
		return err
	}
	if err := l.start(Kwok); err != nil {
		return err
	}
	kwokStarted := time.Now()
	err = l.wait(Kwok, func(ctx context.Context) error {
		// Nodes kept in etcd from an earlier run still say Ready; fresh Leases prove that
		// this kwok manages them.
		leases, err := freshLeases(ctx, cs, kwokStarted)
		if err != nil {
			return err
		}
		_, ready, err := readyNodes(ctx, cs)
		if err == nil && (ready != c.Nodes || leases < c.Nodes) {
			err = fmt.Errorf("%d of %d nodes ready, %d leased by the new kwok", ready, c.Nodes, leases)
		}
		return err
	})
	if err != nil {
		return err
	}
	l.step(fmt.Sprintf("%d nodes ready", c.Nodes))
	if err := l.wait(KubeControllerManager, func(ctx context.Context) error { return defaultServiceAccount(ctx, cs) }); err != nil {
		return err
	}
	l.step("default service account exists")
	return nil
}

// start launches components, records them and watches for their exit.
func (l *launch) start(names ...string) error {
	for _, name := range names {
		var r *running
		var err error
		if name == Egress {
			r, err = startEgress(l.c)
		} else {
			r, err = startComponent(l.c, name, componentArgs(name, l.c, l.ports, l.gen))
		}
		if err != nil {
			return &ComponentError{Component: name, Err: err}
		}
		l.started = append(l.started, r)
		l.rec.Processes = append(l.rec.Processes, r.proc)
		if err := writeRecord(l.c.StateDir, &l.rec); err != nil {
			return err
		}
		go func() {
			select {
			case <-r.exited:
				l.cancel(&ComponentError{Component: r.proc.Name, LogPath: r.logPath, LogTail: logTail(r.logPath, 15),
					Err: fmt.Errorf("exited during start (%v)", r.err)})
			case <-l.done:
			}
		}()
	}
	return nil
}

// wait polls check until it passes; a failure is blamed on component, unless another
// component exited, which is then reported instead.
func (l *launch) wait(component string, check func(context.Context) error) error {
	err := pollUntil(l.ctx, 100*time.Millisecond, check)
	if err == nil {
		return nil
	}
	var ce *ComponentError
	if errors.As(context.Cause(l.ctx), &ce) {
		// Re-read the tail: the process has exited by now, so its log is complete.
		ce.LogTail = logTail(ce.LogPath, 15)
		return ce
	}
	logPath := filepath.Join(l.c.StateDir, logsDir, component+".log")
	return &ComponentError{Component: component, LogPath: logPath, LogTail: logTail(logPath, 15), Err: err}
}

func (l *launch) step(msg string) {
	logf(l.c, "%5.2fs %s", time.Since(l.t0).Seconds(), msg)
}

func logf(c Config, format string, args ...any) {
	fmt.Fprintf(c.Log, format+"\n", args...)
}
