package localcluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// EnvPodReadyDelay names the environment variable holding the default pod readiness delay
// (a Go duration such as "500ms"), read by PodReadyDelayFromEnv.
const EnvPodReadyDelay = "FEASTFLOW_POD_READY_DELAY"

// Defaults used when a Config field is left zero.
const (
	DefaultNodes           = 3
	DefaultNodeCPU         = "4"
	DefaultNodeMemory      = "16Gi"
	DefaultNodePods        = 110
	DefaultControllerQPS   = 200
	DefaultControllerBurst = 400
	DefaultTimeout         = 60 * time.Second
	// DefaultNodeLease is kwok's node Lease duration; it renews each Lease every quarter of
	// it (kwok v0.8.0), so 40 s is one write per node every 10 s.
	DefaultNodeLease = 40 * time.Second
	// defaultNodeMonitorGrace is the controller-manager's --node-monitor-grace-period in
	// Kubernetes 1.37: a node whose Lease is older turns NotReady.
	defaultNodeMonitorGrace = 50 * time.Second
)

// Ports are the loopback ports a cluster listens on. Zero means "pick a free port" (a port
// recorded by an earlier run of the same state directory is preferred, so kubeconfigs stay
// valid across restarts).
type Ports struct {
	Etcd      int `json:"etcd"`
	EtcdPeer  int `json:"etcdPeer"`
	APIServer int `json:"apiServer"`
	Kwok      int `json:"kwok"`
}

// Config describes the cluster Start brings up.
type Config struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
	BinDir string
	// StateDir holds everything the cluster writes; created when missing.
	StateDir string
	// Ports to listen on; zero fields are chosen automatically.
	Ports Ports
	// Nodes is the number of simulated nodes (default 3), named kwok-node-0.., spread over
	// the zones zone-a, zone-b and zone-c.
	Nodes int
	// NodeCPU, NodeMemory and NodePods are each node's capacity (default 4, 16Gi, 110).
	NodeCPU    string
	NodeMemory string
	NodePods   int
	// PodReadyDelay delays readiness of every pod: containers start at once but the pod turns
	// Ready only after this long, as with a readiness probe. A pod can override it with the
	// annotation sim.feastflow.dev/ready-delay. Zero: Ready at once.
	PodReadyDelay time.Duration
	// ControllerQPS and ControllerBurst are the API client limits of kube-controller-manager
	// and kube-scheduler (default 200/400; upstream's 20/30 makes 1000 pods take ~50 s).
	ControllerQPS   int
	ControllerBurst int
	// Workers, when set, is how many pods and nodes kwok moves through their stages at once
	// and how many ReplicaSets and Deployments the controller-manager syncs at once (kwok's
	// default is 4, the controller-manager's 5). Each worker waits on one API round trip, so
	// at scale on a loaded machine they, not the CPU, limit how fast pods start.
	Workers int
	// NodeLease is the duration of each node's Lease (default DefaultNodeLease). kwok renews
	// it every quarter of that, so at scale a longer lease cuts the writes nodes cost when
	// idle (at 40 s, 1,667 nodes write 167 Leases a second, half a core of this machine).
	// Above the default the controller-manager's --node-monitor-grace-period is raised to
	// the lease duration (four renewals), so the nodes stay Ready.
	NodeLease time.Duration
	// ServiceCIDR is the Service IP range (default DefaultServiceCIDR, 65,534 Services).
	ServiceCIDR string
	// PodCIDRPrefix is the prefix length of the pod IP range kwok hands out from (default
	// DefaultPodCIDRPrefix: 65,534 pods); each start takes a fresh range of that size.
	PodCIDRPrefix int
	// Timeout bounds the wait for the cluster to become usable (default 60 s, plus 1 s per
	// 100 nodes beyond the first 100).
	Timeout time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// StopWithParent asks the kernel to kill the components when the starting process dies
	// (Linux parent-death signal), so a test binary that is killed leaves nothing behind.
	StopWithParent bool
}

// PodReadyDelayFromEnv returns the duration in EnvPodReadyDelay, or zero when it is unset.
func PodReadyDelayFromEnv() (time.Duration, error) {
	v := os.Getenv(EnvPodReadyDelay)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("parse %s=%q: %w", EnvPodReadyDelay, v, err)
	}
	return d, nil
}

// withDefaults returns the config with zero fields defaulted and paths made absolute.
func (c Config) withDefaults() (Config, error) {
	if c.StateDir == "" {
		return c, errors.New("state directory not set")
	}
	if c.BinDir == "" {
		return c, errors.New("binary directory not set")
	}
	var err error
	if c.StateDir, err = filepath.Abs(c.StateDir); err != nil {
		return c, fmt.Errorf("state directory: %w", err)
	}
	if c.BinDir, err = filepath.Abs(c.BinDir); err != nil {
		return c, fmt.Errorf("binary directory: %w", err)
	}
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if c.NodeCPU == "" {
		c.NodeCPU = DefaultNodeCPU
	}
	if c.NodeMemory == "" {
		c.NodeMemory = DefaultNodeMemory
	}
	if c.NodePods == 0 {
		c.NodePods = DefaultNodePods
	}
	if c.ControllerQPS == 0 {
		c.ControllerQPS = DefaultControllerQPS
	}
	if c.ControllerBurst == 0 {
		c.ControllerBurst = DefaultControllerBurst
	}
	if c.NodeLease == 0 {
		c.NodeLease = DefaultNodeLease
	}
	if c.NodeLease < time.Second || c.NodeLease%time.Second != 0 {
		return c, fmt.Errorf("node lease %s: give whole seconds, at least 1s", c.NodeLease)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout + time.Duration(max(0, c.Nodes-100)/100)*time.Second
	}
	if err := c.defaultRanges(); err != nil {
		return c, err
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Nodes < 0 || c.NodePods < 0 || c.PodReadyDelay < 0 || c.Workers < 0 {
		return c, errors.New("nodes, node pods, workers and pod ready delay must not be negative")
	}
	return c, nil
}

// fingerprint identifies the settings a running cluster was started with, including the
// kwok stages this package embeds and the binaries; a running cluster whose fingerprint differs from the
// requested one is restarted.
func (c Config) fingerprint() string {
	stages, err := renderKwokConfig(c.PodReadyDelay, filepath.Join(c.StateDir, simLogsDir))
	if err != nil {
		stages = []byte(err.Error())
	}
	h := sha256.New()
	h.Write(stages)
	h.Write(kwokWorkersConfig(c.Workers))
	fmt.Fprintf(h, "workers=%d\n", c.Workers)
	// Rebuilt binaries (a new pin) restart the cluster too.
	for _, name := range Components {
		if fi, err := os.Stat(filepath.Join(c.BinDir, name)); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return fmt.Sprintf("nodes=%d cpu=%s mem=%s pods=%d ready=%s qps=%d/%d bin=%s hash=%x%s",
		c.Nodes, c.NodeCPU, c.NodeMemory, c.NodePods, c.PodReadyDelay, c.ControllerQPS, c.ControllerBurst, c.BinDir, h.Sum(nil)[:8], c.rangesFingerprint()+c.leaseFingerprint())
}

// leaseFingerprint is the part of the fingerprint for the node Lease duration, empty at the
// default so that clusters started before it was configurable are kept.
func (c Config) leaseFingerprint() string {
	if c.NodeLease == DefaultNodeLease {
		return ""
	}
	return " lease=" + c.NodeLease.String()
}

// nodeMonitorGrace is the controller-manager's --node-monitor-grace-period for the lease:
// its default, or the lease duration when that is longer (kwok renews four times within it).
func (c Config) nodeMonitorGrace() time.Duration {
	return max(defaultNodeMonitorGrace, c.NodeLease)
}
