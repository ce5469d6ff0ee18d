package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/feastflow/kubectl-feastflow/internal/localcluster"
)

// Environment variables read by the harness.
const (
	EnvKubeconfig  = "FEASTFLOW_KUBECONFIG"
	EnvPlugin      = "FEASTFLOW_PLUGIN"
	EnvBin         = "FEASTFLOW_BIN"
	EnvKeepCluster = "FEASTFLOW_KEEP_CLUSTER"
)

// Env is the cluster and the tools a test run uses; it is shared by every test of the run.
type Env struct {
	// ModuleRoot is the plugin module's directory (examples/ and cmd/ live there).
	ModuleRoot string
	// BinDir holds the cluster binaries (etcd, kube-apiserver, ..., kwok, kubectl).
	BinDir string
	// Kubeconfig is the admin kubeconfig of the cluster under test.
	Kubeconfig string
	// StateDir is the state directory of the cluster the harness started ("" when reused).
	StateDir string
	// Kubectl is the kubectl binary the commands run through.
	Kubectl string
	// Config and Client talk to the cluster as admin.
	Config *rest.Config
	Client kubernetes.Interface

	plugin func() (string, error) // builds or locates kubectl-feastflow once
}

var (
	envOnce sync.Once
	env     *Env
	envErr  error
	started *localcluster.Cluster
	// builtPluginDir is the temporary directory of a plugin the harness built.
	builtPluginDir string
)

// Main runs the tests of a package and stops the cluster the harness started, if any.
// Call it from TestMain: os.Exit(harness.Main(m)).
func Main(m *testing.M) int {
	// The clusters' egress proxies are this test binary started again.
	if ran, code := localcluster.RunEgressChild(); ran {
		return code
	}
	code := m.Run()
	if builtPluginDir != "" {
		_ = os.RemoveAll(builtPluginDir)
	}
	if started != nil {
		if os.Getenv(EnvKeepCluster) == "1" {
			fmt.Fprintf(os.Stderr, "harness: cluster left running: export KUBECONFIG=%s (stop: go run ./hack/localcluster down --state %s)\n", started.Kubeconfig, started.StateDir)
			return code
		}
		if err := localcluster.Stop(started.StateDir, nil); err != nil {
			fmt.Fprintf(os.Stderr, "harness: stop cluster: %v\n", err)
		}
		if code != 0 {
			_ = os.RemoveAll(filepath.Join(started.StateDir, "etcd-data"))
			fmt.Fprintf(os.Stderr, "harness: cluster logs kept in %s/logs\n", started.StateDir)
		} else {
			_ = os.RemoveAll(started.StateDir)
		}
	}
	return code
}

// Shared returns the run's environment, starting the cluster on first use.
func Shared() (*Env, error) {
	envOnce.Do(func() { env, envErr = setup() })
	return env, envErr
}

// Paths returns the plugin module's root and the cluster binaries' directory without
// starting anything, for tests that run their own clusters.
func Paths() (moduleRootDir, binDir string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	binDir = fromRoot(root, os.Getenv(EnvBin))
	if binDir == "" {
		binDir = filepath.Join(root, ".cache", "bin")
	}
	return root, binDir, nil
}

// fromRoot resolves a path from the environment: go test runs in the package directory, so
// a relative path is taken relative to the module root, where make and people run commands.
func fromRoot(root, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

func setup() (*Env, error) {
	root, binDir, err := Paths()
	if err != nil {
		return nil, err
	}
	e := &Env{ModuleRoot: root, BinDir: binDir}
	e.Kubectl = filepath.Join(e.BinDir, "kubectl")
	if _, err := os.Stat(e.Kubectl); err != nil {
		if e.Kubectl, err = exec.LookPath("kubectl"); err != nil {
			return nil, errors.New("no kubectl: run make cluster-bins or install kubectl")
		}
	}
	e.Kubeconfig = fromRoot(root, os.Getenv(EnvKubeconfig))
	if e.Kubeconfig == "" {
		cl, err := startCluster(e.BinDir)
		if err != nil {
			return nil, err
		}
		started = cl
		e.Kubeconfig, e.StateDir = cl.Kubeconfig, cl.StateDir
	}
	if e.Config, err = clientcmd.BuildConfigFromFlags("", e.Kubeconfig); err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", e.Kubeconfig, err)
	}
	e.Config.QPS, e.Config.Burst = 100, 200
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	e.plugin = sync.OnceValues(func() (string, error) { return locatePlugin(root) })
	return e, nil
}

// startCluster starts the run's cluster in a fresh temporary state directory.
func startCluster(binDir string) (*localcluster.Cluster, error) {
	delay, err := localcluster.PodReadyDelayFromEnv()
	if err != nil {
		return nil, err
	}
	state, err := os.MkdirTemp("", "feastflow-e2e-")
	if err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	// A generous deadline: a loaded CI machine can take far longer than the usual 4 s.
	cl, err := localcluster.Start(context.Background(), localcluster.Config{
		BinDir: binDir, StateDir: state, PodReadyDelay: delay, StopWithParent: true, Log: os.Stderr, Timeout: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("start local cluster (state %s): %w", state, err)
	}
	return cl, nil
}

// locatePlugin returns FEASTFLOW_PLUGIN or builds ./cmd/kubectl-feastflow into a temp dir.
func locatePlugin(root string) (string, error) {
	if p := fromRoot(root, os.Getenv(EnvPlugin)); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", EnvPlugin, err)
		}
		return p, nil
	}
	dir, err := os.MkdirTemp("", "feastflow-plugin-")
	if err != nil {
		return "", err
	}
	builtPluginDir = dir
	out := filepath.Join(dir, "kubectl-feastflow")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/kubectl-feastflow")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/kubectl-feastflow: %w\n%s", err, msg)
	}
	return out, nil
}

// moduleRoot walks up from the working directory to the plugin module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
