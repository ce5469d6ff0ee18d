package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/feastflow/kubectl-feastflow/internal/localcluster"
)

// ExtraCluster is a cluster a test started besides the run's shared one.
type ExtraCluster struct {
	Kubeconfig string
	StateDir   string
	Client     kubernetes.Interface
}

// ExtraClusters starts n more local clusters for this test only, in parallel, each with
// nodes kwok nodes (keep it small: every cluster costs about half a GiB), and stops them
// when the test ends. A start failure fails the test.
func (h *H) ExtraClusters(n, nodes int) []*ExtraCluster {
	h.T.Helper()
	out := make([]*ExtraCluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = h.startExtra(nodes)
		}()
	}
	wg.Wait()
	for _, c := range out {
		if c != nil {
			h.T.Cleanup(func() {
				if err := localcluster.Stop(c.StateDir, nil); err != nil {
					h.T.Logf("stop cluster %s: %v", c.StateDir, err)
				}
				if !h.T.Failed() {
					_ = os.RemoveAll(c.StateDir)
				}
			})
		}
	}
	for _, err := range errs {
		if err != nil {
			h.T.Fatalf("harness: %v", err)
		}
	}
	return out
}

func (h *H) startExtra(nodes int) (*ExtraCluster, error) {
	state, err := os.MkdirTemp("", "feastflow-e2e-extra-")
	if err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	cl, err := localcluster.Start(context.Background(), localcluster.Config{
		BinDir: h.Env.BinDir, StateDir: state, Nodes: nodes, StopWithParent: true, Timeout: 3 * time.Minute,
	})
	if err != nil {
		return &ExtraCluster{StateDir: state}, fmt.Errorf("start extra cluster (state %s): %w", state, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cl.Kubeconfig)
	if err != nil {
		return &ExtraCluster{StateDir: state}, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return &ExtraCluster{StateDir: state}, err
	}
	return &ExtraCluster{Kubeconfig: cl.Kubeconfig, StateDir: state, Client: client}, nil
}

// KubeconfigContext is one context of a kubeconfig WriteKubeconfig writes.
type KubeconfigContext struct {
	// Name of the context.
	Name string
	// From is the kubeconfig whose current context it copies.
	From string
	// As impersonates this user (kubectl's --as), e.g. one that may read nothing.
	As string
	// Namespace is the context's default namespace.
	Namespace string
}

// WriteKubeconfig writes one kubeconfig holding every context given, in a directory the
// test owns, and returns its path.
func (h *H) WriteKubeconfig(contexts ...KubeconfigContext) string {
	h.T.Helper()
	merged := clientcmdapi.NewConfig()
	for _, c := range contexts {
		src, err := clientcmd.LoadFromFile(c.From)
		if err != nil {
			h.T.Fatalf("load kubeconfig %s: %v", c.From, err)
		}
		cur := src.Contexts[src.CurrentContext]
		if cur == nil {
			h.T.Fatalf("kubeconfig %s has no current context", c.From)
		}
		user := *src.AuthInfos[cur.AuthInfo]
		if c.As != "" {
			user.Impersonate = c.As
		}
		merged.Clusters[c.Name] = src.Clusters[cur.Cluster]
		merged.AuthInfos[c.Name] = &user
		merged.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name, Namespace: c.Namespace}
		if merged.CurrentContext == "" {
			merged.CurrentContext = c.Name
		}
	}
	path := filepath.Join(h.T.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		h.T.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

// FeastflowWith is Feastflow with another kubeconfig (KUBECONFIG set to it).
func (h *H) FeastflowWith(kubeconfig string, args ...string) Result {
	h.T.Helper()
	plugin, err := h.Env.plugin()
	if err != nil {
		h.T.Fatalf("harness: kubectl-feastflow: %v", err)
	}
	return h.runWith(kubeconfig, "", filepath.Dir(plugin), append([]string{"feastflow"}, args...))
}
