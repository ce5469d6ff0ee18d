// Package localcluster runs a real, single-machine Kubernetes control plane for the demo and
// the end-to-end tests: etcd, kube-apiserver, kube-controller-manager and kube-scheduler as
// ordinary processes on 127.0.0.1, with nodes and kubelets simulated by kwok.
//
// Start brings a cluster up in a state directory (PKI, kubeconfigs, etcd data, logs, the
// recorded processes and ports), waiting with a deadline until it is usable; Stop stops exactly
// the processes it recorded; Status reports their health. Start on a state directory whose
// cluster is running and healthy does nothing; on one whose cluster crashed it stops what is
// left and starts everything again, keeping the etcd data and the PKI.
//
// Pods become Running and Ready through kwok stages embedded in this package (see
// stages/*.yaml), including simulated failure states keyed on the label
// sim.feastflow.dev/state or on an image-name convention; docs/local-cluster.md describes them.
package localcluster
