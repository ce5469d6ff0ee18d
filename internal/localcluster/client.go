package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// adminClient returns a clientset for the admin kubeconfig of stateDir.
func adminClient(stateDir string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", KubeconfigPath(stateDir))
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// Thousands of nodes are created in parallel at start (ensureNodes); the local
	// apiserver's priority and fairness protects it.
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.Timeout = 5 * time.Second
	// Node lists at thousands of nodes: protobuf is several times smaller than JSON.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return cs, nil
}

// readyz asks the apiserver's /readyz.
func readyz(ctx context.Context, cs kubernetes.Interface) error {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	if string(body) != "ok" {
		return fmt.Errorf("readyz: %s", body)
	}
	return nil
}

// readyNodes counts the simulated nodes and those among them that are Ready.
func readyNodes(ctx context.Context, cs kubernetes.Interface) (total, ready int, err error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: managedNodeLabel + "=true"})
	if err != nil {
		return 0, 0, fmt.Errorf("list nodes: %w", err)
	}
	for i := range nodes.Items {
		for _, c := range nodes.Items[i].Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return len(nodes.Items), ready, nil
}

// defaultServiceAccount checks that the controller-manager created the default ServiceAccount.
func defaultServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	_, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get serviceaccount default/default: %w", err)
	}
	return nil
}

// pollUntil calls check every interval until it returns nil or ctx ends; it returns the
// last check error together with the context's cause.
func pollUntil(ctx context.Context, interval time.Duration, check func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %v)", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// freshLeases counts the node Leases renewed since t: a kwok started after t has taken over
// those nodes (the Leases of an earlier kwok are deleted before it starts).
func freshLeases(ctx context.Context, cs kubernetes.Interface, since time.Time) (int, error) {
	leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list node leases: %w", err)
	}
	n := 0
	for i := range leases.Items {
		renew := leases.Items[i].Spec.RenewTime
		if renew != nil && !renew.Time.Before(since.Truncate(time.Second)) {
			n++
		}
	}
	return n, nil
}
