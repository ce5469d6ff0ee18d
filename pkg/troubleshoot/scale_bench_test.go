package troubleshoot

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

// thresholdSnapshot builds, without an API server, a snapshot in the proportions of the
// scalability thresholds (5,000 nodes : 150,000 pods : 10,000 Services) with pods total
// pods, 15 per component, 50 components per namespace, one component in 25 broken (crash
// loop, pending, Service selecting nothing), as bench/scalegen builds on the real cluster.
func thresholdSnapshot(pods int) *snapshot {
	s, typed := thresholdCluster(pods)
	share := newSharer()
	s.pods = make([]podRecord, 0, len(typed))
	for i := range typed {
		s.pods = append(s.pods, newPodRecord(&typed[i], share))
	}
	return s
}

// thresholdCluster is thresholdSnapshot without its pods, and its pods as typed objects.
func thresholdCluster(pods int) (*snapshot, []corev1.Pod) {
	s := &snapshot{known: map[string]bool{}}
	for _, k := range []string{"pods", "events", "nodes", "services", "endpointslices", "replicasets", "deployments", "persistentvolumeclaims", "persistentvolumes", "storageclasses", "poddisruptionbudgets", "resourcequotas", "serviceaccounts"} {
		s.known[k] = true
	}
	nodes := max(1, pods/30)
	for i := range nodes {
		s.nodes = append(s.nodes, *node(fmt.Sprintf("kwok-node-%d", i), "32", "256Gi"))
	}
	comps := (pods + 14) / 15
	typed := make([]corev1.Pod, 0, pods)
	for c := range comps {
		space := fmt.Sprintf("scale-%03d", c/50)
		name := fmt.Sprintf("app-%05d", c)
		labels := map[string]string{"app": name}
		d := deployment(name, labels, 15)
		d.Namespace = space
		rs := replicaSet(d, "5f9c", 15, 15)
		rs.Namespace = space
		s.deployments = append(s.deployments, *d)
		s.replicaSets = append(s.replicaSets, *rs)
		sel := labels
		broken := ""
		if c%25 == 24 {
			broken = []string{"crashloop", "pending", "selector"}[(c/25)%3]
		}
		if broken == "selector" {
			sel = map[string]string{"app": name + "-v2"}
		}
		svc := service(name, sel, intstr.FromString("http"))
		svc.Namespace = space
		s.services = append(s.services, *svc)
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-x", Namespace: space, Labels: map[string]string{discoveryv1.LabelServiceName: name}}}
		for r := range min(15, pods-c*15) {
			p := pod(fmt.Sprintf("%s-5f9c-%02d", name, r), rs, labels)
			p.Namespace = space
			p.Spec.NodeName = s.nodes[(c*15+r)%nodes].Name
			switch broken {
			case "crashloop":
				crashing(p, 1, "Error")
				p.Status.Conditions[1].Status = corev1.ConditionFalse
			case "pending":
				p.Spec.NodeName = ""
				p.Spec.NodeSelector = map[string]string{"disktype": "nvme"}
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
					Message: fmt.Sprintf("0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector.", nodes, nodes)}}}
			}
			typed = append(typed, *p)
			ready := broken == ""
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.1.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: space, Name: p.Name}})
		}
		s.slices = append(s.slices, *es)
	}
	return s, typed
}

// BenchmarkAnalysisAtThresholds times the analysis alone (no API reads) at the thresholds:
//
//	go test ./pkg/troubleshoot -run '^$' -bench AnalysisAtThresholds -benchtime 1x -benchmem
func BenchmarkAnalysisAtThresholds(b *testing.B) {
	for _, pods := range []int{10000, 50000, 150000} {
		s := thresholdSnapshot(pods)
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			opts := Options{MaxLogs: -1, Now: func() time.Time { return testNow }, LogLines: 1}
			for b.Loop() {
				a := newAnalysis(context.Background(), fake.NewClientset(), opts, s)
				a.run(true)
				if len(a.findings) == 0 {
					b.Fatal("no findings")
				}
			}
		})
	}
}

// BenchmarkPodRecords reports what the snapshot keeps of each pod once its page is garbage
// (B/pod, and kept/protobuf: the kept bytes over the pod's protobuf encoding), for pods in
// the thresholds' proportions (one in 25 components broken):
//
//	go test ./pkg/troubleshoot -run '^$' -bench PodRecords -benchtime 1x
func BenchmarkPodRecords(b *testing.B) {
	_, typed := thresholdCluster(10000)
	wire := make([][]byte, len(typed))
	encoded := 0
	for i := range typed {
		w, err := typed[i].Marshal()
		if err != nil {
			b.Fatal(err)
		}
		wire[i], encoded = w, encoded+len(w)
	}
	typed = nil
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		share := newSharer()
		recs := make([]podRecord, 0, len(wire))
		for _, w := range wire {
			var p corev1.Pod
			if err := p.Unmarshal(w); err != nil {
				b.Fatal(err)
			}
			recs = append(recs, newPodRecord(&p, share))
		}
		share = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept := float64(after.HeapAlloc - before.HeapAlloc)
		b.ReportMetric(kept/float64(len(recs)), "B/pod")
		b.ReportMetric(kept/float64(encoded), "kept/protobuf")
		runtime.KeepAlive(recs)
	}
}
