package strategy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// initialEventsGrace is how long VerifyEndpoints waits for the end-of-initial-events
// bookmark before it treats what it has as the initial state: servers without the
// WatchList feature (before 1.27, or with it disabled) ignore sendInitialEvents and send
// the initial state as plain ADDED events without the bookmark.
const initialEventsGrace = 2 * time.Second

// EndpointState is what a Service's EndpointSlices list: the pods behind it.
type EndpointState struct {
	// Ready are the pods listed with a ready endpoint; NotReady the others.
	Ready    []string
	NotReady []string
	// Foreign are listed pods (ready or not) outside the expected set.
	Foreign []string
}

// VerifyEndpoints watches the Service's EndpointSlices (one WATCH with its initial state,
// no LIST) until they list only the expected pods and a ready endpoint for each of them,
// bounded by timeout (0: DefaultVerifyTimeout). It returns how many pods are ready behind
// the Service. This is what proves a switch: the EndpointSlice controller has applied the
// new selector, so kube-proxy on every node is being told about the target pods only.
func VerifyEndpoints(ctx context.Context, env *Env, svc *corev1.Service, expected map[string]bool, timeout time.Duration) (int, error) {
	return verifyEndpoints(ctx, env, svc, targetPods{names: expected, count: len(expected)}, timeout)
}

// targetPods are the pods a switched Service must list: the named ones (the pods a
// preflight listed), or, when the switch did not list pods, the pods of one Deployment,
// known by their names (<deployment>-<pod-template-hash>-<suffix>, which the ReplicaSet
// controller gives them), at least count of them ready.
type targetPods struct {
	names      map[string]bool
	deployment string
	count      int
}

func (t targetPods) has(pod string) bool {
	if t.names != nil {
		return t.names[pod]
	}
	rest, ok := strings.CutPrefix(pod, t.deployment+"-")
	// One dash left: the ReplicaSet's hash, then the pod's suffix (a long name truncated
	// by generateName may lose the dash). More: a Deployment whose name extends this one.
	return ok && t.deployment != "" && strings.Count(rest, "-") <= 1
}

func verifyEndpoints(ctx context.Context, env *Env, svc *corev1.Service, expected targetPods, timeout time.Duration) (int, error) {
	if timeout <= 0 {
		timeout = DefaultVerifyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	slices := map[string]*discoveryv1.EndpointSlice{}
	synced := false
	var last EndpointState
	check := func() bool {
		last = endpointState(slices, expected)
		return len(last.Foreign) == 0 && len(last.NotReady) == 0 && len(last.Ready) >= expected.count
	}
	for {
		w, err := watchSlices(ctx, env, svc)
		if err != nil {
			return 0, fmt.Errorf("watch endpointslices of service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		grace := time.NewTimer(initialEventsGrace)
		done, err := func() (bool, error) {
			defer w.Stop()
			defer grace.Stop()
			for {
				select {
				case <-ctx.Done():
					return false, ctx.Err()
				case <-grace.C:
					if !synced {
						synced = true
						if check() {
							return true, nil
						}
					}
				case ev, ok := <-w.ResultChan():
					if !ok {
						return false, nil // closed by the server: watch again
					}
					switch ev.Type {
					case watch.Error:
						return false, apierrors.FromObject(ev.Object)
					case watch.Bookmark:
						if m, err := metaOf(ev.Object); err == nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
							synced = true
						}
					case watch.Added, watch.Modified:
						if s, ok := ev.Object.(*discoveryv1.EndpointSlice); ok {
							slices[s.Name] = s
						}
					case watch.Deleted:
						if s, ok := ev.Object.(*discoveryv1.EndpointSlice); ok {
							delete(slices, s.Name)
						}
					}
					if synced && check() {
						return true, nil
					}
				}
			}
		}()
		if done {
			return len(last.Ready), nil
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return len(last.Ready), fmt.Errorf("the endpointslices of service %s/%s did not list only the %d target pods within %s: %s (check `kubectl get endpointslices -n %s -l %s=%s`)",
					svc.Namespace, svc.Name, expected.count, timeout, last.describe(), svc.Namespace, discoveryv1.LabelServiceName, svc.Name)
			}
			return len(last.Ready), fmt.Errorf("verify endpoints of service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		// The server closed the watch: start over from a fresh initial state.
		slices, synced = map[string]*discoveryv1.EndpointSlice{}, false
	}
}

// watchSlices opens the one WATCH: initial events plus the end-of-initial-events
// bookmark (WatchList), so that no LIST is needed and the initial state is known to be
// complete before it is judged.
func watchSlices(ctx context.Context, env *Env, svc *corev1.Service) (watch.Interface, error) {
	send := true
	return env.Client.DiscoveryV1().EndpointSlices(svc.Namespace).Watch(ctx, metav1.ListOptions{
		LabelSelector:        discoveryv1.LabelServiceName + "=" + svc.Name,
		SendInitialEvents:    &send,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks:  true,
	})
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("not an object: %T", obj)
	}
	return m, nil
}

// endpointState sums the slices up by pod; a pod listed in several slices (one per
// address family) counts once, ready if any lists it ready.
func endpointState(slices map[string]*discoveryv1.EndpointSlice, expected targetPods) EndpointState {
	ready := map[string]bool{}
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			if t := ep.Conditions.Terminating; t != nil && *t && (ep.Conditions.Ready == nil || !*ep.Conditions.Ready) {
				continue // a pod being deleted: kube-proxy sends it no new connections
			}
			name := "<no pod>"
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				name = ep.TargetRef.Name
			}
			r := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			ready[name] = ready[name] || r
		}
	}
	var st EndpointState
	for name, r := range ready {
		switch {
		case !expected.has(name):
			st.Foreign = append(st.Foreign, name)
		case r:
			st.Ready = append(st.Ready, name)
		default:
			st.NotReady = append(st.NotReady, name)
		}
	}
	sort.Strings(st.Ready)
	sort.Strings(st.NotReady)
	sort.Strings(st.Foreign)
	return st
}

func (s EndpointState) describe() string {
	parts := []string{fmt.Sprintf("%d target pods ready", len(s.Ready))}
	if len(s.NotReady) > 0 {
		parts = append(parts, fmt.Sprintf("not ready: %s", strings.Join(s.NotReady, ", ")))
	}
	if len(s.Foreign) > 0 {
		parts = append(parts, fmt.Sprintf("still listing other pods: %s", strings.Join(s.Foreign, ", ")))
	}
	return strings.Join(parts, "; ")
}
