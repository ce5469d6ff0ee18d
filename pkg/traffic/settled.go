package traffic

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/util/podutils"
)

// PodLister lists the pods a smoke test must cover (all of them; PodsSettled keeps the
// Ready ones). It is called before the test and once more after it.
type PodLister func(ctx context.Context) ([]corev1.Pod, error)

// ReadyPods keeps the pods that are Ready and not being deleted: the ones that receive
// (or are about to receive) traffic.
func ReadyPods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp == nil && podutils.IsPodReady(p) {
			out = append(out, *p)
		}
	}
	return out
}

// PodsSettled smoke-tests the Ready pods list returns, then lists them again. A test on
// pods that changed meanwhile (one deleted, replaced or newly Ready) proves nothing about
// the pods that now serve: it fails with the changes named (SmokeReport.Changed), never
// passes. Fewer Ready pods than want (the replicas the caller waited for) fail too: the
// test would not cover every pod that is about to serve. It returns nil, nil when no path
// is configured.
func (s *Smoke) PodsSettled(ctx context.Context, svc *corev1.Service, list PodLister, want int) (*SmokeReport, error) {
	path := s.PathFor(svc)
	if path == "" {
		return nil, nil
	}
	all, err := list(ctx)
	if err != nil {
		return nil, err
	}
	before := ReadyPods(all)
	if len(before) == 0 || len(before) < want {
		why := "no ready pod to test"
		if len(before) > 0 {
			why = fmt.Sprintf("only %d of %d pods ready", len(before), want)
		}
		rep := &SmokeReport{Service: svc.Name, Stage: StagePods, Path: path, Results: []ProbeResult{}, Changed: []string{why}}
		return rep, &SmokeError{Report: *rep}
	}
	rep, err := s.Pods(ctx, svc, before)
	var denied *AccessError
	if rep == nil || errors.As(err, &denied) {
		return rep, err
	}
	all, lerr := list(ctx)
	if lerr != nil {
		return rep, fmt.Errorf("re-list the pods after the smoke test: %w", lerr)
	}
	if changed := podSetChanges(before, ReadyPods(all)); len(changed) > 0 {
		rep.Changed = changed
		rep.Passed = false
		return rep, &SmokeError{Report: *rep}
	}
	return rep, err
}

// podSetChanges names the differences between the pods tested and the pods Ready now,
// by UID (a pod replaced under the same name is a different pod).
func podSetChanges(before, after []corev1.Pod) []string {
	was := map[string]string{}
	for i := range before {
		was[string(before[i].UID)+"/"+before[i].Name] = before[i].Name
	}
	var out []string
	for i := range after {
		key := string(after[i].UID) + "/" + after[i].Name
		if _, ok := was[key]; ok {
			delete(was, key)
			continue
		}
		out = append(out, "pod/"+after[i].Name+" new")
	}
	for _, name := range was {
		out = append(out, "pod/"+name+" gone or not ready")
	}
	sort.Strings(out)
	return out
}
