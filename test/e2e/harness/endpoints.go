package harness

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Endpoint is one ready endpoint of a Service.
type Endpoint struct {
	// Address is the endpoint's first address (the pod IP).
	Address string
	// Pod is the name of the pod behind it (targetRef), "" if none.
	Pod string
	// Node is the endpoint's node.
	Node string
}

// EndpointSnapshot is the ready endpoint set of a Service from At until the next snapshot.
type EndpointSnapshot struct {
	At    time.Time
	Ready []Endpoint
}

// EndpointRecorder watches a Service's EndpointSlices (discovery.k8s.io/v1, label
// kubernetes.io/service-name) and records every change of its ready endpoint set with a
// timestamp, so a test can assert on what clients could have reached at any moment. It also
// watches the namespace's pods to resolve endpoint labels, including pods since deleted.
//
// An endpoint counts as ready when its ready condition is true or unset (the API's rule).
// A change the EndpointSlice controller spreads over several slices can show as
// intermediate snapshots; one slice holds up to 100 endpoints, so small Services have one.
type EndpointRecorder struct {
	h         *H
	ns, svc   string
	cancel    context.CancelFunc
	mu        sync.Mutex
	synced    bool
	slices    map[string][]discoveryv1.Endpoint
	podLabels map[string]map[string]string
	snaps     []EndpointSnapshot
	changed   chan struct{}
}

// RecordEndpoints starts recording the ready endpoints of Service ns/service; it returns once
// the first snapshot (the state at start) is taken. Recording stops when the test ends.
func (h *H) RecordEndpoints(ns, service string) *EndpointRecorder {
	h.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &EndpointRecorder{h: h, ns: ns, svc: service, cancel: cancel, slices: map[string][]discoveryv1.Endpoint{},
		podLabels: map[string]map[string]string{}, changed: make(chan struct{})}
	h.T.Cleanup(r.Stop)
	slices := informers.NewSharedInformerFactoryWithOptions(h.Client, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = discoveryv1.LabelServiceName + "=" + service }))
	pods := informers.NewSharedInformerFactoryWithOptions(h.Client, 0, informers.WithNamespace(ns))
	sliceInf := slices.Discovery().V1().EndpointSlices().Informer()
	podInf := pods.Core().V1().Pods().Informer()
	_, _ = sliceInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.onSlice(o, false) },
		UpdateFunc: func(_, o any) { r.onSlice(o, false) },
		DeleteFunc: func(o any) { r.onSlice(o, true) },
	})
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    r.onPod,
		UpdateFunc: func(_, o any) { r.onPod(o) },
	})
	slices.Start(ctx.Done())
	pods.Start(ctx.Done())
	syncCtx, syncCancel := context.WithTimeout(ctx, DefaultWait)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), sliceInf.HasSynced, podInf.HasSynced) {
		h.T.Fatalf("record endpoints of %s/%s: informers did not sync", ns, service)
	}
	r.mu.Lock()
	r.synced = true
	r.snapshotLocked(true)
	r.mu.Unlock()
	return r
}

// Stop ends the recording; snapshots stay readable.
func (r *EndpointRecorder) Stop() { r.cancel() }

func (r *EndpointRecorder) onSlice(o any, deleted bool) {
	if tomb, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o, deleted = tomb.Obj, true
	}
	s, ok := o.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if deleted {
		delete(r.slices, s.Name)
	} else {
		r.slices[s.Name] = s.Endpoints
	}
	if r.synced {
		r.snapshotLocked(false)
	}
}

func (r *EndpointRecorder) onPod(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	r.podLabels[p.Name] = p.Labels
	r.mu.Unlock()
}

// snapshotLocked appends a snapshot when the ready set changed (or always when force).
func (r *EndpointRecorder) snapshotLocked(force bool) {
	var ready []Endpoint
	for _, eps := range r.slices {
		for _, ep := range eps {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			e := Endpoint{}
			if len(ep.Addresses) > 0 {
				e.Address = ep.Addresses[0]
			}
			if ep.TargetRef != nil {
				e.Pod = ep.TargetRef.Name
			}
			if ep.NodeName != nil {
				e.Node = *ep.NodeName
			}
			ready = append(ready, e)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].Address < ready[j].Address })
	if !force && len(r.snaps) > 0 && sameEndpoints(r.snaps[len(r.snaps)-1].Ready, ready) {
		return
	}
	r.snaps = append(r.snaps, EndpointSnapshot{At: time.Now(), Ready: ready})
	close(r.changed)
	r.changed = make(chan struct{})
}

func sameEndpoints(a, b []Endpoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Snapshots returns every recorded snapshot, oldest first.
func (r *EndpointRecorder) Snapshots() []EndpointSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]EndpointSnapshot(nil), r.snaps...)
}

// Current returns the ready endpoints now.
func (r *EndpointRecorder) Current() []Endpoint {
	s := r.Snapshots()
	return s[len(s)-1].Ready
}

// MinReady returns the fewest ready endpoints the Service had at any moment of the recording.
func (r *EndpointRecorder) MinReady() int {
	return r.MinReadySince(time.Time{})
}

// MinReadySince returns the fewest ready endpoints at any moment from t on (the snapshot in
// effect at t included).
func (r *EndpointRecorder) MinReadySince(t time.Time) int {
	least := -1
	for _, s := range r.since(t) {
		if least < 0 || len(s.Ready) < least {
			least = len(s.Ready)
		}
	}
	return least
}

// since returns the snapshots in effect at or after t.
func (r *EndpointRecorder) since(t time.Time) []EndpointSnapshot {
	all := r.Snapshots()
	start := 0
	for i, s := range all {
		if !s.At.After(t) {
			start = i
		}
	}
	return all[start:]
}

// Label returns the value of label key on the pod behind e ("" when unknown).
func (r *EndpointRecorder) Label(e Endpoint, key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.podLabels[e.Pod][key]
}

// LabelValues counts the endpoints of eps per value of label key on their pods, e.g.
// {"blue": 2} for key "version".
func (r *EndpointRecorder) LabelValues(eps []Endpoint, key string) map[string]int {
	out := map[string]int{}
	for _, e := range eps {
		out[r.Label(e, key)]++
	}
	return out
}

// ValuesSince returns every value of label key found on a ready endpoint at any moment from
// t on: after a switch to green at T, ValuesSince(T, "version") must be {"green"}.
func (r *EndpointRecorder) ValuesSince(t time.Time, key string) map[string]bool {
	out := map[string]bool{}
	for _, s := range r.since(t) {
		for v := range r.LabelValues(s.Ready, key) {
			out[v] = true
		}
	}
	return out
}

// Colors returns, per snapshot, the count of ready endpoints per value of label key, as one
// line per snapshot ("+0.512s blue=2 green=1"), for assertions and failure messages.
func (r *EndpointRecorder) Colors(key string) []string {
	snaps := r.Snapshots()
	var out []string
	for _, s := range snaps {
		counts := r.LabelValues(s.Ready, key)
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := []string{"+" + s.At.Sub(snaps[0].At).Round(time.Millisecond).String()}
		for _, k := range keys {
			parts = append(parts, k+"="+itoa(counts[k]))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// WaitUntil waits (DefaultWait) until cond holds for the current ready endpoints, re-checking
// on every change; it fails the test with the recorded history otherwise.
func (r *EndpointRecorder) WaitUntil(what string, cond func(ready []Endpoint) bool) {
	r.h.T.Helper()
	deadline := time.NewTimer(DefaultWait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ready := r.snaps[len(r.snaps)-1].Ready
		changed := r.changed
		r.mu.Unlock()
		if cond(ready) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			r.h.T.Fatalf("endpoints of %s/%s: %s not reached within %s; history:\n%s", r.ns, r.svc, what, DefaultWait, strings.Join(r.history(), "\n"))
		}
	}
}

func (r *EndpointRecorder) history() []string {
	var out []string
	snaps := r.Snapshots()
	for _, s := range snaps {
		pods := make([]string, 0, len(s.Ready))
		for _, e := range s.Ready {
			pods = append(pods, e.Pod)
		}
		out = append(out, "  +"+s.At.Sub(snaps[0].At).Round(time.Millisecond).String()+" "+strings.Join(pods, ","))
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
