package localcluster

import (
	"path/filepath"
	"strconv"
	"time"
)

// Component names, in start order.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kwok                  = "kwok"
)

// Components lists the component names in start order.
var Components = []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kwok}

// componentArgs returns the command-line arguments of a component.
func componentArgs(name string, c Config, ports Ports, generation int) []string {
	s := c.StateDir
	pki := func(f string) string { return filepath.Join(s, pkiDir, f) }
	loop := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	qps := []string{"--kube-api-qps=" + strconv.Itoa(c.ControllerQPS), "--kube-api-burst=" + strconv.Itoa(c.ControllerBurst)}
	switch name {
	case Etcd:
		return []string{
			"--name=local", "--data-dir=" + filepath.Join(s, etcdDataDir),
			"--listen-client-urls=" + loop(ports.Etcd), "--advertise-client-urls=" + loop(ports.Etcd),
			"--listen-peer-urls=" + loop(ports.EtcdPeer), "--initial-advertise-peer-urls=" + loop(ports.EtcdPeer),
			"--initial-cluster=local=" + loop(ports.EtcdPeer),
			"--unsafe-no-fsync", "--log-level=warn",
			// etcd's 2 GiB default fills at ~50k pods with their events and revisions
			// between compactions; the limit reserves nothing.
			"--quota-backend-bytes=" + strconv.Itoa(8<<30),
		}
	case KubeAPIServer:
		return []string{
			"--etcd-servers=" + loop(ports.Etcd),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports.APIServer), "--advertise-address=127.0.0.1",
			// The apiserver would publish its loopback advertise address as the endpoint of
			// the "kubernetes" Service; nothing in the cluster can use it.
			"--endpoint-reconciler-type=none",
			"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
			"--client-ca-file=" + pki("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
			"--service-cluster-ip-range=" + c.ServiceCIDR,
			"--authorization-mode=RBAC",
			// Pod, service and node traffic goes to the egress proxy (egress.go).
			"--egress-selector-config-file=" + filepath.Join(s, egressConfigFile),
			"--allow-privileged=true",
			"--v=1",
		}
	case KubeControllerManager:
		return append([]string{
			"--kubeconfig=" + filepath.Join(s, "kcm.kubeconfig"),
			"--controllers=*", "--use-service-account-credentials=true",
			"--service-account-private-key-file=" + pki("sa.key"), "--root-ca-file=" + pki("ca.crt"),
			"--cluster-signing-cert-file=" + pki("ca.crt"), "--cluster-signing-key-file=" + pki("ca.key"),
			// Without it the controller-manager creates /usr/libexec/kubernetes/... on the host.
			"--flex-volume-plugin-dir=" + filepath.Join(s, flexVolumeDir),
			"--leader-elect=false", "--secure-port=0", "--v=1",
			"--node-monitor-grace-period=" + c.nodeMonitorGrace().String(),
		}, append(qps, kcmWorkers(c.Workers)...)...)
	case KubeScheduler:
		return append([]string{
			"--kubeconfig=" + filepath.Join(s, "scheduler.kubeconfig"),
			"--leader-elect=false", "--secure-port=0", "--v=1",
		}, qps...)
	case Kwok:
		return []string{
			"--kubeconfig=" + filepath.Join(s, "kwok.kubeconfig"),
			"--config=" + filepath.Join(s, kwokConfigFile),
			"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=" + nodeAnnotation + "=fake",
			// The apiserver reaches "kubelets" (logs) at the node address: kwok's own server.
			"--node-ip=127.0.0.1", "--cidr=" + podCIDRFor(c.PodCIDRPrefix, generation),
			// Without leases the node-lifecycle controller marks the nodes NotReady after 50 s.
			"--node-lease-duration-seconds=" + strconv.Itoa(int(c.NodeLease/time.Second)),
			"--server-address=127.0.0.1:" + strconv.Itoa(ports.Kwok), "--node-port=" + strconv.Itoa(ports.Kwok),
			"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
		}
	}
	return nil
}

// componentPorts returns the ports a component listens on, for status and errors.
func componentPorts(name string, p Ports) []int {
	switch name {
	case Etcd:
		return []int{p.Etcd, p.EtcdPeer}
	case KubeAPIServer:
		return []int{p.APIServer}
	case Kwok:
		return []int{p.Kwok}
	}
	return nil
}

// kcmWorkers are the controller-manager's sync concurrency flags for Config.Workers.
func kcmWorkers(workers int) []string {
	if workers <= 0 {
		return nil
	}
	n := strconv.Itoa(workers)
	return []string{"--concurrent-replicaset-syncs=" + n, "--concurrent-deployment-syncs=" + n}
}
