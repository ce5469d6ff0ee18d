package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/yaml"
)

func TestRenderKwokConfig(t *testing.T) {
	for _, delay := range []time.Duration{0, 1500 * time.Millisecond} {
		cfg, err := renderKwokConfig(delay, "/state/sim-logs")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(cfg, []byte("<%")) {
			t.Fatal("unrendered template delimiters left")
		}
		docs := decodeDocs(t, cfg)
		stages := map[string]map[string]any{}
		for _, d := range docs {
			meta, _ := d["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			switch d["kind"] {
			case "Stage":
				stages[name] = d
			case "ClusterLogs":
				if !strings.Contains(toString(d), "/state/sim-logs/app-previous.log") {
					t.Errorf("ClusterLogs without the log dir: %v", d)
				}
			default:
				t.Errorf("unexpected kind %v", d["kind"])
			}
		}
		for _, want := range []string{"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-running", "pod-ready-delayed",
			"pod-complete", "pod-delete", "sim-crashloop", "sim-imagepullbackoff", "sim-errimagepull", "sim-init-fail", "sim-init-fail-never",
			"sim-createcontainerconfigerror", "sim-crashloop-restart", "pvc-provision", "pv-delete"} {
			if stages[want] == nil {
				t.Errorf("delay %s: stage %s missing", delay, want)
			}
		}
		delayed := toString(stages["pod-ready-delayed"])
		if !strings.Contains(delayed, "durationMilliseconds:"+itoa(delay.Milliseconds())) {
			t.Errorf("delay %s: pod-ready-delayed has no matching delay: %s", delay, delayed)
		}
		fast := toString(stages["pod-ready"])
		if !strings.Contains(fast, simStateExpr) {
			t.Errorf("pod-ready does not exclude simulated pods")
		}
		wantDelayedExpr := `.metadata.annotations["sim.feastflow.dev/ready-delay"] != null`
		if delay > 0 {
			wantDelayedExpr = "key:true"
		}
		if !strings.Contains(fast, wantDelayedExpr) {
			t.Errorf("delay %s: pod-ready selector lacks %q: %s", delay, wantDelayedExpr, fast)
		}
	}
}

func TestComponentArgs(t *testing.T) {
	c, err := Config{BinDir: "/bin", StateDir: "/s"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ports := Ports{Etcd: 1, EtcdPeer: 2, APIServer: 3, Kwok: 4}
	has := func(name string, want ...string) {
		t.Helper()
		got := strings.Join(componentArgs(name, c, ports, 3), " ")
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s args lack %q: %s", name, w, got)
			}
		}
	}
	has(Etcd, "--listen-client-urls=http://127.0.0.1:1", "--listen-peer-urls=http://127.0.0.1:2", "--data-dir=/s/etcd-data")
	has(KubeAPIServer, "--secure-port=3", "--bind-address=127.0.0.1", "--endpoint-reconciler-type=none", "--etcd-servers=http://127.0.0.1:1")
	has(KubeControllerManager, "--kube-api-qps=200", "--kube-api-burst=400", "--flex-volume-plugin-dir=/s/flexvolume", "--secure-port=0")
	has(KubeScheduler, "--kube-api-qps=200", "--kube-api-burst=400", "--secure-port=0")
	has(Kwok, "--node-lease-duration-seconds=40", "--server-address=127.0.0.1:4", "--node-port=4", "--cidr=10.103.0.1/16",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake")
}

func TestRenderNode(t *testing.T) {
	c, _ := Config{BinDir: "/b", StateDir: "/s"}.withDefaults()
	for i, zone := range []string{"zone-a", "zone-b", "zone-c", "zone-a"} {
		n, err := renderNode(c, i)
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels["topology.kubernetes.io/zone"] != zone || n.Labels["kubernetes.io/hostname"] != n.Name || n.Annotations["kwok.x-k8s.io/node"] != "fake" {
			t.Errorf("node %d: labels %v annotations %v", i, n.Labels, n.Annotations)
		}
		if n.Status.Capacity.Cpu().String() != "4" || n.Status.Capacity.Memory().String() != "16Gi" || n.Status.Capacity.Pods().String() != "110" {
			t.Errorf("node %d capacity %v", i, n.Status.Capacity)
		}
	}
	if _, err := renderNode(Config{NodeCPU: "lots", NodeMemory: "1Gi"}, 0); err == nil {
		t.Error("bad cpu quantity accepted")
	}
}

func decodeDocs(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("decode kwok config: %v", err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

func toString(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				b.WriteString(k + ":")
				walk(e)
				b.WriteString(" ")
			}
		case []any:
			for _, e := range x {
				walk(e)
				b.WriteString(" ")
			}
		default:
			b.WriteString(strings.TrimSpace(strings.ReplaceAll(anyString(x), "\n", " ")))
		}
	}
	walk(v)
	return b.String()
}

func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return itoa(x)
	case float64:
		return itoa(int64(x))
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Workers raise kwok's stage parallelism (a KwokConfiguration document after the stages) and
// the controller-manager's ReplicaSet and Deployment syncs; zero leaves both at their defaults.
func TestWorkers(t *testing.T) {
	if kwokWorkersConfig(0) != nil || kcmWorkers(0) != nil {
		t.Fatal("zero workers must change nothing")
	}
	stages, err := renderKwokConfig(0, "/state/sim-logs")
	if err != nil {
		t.Fatal(err)
	}
	docs := decodeDocs(t, append(stages, kwokWorkersConfig(32)...))
	last := docs[len(docs)-1]
	opts, _ := last["options"].(map[string]any)
	if last["kind"] != "KwokConfiguration" || fmt.Sprint(opts["podPlayStageParallelism"]) != "32" || fmt.Sprint(opts["nodePlayStageParallelism"]) != "32" {
		t.Fatalf("last document %v", last)
	}
	c, _ := Config{BinDir: "/b", StateDir: "/s", Workers: 32}.withDefaults()
	got := strings.Join(componentArgs(KubeControllerManager, c, Ports{}, 1), " ")
	for _, w := range []string{"--concurrent-replicaset-syncs=32", "--concurrent-deployment-syncs=32", "--kube-api-qps=200"} {
		if !strings.Contains(got, w) {
			t.Errorf("controller-manager args lack %q: %s", w, got)
		}
	}
	if d, _ := (Config{BinDir: "/b", StateDir: "/s"}).withDefaults(); d.fingerprint() == c.fingerprint() {
		t.Error("workers do not change the fingerprint: a running cluster would be reused with the old settings")
	}
}

func TestNodeLeaseArgs(t *testing.T) {
	ports := Ports{Etcd: 1, EtcdPeer: 2, APIServer: 3, Kwok: 4}
	for _, tc := range []struct {
		lease       time.Duration
		kwok, kcm   string
		fingerprint string
	}{
		{0, "--node-lease-duration-seconds=40", "--node-monitor-grace-period=50s", ""},
		{240 * time.Second, "--node-lease-duration-seconds=240", "--node-monitor-grace-period=4m0s", " lease=4m0s"},
	} {
		c, err := Config{BinDir: "/b", StateDir: "/s", NodeLease: tc.lease}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(componentArgs(Kwok, c, ports, 1), " "); !strings.Contains(got, tc.kwok) {
			t.Errorf("lease %s: kwok args lack %q: %s", tc.lease, tc.kwok, got)
		}
		if got := strings.Join(componentArgs(KubeControllerManager, c, ports, 1), " "); !strings.Contains(got, tc.kcm) {
			t.Errorf("lease %s: controller-manager args lack %q: %s", tc.lease, tc.kcm, got)
		}
		if got := c.leaseFingerprint(); got != tc.fingerprint {
			t.Errorf("lease %s: fingerprint part %q, want %q", tc.lease, got, tc.fingerprint)
		}
	}
	if _, err := (Config{BinDir: "/b", StateDir: "/s", NodeLease: 1500 * time.Millisecond}).withDefaults(); err == nil {
		t.Error("a lease of 1.5s was accepted; kwok takes whole seconds")
	}
}
