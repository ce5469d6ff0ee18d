package localcluster

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestEgressThroughRealAPIServer runs etcd and the pinned kube-apiserver with the egress
// configuration (no controllers, no kwok) and GETs through pods/proxy: the simulated app
// answers, its error code passes through, and a refused port is the apiserver's 503 with
// "connection refused". It needs the binaries: FEASTFLOW_BIN=.cache/bin (absolute).
func TestEgressThroughRealAPIServer(t *testing.T) {
	bin := os.Getenv("FEASTFLOW_BIN")
	if bin == "" || !filepath.IsAbs(bin) {
		t.Skip("set FEASTFLOW_BIN to the absolute directory of etcd and kube-apiserver")
	}
	state := t.TempDir()
	c, err := Config{BinDir: bin, StateDir: state}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, logsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	p1, _ := freePort()
	p2, _ := freePort()
	p3, _ := freePort()
	ports := Ports{Etcd: p1, EtcdPeer: p2, APIServer: p3}
	if _, err := ensurePKI(filepath.Join(state, pkiDir)); err != nil {
		t.Fatal(err)
	}
	if err := writeKubeconfigs(state, p3); err != nil {
		t.Fatal(err)
	}
	if err := writeEgressConfig(state); err != nil {
		t.Fatal(err)
	}
	var procs []Process
	defer func() { stopProcesses(procs, os.Stderr) }()
	for _, n := range []string{Etcd, KubeAPIServer} {
		r, err := startComponent(c, n, componentArgs(n, c, ports, 1))
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, r.proc)
	}
	cs, _ := adminClient(state)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := pollUntil(ctx, 200*time.Millisecond, func(ctx context.Context) error { return readyz(ctx, cs) }); err != nil {
		t.Fatalf("readyz: %v\n%s", err, logTail(filepath.Join(state, logsDir, "kube-apiserver.log"), 30))
	}
	l, err := net.Listen("unix", EgressSocketPath(state))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = (&EgressServer{Client: cs, Log: log.New(os.Stderr, "egress ", 0)}).Run(ctx, l) }()
	// No controller-manager: create the default ServiceAccount that pod admission wants.
	var pod *corev1.Pod
	if err := pollUntil(ctx, 500*time.Millisecond, func(ctx context.Context) error {
		var err error
		_, _ = cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		f := false
		pod, err = cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{SimHTTPStatusAnnotation: "/bad=500"}},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: &f, Containers: []corev1.Container{{Name: "a", Image: "x"}}}}, metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Pods("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"status":{"phase":"Running","podIP":"10.99.0.7","podIPs":[{"ip":"10.99.0.7"}]}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	_ = pod
	get := func(path string) (int, string) {
		res := cs.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name("web:8080").SubResource("proxy").Suffix(path).Do(ctx)
		var code int
		body, _ := res.StatusCode(&code).Raw()
		return code, string(body)
	}
	// The pod IP reaches the egress server's informer or its LIST fallback at once.
	if code, body := get("ok"); code != 200 || !strings.Contains(body, `"pod":"web"`) {
		t.Fatalf("GET /ok through pods/proxy: %d %q", code, body)
	}
	if _, body := get("bad"); !strings.Contains(body, `"code":500`) {
		t.Fatalf("GET /bad through pods/proxy: %q", body)
	}
	if _, err := cs.CoreV1().Pods("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"annotations":{"sim.feastflow.dev/http-refuse":"true"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err = pollUntil(ctx, 100*time.Millisecond, func(context.Context) error {
		if code, body := get("x"); code != 503 || !strings.Contains(body, "connection refused") {
			return fmt.Errorf("refused port: %d %q", code, body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
