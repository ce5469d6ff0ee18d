package localcluster

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Egress is the name of the egress proxy in the pids file and of its log.
const Egress = "egress"

// EnvEgressChild names the variable that, set to a state directory, makes RunEgressChild serve that cluster's
// egress socket instead of running the program.
const EnvEgressChild = "FEASTFLOW_LOCALCLUSTER_EGRESS"

const (
	egressConfigFile = "egress-selector.yaml"
	egressSocketFile = "egress.sock"
)

// recordedComponents is how many processes a complete cluster records: the binaries in
// Components plus the egress proxy.
func recordedComponents() int { return len(Components) + 1 }

// EgressSocketPath returns the Unix socket the apiserver's "cluster" egress dials. A Unix
// socket path is limited to 108 bytes, so a deep state directory gets a socket in the
// temporary directory named after it.
func EgressSocketPath(stateDir string) string {
	p := filepath.Join(stateDir, egressSocketFile)
	if len(p) < 100 {
		return p
	}
	h := sha256.Sum256([]byte(stateDir))
	return filepath.Join(os.TempDir(), fmt.Sprintf("feastflow-egress-%x.sock", h[:8]))
}

// egressConfig is the apiserver's EgressSelectorConfiguration: traffic to nodes, pods and
// services ("cluster") goes through our HTTP CONNECT proxy on a Unix socket; the apiserver's
// own traffic to itself and to etcd is direct.
func egressConfig(socket string) string {
	return `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: ` + socket + `
- name: controlplane
  connection:
    proxyProtocol: Direct
- name: etcd
  connection:
    proxyProtocol: Direct
`
}

func writeEgressConfig(stateDir string) error {
	return os.WriteFile(filepath.Join(stateDir, egressConfigFile), []byte(egressConfig(EgressSocketPath(stateDir))), 0o644)
}

// RunEgressChild serves a cluster's egress proxy when this process was started for that
// (EnvEgressChild set) and returns true with the exit code; otherwise it returns false at
// once. Every program that starts clusters calls it first: hack/localcluster's main and the
// e2e harness's TestMain, since the proxy runs as a child of the starting executable.
func RunEgressChild() (ran bool, code int) {
	stateDir := os.Getenv(EnvEgressChild)
	if stateDir == "" {
		return false, 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	if err := ServeEgress(ctx, stateDir, logger); err != nil {
		logger.Printf("egress: %v", err)
		return true, 1
	}
	return true, 0
}

// ServeEgress serves the egress socket of the cluster in stateDir until ctx ends.
func ServeEgress(ctx context.Context, stateDir string, logger *log.Logger) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", KubeconfigPath(stateDir))
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	socket := EgressSocketPath(stateDir)
	if err := os.Remove(socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := os.Chmod(socket, 0o600); err != nil {
		return err
	}
	logger.Printf("egress: serving %s", socket)
	s := &EgressServer{Client: cs, Log: logger}
	return s.Run(ctx, l)
}

// startEgress starts this executable again as the cluster's egress proxy, logging to
// logs/egress.log, in its own process group like the other components.
func startEgress(c Config) (*running, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}
	logPath := filepath.Join(c.StateDir, logsDir, Egress+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start egress proxy: open log: %w", err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "\n==== localcluster: starting %s as the egress proxy\n", exe)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), EnvEgressChild+"="+c.StateDir)
	cmd.Dir = c.StateDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.StopWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}
	r := &running{proc: Process{Name: Egress, PID: cmd.Process.Pid, Exe: exe}, logPath: logPath, exited: make(chan struct{})}
	if _, start, err := identify(r.proc.PID); err == nil {
		r.proc.StartTicks = start
	}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	return r, nil
}

// egressReady checks that the egress socket accepts connections.
func egressReady(ctx context.Context, stateDir string) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "unix", EgressSocketPath(stateDir))
	if err != nil {
		return fmt.Errorf("egress socket: %w", err)
	}
	return conn.Close()
}
