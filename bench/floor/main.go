// Command floor is the raw read floor of bench/scale.sh: it pages the given kinds of every
// namespace with protobuf, 500 items per page, all kinds in parallel (as diagnose and status
// do), decodes each page into the typed list and discards it. Nothing is analysed or kept.
// It prints one line: kinds, requests, items and the response bytes read.
//
//	floor --kubeconfig K --kinds pods,events,nodes,...
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
)

const pageSize = 500

// counter counts the requests and response body bytes of a client.
type counter struct {
	requests, bytes atomic.Int64
	next            http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	kindList := flag.String("kinds", "pods", "comma-separated kinds to page (all namespaces)")
	flag.Parse()
	if err := run(*kubeconfig, strings.Split(*kindList, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, kinds []string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 150 // the plugin's limits
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cnt := &counter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt })
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var items atomic.Int64
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, kind := range kinds {
		list, err := lister(kube, meta, kind)
		if err != nil {
			return err
		}
		g.Go(func() error {
			p := pager.New(pager.SimplePageFunc(func(o metav1.ListOptions) (runtime.Object, error) { return list(gctx, o) }))
			p.PageSize = pageSize
			return p.EachListItem(gctx, metav1.ListOptions{}, func(runtime.Object) error { items.Add(1); return nil })
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Printf("kinds=%d requests=%d items=%d bytes=%d seconds=%.2f\n", len(kinds), cnt.requests.Load(), items.Load(), cnt.bytes.Load(), time.Since(t0).Seconds())
	return nil
}

type listFunc func(context.Context, metav1.ListOptions) (runtime.Object, error)

// lister returns the typed paged LIST of a kind (metadata only for ConfigMaps and Secrets,
// as diagnose reads them).
func lister(kube kubernetes.Interface, meta metadata.Interface, kind string) (listFunc, error) {
	core, apps := kube.CoreV1(), kube.AppsV1()
	m := func(resource string) listFunc {
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: resource}).List(ctx, o)
		}
	}
	switch kind {
	case "pods":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Pods("").List(ctx, o)
		}, nil
	case "events":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Events("").List(ctx, o)
		}, nil
	case "nodes":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Nodes().List(ctx, o)
		}, nil
	case "namespaces":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Namespaces().List(ctx, o)
		}, nil
	case "services":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Services("").List(ctx, o)
		}, nil
	case "endpointslices":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.DiscoveryV1().EndpointSlices("").List(ctx, o)
		}, nil
	case "persistentvolumeclaims":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.PersistentVolumeClaims("").List(ctx, o)
		}, nil
	case "persistentvolumes":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.PersistentVolumes().List(ctx, o)
		}, nil
	case "storageclasses":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.StorageV1().StorageClasses().List(ctx, o)
		}, nil
	case "replicasets":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.ReplicaSets("").List(ctx, o)
		}, nil
	case "deployments":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.Deployments("").List(ctx, o)
		}, nil
	case "poddisruptionbudgets":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.PolicyV1().PodDisruptionBudgets("").List(ctx, o)
		}, nil
	case "resourcequotas":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.ResourceQuotas("").List(ctx, o)
		}, nil
	case "serviceaccounts":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.ServiceAccounts("").List(ctx, o)
		}, nil
	case "horizontalpodautoscalers":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.AutoscalingV2().HorizontalPodAutoscalers("").List(ctx, o)
		}, nil
	case "statefulsets":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.StatefulSets("").List(ctx, o)
		}, nil
	case "controllerrevisions":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.ControllerRevisions("").List(ctx, o)
		}, nil
	case "daemonsets":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.DaemonSets("").List(ctx, o)
		}, nil
	case "jobs":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.BatchV1().Jobs("").List(ctx, o)
		}, nil
	case "cronjobs":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.BatchV1().CronJobs("").List(ctx, o)
		}, nil
	case "ingresses":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.NetworkingV1().Ingresses("").List(ctx, o)
		}, nil
	case "ingressclasses":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.NetworkingV1().IngressClasses().List(ctx, o)
		}, nil
	case "networkpolicies":
		return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.NetworkingV1().NetworkPolicies("").List(ctx, o)
		}, nil
	case "configmaps", "secrets":
		return m(kind), nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}
