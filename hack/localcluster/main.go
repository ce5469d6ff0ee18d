// Command localcluster starts, stops and reports the local Kubernetes cluster used by the
// demo and the end-to-end tests (see internal/localcluster and docs/local-cluster.md).
//
//	go run ./hack/localcluster up     --bin .cache/bin --state .cluster [--nodes 3] [--ready-delay 0s] [--service-cidr 10.0.0.0/16] [--pod-cidr /16] [--api-port 0] ...
//	go run ./hack/localcluster down   --state .cluster
//	go run ./hack/localcluster status --state .cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/feastflow/kubectl-feastflow/internal/localcluster"
)

const usage = "usage: localcluster up|down|status [flags]   (localcluster <command> -h for flags)"

func main() {
	// The cluster's egress proxy is this program started again (internal/localcluster).
	if ran, code := localcluster.RunEgressChild(); ran {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:]))
}

// run executes one command and returns the process exit code.
func run(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "up":
		err = up(ctx, args[1:])
	case "down":
		err = down(args[1:])
	case "status":
		err = status(ctx, args[1:])
	default:
		err = fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		return 1
	}
	return 0
}

func up(ctx context.Context, args []string) error {
	delay, err := localcluster.PodReadyDelayFromEnv()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	var c localcluster.Config
	fs.StringVar(&c.BinDir, "bin", ".cache/bin", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")
	fs.StringVar(&c.StateDir, "state", ".cluster", "state directory (pki, kubeconfig, etcd data, logs, pids)")
	fs.IntVar(&c.Nodes, "nodes", localcluster.DefaultNodes, "number of simulated nodes")
	fs.StringVar(&c.NodeCPU, "node-cpu", localcluster.DefaultNodeCPU, "cpu capacity of each node")
	fs.StringVar(&c.NodeMemory, "node-memory", localcluster.DefaultNodeMemory, "memory capacity of each node")
	fs.IntVar(&c.NodePods, "node-pods", localcluster.DefaultNodePods, "pod capacity of each node")
	fs.DurationVar(&c.PodReadyDelay, "ready-delay", delay, "delay before a started pod turns Ready (default from $"+localcluster.EnvPodReadyDelay+")")
	fs.IntVar(&c.Ports.APIServer, "api-port", 0, "kube-apiserver port (0: automatic)")
	fs.IntVar(&c.Ports.Etcd, "etcd-port", 0, "etcd client port (0: automatic)")
	fs.IntVar(&c.Ports.EtcdPeer, "etcd-peer-port", 0, "etcd peer port (0: automatic)")
	fs.IntVar(&c.Ports.Kwok, "kwok-port", 0, "kwok kubelet-API port (0: automatic)")
	fs.StringVar(&c.ServiceCIDR, "service-cidr", localcluster.DefaultServiceCIDR, "Service IP range (/12 to /28 inside 10.0.0.0/12; a /16 holds 65,533 Services)")
	podCIDR := fs.String("pod-cidr", fmt.Sprintf("/%d", localcluster.DefaultPodCIDRPrefix), "size of the pod IP range, as a prefix length (/16 holds 65,534 pods, /14 262,142)")
	fs.IntVar(&c.ControllerQPS, "controller-qps", localcluster.DefaultControllerQPS, "API client QPS of kube-controller-manager and kube-scheduler")
	fs.IntVar(&c.ControllerBurst, "controller-burst", localcluster.DefaultControllerBurst, "API client burst of kube-controller-manager and kube-scheduler")
	fs.IntVar(&c.Workers, "workers", 0, "pods and nodes kwok moves through their stages at once, and ReplicaSets/Deployments the controller-manager syncs at once (0: their defaults, 4 and 5)")
	fs.DurationVar(&c.NodeLease, "node-lease", localcluster.DefaultNodeLease, "duration of each node's Lease (kwok renews it every quarter of that); above 50s the controller-manager's node-monitor grace period follows it")
	fs.DurationVar(&c.Timeout, "timeout", 0, "how long to wait for the cluster to become usable (default 60s, plus 1s per 100 nodes beyond 100)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.PodCIDRPrefix, err = localcluster.ParsePodCIDRPrefix(*podCIDR); err != nil {
		return err
	}
	c.Log = os.Stderr
	cl, err := localcluster.Start(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("export KUBECONFIG=%s\n", cl.Kubeconfig)
	return nil
}

func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	state := fs.String("state", ".cluster", "state directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return localcluster.Stop(*state, os.Stderr)
}

func status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	state := fs.String("state", ".cluster", "state directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := localcluster.Status(ctx, *state)
	if err != nil {
		return err
	}
	printStatus(os.Stdout, r)
	if !r.Healthy {
		return fmt.Errorf("cluster in %s is not healthy", r.StateDir)
	}
	return nil
}

func printStatus(out io.Writer, r *localcluster.StatusReport) {
	if !r.Running {
		fmt.Fprintf(out, "no cluster running in %s\n", r.StateDir)
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "COMPONENT\tPID\tALIVE\tPORTS\tLOG")
	for _, c := range r.Components {
		ports := "-"
		if len(c.Ports) > 0 {
			ports = fmt.Sprint(c.Ports)
		}
		fmt.Fprintf(w, "%s\t%d\t%t\t%s\t%s\n", c.Name, c.PID, c.Alive, ports, c.LogPath)
	}
	_ = w.Flush()
	ready := "ok"
	if !r.APIServerReady {
		ready = r.APIServerError
	}
	fmt.Fprintf(out, "apiserver readyz: %s\nnodes: %d/%d ready\nkubeconfig: %s\nhealthy: %t\n", ready, r.NodesReady, r.Nodes, r.Kubeconfig, r.Healthy)
}
