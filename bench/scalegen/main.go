// Command scalegen fills a cluster for bench/scale.sh in the proportions of Kubernetes'
// scalability thresholds (150,000 pods : 10,000 Services): one Service and one Deployment of
// 15 replicas per component, 50 components per namespace (scale-000, scale-001, ...), and a
// few percent broken in the ways diagnose knows (one component in every BROKEN_EVERY):
// a missing image, a crash loop, a pod that cannot be scheduled (nodeSelector matching no
// node) and a Service whose selector matches nothing. The ReplicaSet controller creates the
// pods (start the cluster with a raised --controller-qps).
//
// It is resumable: objects that exist are left alone, so an interrupted run continues where
// it stopped. It returns once every pod exists and no pod is still starting.
//
//	scalegen --kubeconfig K --pods 10000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
)

const (
	podsPerComponent = 15 // 150,000 pods / 10,000 Services
	componentsPerNS  = 50
	brokenEvery      = 25 // 4 % of the components, one of the four ways each in turn
	benchLabel       = "bench.feastflow.dev/scale"
	brokenLabel      = "bench.feastflow.dev/broken"
)

// Broken ways, in turn.
var brokenWays = []string{"image", "crashloop", "pending", "selector"}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	pods := flag.Int("pods", 10000, "pods to create in total")
	workers := flag.Int("workers", 16, "parallel creations")
	timeout := flag.Duration("timeout", 60*time.Minute, "how long to wait for every pod")
	flag.Parse()
	if err := run(*kubeconfig, *pods, *workers, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "scalegen:", err)
		os.Exit(1)
	}
}

type component struct {
	ns, name string
	replicas int32
	broken   string
}

// plan lists the components for a number of pods.
func plan(pods int) []component {
	var out []component
	for i := 0; pods > 0; i++ {
		r := min(pods, podsPerComponent)
		pods -= r
		c := component{ns: fmt.Sprintf("scale-%03d", i/componentsPerNS), name: fmt.Sprintf("app-%05d", i), replicas: int32(r)}
		if i%brokenEvery == brokenEvery-1 {
			c.broken = brokenWays[(i/brokenEvery)%len(brokenWays)]
		}
		out = append(out, c)
	}
	return out
}

func run(kubeconfig string, pods, workers int, timeout time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	comps := plan(pods)
	t0 := time.Now()
	seen := map[string]bool{}
	for _, c := range comps {
		if seen[c.ns] {
			continue
		}
		seen[c.ns] = true
		if err := create(ctx, func() error {
			_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns, Labels: map[string]string{benchLabel: "true"}}}, metav1.CreateOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("namespace %s: %w", c.ns, err)
		}
	}
	// A resumed run creates only what is missing: a create that fails with "already exists"
	// still costs the apiserver its admission, and a Service's a ClusterIP allocated and
	// released (a resume of 1,647 components took 240 s at ~10 creates/s).
	haveSvc, haveDeploy, err := existing(ctx, kube)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, c := range comps {
		key := c.ns + "/" + c.name
		if haveSvc[key] && haveDeploy[key] {
			continue
		}
		g.Go(func() error {
			if haveSvc[key] {
				return create(gctx, func() error {
					_, err := kube.AppsV1().Deployments(c.ns).Create(gctx, deployment(c), metav1.CreateOptions{})
					return err
				})
			}
			if err := create(gctx, func() error {
				_, err := kube.CoreV1().Services(c.ns).Create(gctx, service(c), metav1.CreateOptions{})
				return err
			}); err != nil {
				return fmt.Errorf("service %s/%s: %w", c.ns, c.name, err)
			}
			return create(gctx, func() error {
				_, err := kube.AppsV1().Deployments(c.ns).Create(gctx, deployment(c), metav1.CreateOptions{})
				return err
			})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "scalegen: %d namespaces, %d Services and Deployments in place (%.0fs); waiting for %d pods\n", len(seen), len(comps), time.Since(t0).Seconds(), pods)
	return settle(ctx, kube, pods, t0)
}

// create runs a creation, treating "already exists" as done (resume) and retrying on
// server overload.
func create(ctx context.Context, f func() error) error {
	for {
		err := f()
		switch {
		case err == nil || apierrors.IsAlreadyExists(err):
			return nil
		case apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err):
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		default:
			return err
		}
	}
}

func labels(c component) map[string]string {
	return map[string]string{"app": c.name, benchLabel: "true"}
}

func service(c component) *corev1.Service {
	sel := map[string]string{"app": c.name}
	if c.broken == "selector" {
		sel = map[string]string{"app": c.name + "-v2"} // matches nothing
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.ns, Labels: map[string]string{benchLabel: "true"}},
		Spec:       corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func deployment(c component) *appsv1.Deployment {
	podLabels := labels(c)
	image := "registry.local/" + c.name + ":1.0"
	var nodeSelector map[string]string
	switch c.broken {
	case "image":
		image = "registry.local/" + c.name + ":doesnotexist"
	case "crashloop":
		podLabels["sim.feastflow.dev/state"] = "crashloop"
	case "pending":
		nodeSelector = map[string]string{"disktype": "nvme"} // no node has it
	}
	if c.broken != "" {
		podLabels[brokenLabel] = c.broken
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.ns, Labels: map[string]string{benchLabel: "true"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &c.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": c.name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					NodeSelector: nodeSelector,
					Containers: []corev1.Container{{Name: "app", Image: image,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				},
			},
		},
	}
}

// settle waits until all pods exist and none is still starting: every pod is bound to a
// node and has container statuses from kwok, except the ones meant to stay unschedulable.
// While pods are still being created it reads the Deployments' replica counts (one object
// per 15 pods) rather than listing every pod each 10 s (50,000 pods encoded by the apiserver
// it waits on, while the last pods are still being created).
func settle(ctx context.Context, kube kubernetes.Interface, want int, t0 time.Time) error {
	for {
		created, err := countReplicas(ctx, kube)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "scalegen: %6.0fs %d/%d pods created (%.1f/s)\n", time.Since(t0).Seconds(), created, want, float64(created)/time.Since(t0).Seconds())
		if created >= want {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d/%d pods created: %w", created, want, ctx.Err())
		case <-time.After(10 * time.Second):
		}
	}
	for {
		have, starting, err := count(ctx, kube)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "scalegen: %6.0fs %d/%d pods, %d starting\n", time.Since(t0).Seconds(), have, want, starting)
		if have >= want && starting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d/%d pods, %d starting: %w", have, want, starting, ctx.Err())
		case <-time.After(max(5*time.Second, time.Duration(want/5000)*time.Second)): // each count LISTs every pod
		}
	}
}

// existing returns the namespace/name keys of the bench's Services and Deployments.
func existing(ctx context.Context, kube kubernetes.Interface) (svcs, deploys map[string]bool, _ error) {
	svcs, deploys = map[string]bool{}, map[string]bool{}
	opts := metav1.ListOptions{LabelSelector: benchLabel + "=true"}
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return kube.CoreV1().Services("").List(ctx, o)
	})
	if err := p.EachListItem(ctx, opts, func(o runtime.Object) error {
		s := o.(*corev1.Service)
		svcs[s.Namespace+"/"+s.Name] = true
		return nil
	}); err != nil {
		return nil, nil, err
	}
	p = pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return kube.AppsV1().Deployments("").List(ctx, o)
	})
	err := p.EachListItem(ctx, opts, func(o runtime.Object) error {
		d := o.(*appsv1.Deployment)
		deploys[d.Namespace+"/"+d.Name] = true
		return nil
	})
	return svcs, deploys, err
}

// countReplicas sums the replica counts of the bench's Deployments.
func countReplicas(ctx context.Context, kube kubernetes.Interface) (int, error) {
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return kube.AppsV1().Deployments("").List(ctx, o)
	})
	p.PageSize = 500
	n := 0
	err := p.EachListItem(ctx, metav1.ListOptions{LabelSelector: benchLabel + "=true"}, func(o runtime.Object) error {
		n += int(o.(*appsv1.Deployment).Status.Replicas)
		return nil
	})
	return n, err
}

func count(ctx context.Context, kube kubernetes.Interface) (have, starting int, err error) {
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return kube.CoreV1().Pods("").List(ctx, o)
	})
	p.PageSize = 500
	err = p.EachListItem(ctx, metav1.ListOptions{LabelSelector: benchLabel + "=true"}, func(o runtime.Object) error {
		pod := o.(*corev1.Pod)
		have++
		switch {
		case pod.Labels[brokenLabel] == "pending":
		case pod.Spec.NodeName == "" || len(pod.Status.ContainerStatuses) == 0:
			starting++
		}
		return nil
	})
	return have, starting, err
}
