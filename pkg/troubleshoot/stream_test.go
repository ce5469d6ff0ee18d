package troubleshoot

import (
	"fmt"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/feastflow/kubectl-feastflow/pkg/pages/pagestest"
)

// thresholdObjects is thresholdSnapshot's cluster as API objects, with the events a real
// one has: a Scheduled event per scheduled pod, BackOff and Killing for the crash loops,
// FailedScheduling for the pending pods, and events of ReplicaSets and Services. Events are
// listed in an order that interleaves objects, so that the events of one pod fall on both
// sides of a page boundary.
func thresholdObjects(pods int) []runtime.Object {
	s, typed := thresholdCluster(pods)
	var objs, evs []runtime.Object
	n := 0
	ev := func(kind, space, name, reason, typ, msg, field string, count int32, last time.Duration) {
		n++
		e := event(kind, name, reason, typ, msg, count, last)
		e.Name, e.Namespace, e.InvolvedObject.Namespace, e.InvolvedObject.FieldPath = fmt.Sprintf("%s.%d", name, n), space, space, field
		evs = append(evs, e)
	}
	for i := range s.nodes {
		objs = append(objs, &s.nodes[i])
	}
	for i := range s.deployments {
		objs = append(objs, &s.deployments[i], &s.replicaSets[i], &s.services[i], &s.slices[i])
		rs := &s.replicaSets[i]
		ev("ReplicaSet", rs.Namespace, rs.Name, "SuccessfulCreate", "Normal", "Created pod: "+rs.Name+"-00", "", 15, time.Hour)
		if i%7 == 0 {
			ev("Service", rs.Namespace, s.services[i].Name, "UpdatedLoadBalancer", "Normal", "updated", "", 1, 2*time.Hour)
		}
	}
	for i := range typed {
		p := &typed[i]
		objs = append(objs, p)
		if p.Spec.NodeName == "" {
			ev("Pod", p.Namespace, p.Name, "FailedScheduling", "Warning", p.Status.Conditions[0].Message, "", 4, time.Minute)
		} else {
			ev("Pod", p.Namespace, p.Name, "Scheduled", "Normal", "Successfully assigned "+p.Namespace+"/"+p.Name+" to "+p.Spec.NodeName, "", 1, time.Hour)
		}
		if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount > 0 {
			ev("Pod", p.Namespace, p.Name, "BackOff", "Warning", "Back-off restarting failed container app", "spec.containers{app}", 9, time.Minute)
			ev("Pod", p.Namespace, p.Name, "Killing", "Normal", "Container app failed liveness probe, will be restarted", "spec.containers{app}", 2, 3*time.Minute)
			ev("Pod", p.Namespace, p.Name, "Unhealthy", "Warning", "Liveness probe failed: HTTP probe failed with statuscode: 500", "spec.containers{app}", 6, 3*time.Minute)
		}
	}
	// Interleave: the tracker lists by name within a namespace; names ending in their
	// sequence number spread one pod's events over the list.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].(metav1.Object).GetName() < evs[j].(metav1.Object).GetName() })
	return append(objs, evs...)
}

// The analysis streamed over pages gives the report of one unpaged read, whatever the page
// size: pages of 7 items split a ReplicaSet's pods, a pod's events and a Service's
// EndpointSlice from what they relate to.
func TestStreamedAnalysisOnPages(t *testing.T) {
	whole := newFixture(t, thresholdObjects(1150)...).diagnose(t, Scope{AllNamespaces: true})
	if len(whole.Findings) < 3 || whole.Summary.Pods != 1150 {
		t.Fatalf("fixture gives %d findings on %d pods:%s", len(whole.Findings), whole.Summary.Pods, dump(whole))
	}
	for _, size := range []int{7, 97} {
		f := newFixture(t, thresholdObjects(1150)...)
		req := pagestest.Paginate(&f.kube.Fake, f.kube.Tracker(), size)
		paged := f.diagnose(t, Scope{AllNamespaces: true})
		if a, b := findingsJSON(t, whole), findingsJSON(t, paged); a != b {
			t.Fatalf("pages of %d: findings differ:\nunpaged %s\npaged   %s", size, a, b)
		}
		if got, want := req.Lists("pods"), (1150+size-1)/size; got != want {
			t.Errorf("pages of %d: %d pod LISTs, want %d", size, got, want)
		}
	}
	fixtures := quietFixtures()
	names := make([]string, 0, len(fixtures))
	for name := range fixtures {
		names = append(names, name)
	}
	sort.Strings(names) // the golden reports are numbered in call order
	for _, name := range names {
		whole := findingsJSON(t, newFixture(t, fixtures[name]...).diagnose(t, Scope{}))
		f := newFixture(t, quietFixtures()[name]...)
		pagestest.Paginate(&f.kube.Fake, f.kube.Tracker(), 3)
		if paged := findingsJSON(t, f.diagnose(t, Scope{})); paged != whole {
			t.Errorf("%s: pages of 3 give other findings:\nunpaged %s\npaged   %s", name, whole, paged)
		}
	}
}
