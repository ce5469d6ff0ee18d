package troubleshoot

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// ref records the scope in the report.
func (s Scope) ref(ns string) ScopeRef {
	r := ScopeRef{Namespace: ns, AllNamespaces: ns == "" && !s.anyNode(), Selector: s.Selector}
	ts := s.targets()
	if len(ts) == 1 {
		r.Kind, r.Name = string(ts[0].Kind), ts[0].Name
	}
	if len(ts) > 1 {
		r.Targets = ts
	}
	if s.anyNode() && !s.AllNamespaces && len(ts) == 1 {
		r.Namespace = ""
	}
	return r
}

// podsOnly reports whether only pods are targeted by name: their findings stay per pod
// rather than per workload.
func (s Scope) podsOnly() bool {
	ts := s.targets()
	for _, t := range ts {
		if t.Kind != ScopePod || t.Name == "" {
			return false
		}
	}
	return len(ts) > 0
}

// require fails when a LIST the scope cannot do without was refused.
func (s *snapshot) require(scope Scope) error {
	var missing []string
	for _, l := range scope.requiredLists() {
		if s.known[l] {
			continue
		}
		where := " in namespace " + scope.Namespace
		if s.namespace == "" || l == "nodes" {
			where = ""
		}
		if scope.AllNamespaces {
			where = " in all namespaces"
		}
		missing = append(missing, l+where)
	}
	if len(missing) == 0 {
		return nil
	}
	return &ForbiddenError{Scope: scope.describe(), Missing: missing}
}

// addTarget adds one target and what it depends on to r; found is false when a named
// target does not exist.
func (a *analysis) addTarget(r *relevance, scope Scope, t Target, sel labels.Selector) (bool, error) {
	ns := scope.Namespace
	match := func(m metav1.Object) bool {
		if t.Name != "" {
			return m.GetName() == t.Name && (t.Kind == ScopeNode || scope.AllNamespaces || m.GetNamespace() == ns)
		}
		return sel.Matches(labels.Set(m.GetLabels()))
	}
	found := false
	switch t.Kind {
	case ScopePod:
		for i := range a.s.pods {
			if p := a.s.pods[i].pod(); match(p) {
				found = true
				r.addPod(a, p)
			}
		}
	case ScopeDeployment:
		for i := range a.s.deployments {
			if d := &a.s.deployments[i]; match(d) {
				found = true
				a.addDeployment(r, d)
			}
		}
	case ScopeService, ScopeComponent:
		for i := range a.s.services {
			if svc := &a.s.services[i]; match(svc) {
				found = true
				a.addService(r, svc.Namespace, svc.Name, t.Kind == ScopeComponent)
			}
		}
	case ScopeNode:
		if !a.s.has("nodes") && t.Name != "" {
			found = true // the pods on it still tell something; require() has named the gap
		}
		for i := range a.s.nodes {
			if n := &a.s.nodes[i]; match(n) {
				found = true
				r.addObj("Node", "", n.Name)
				for j := range a.s.pods {
					if a.s.pods[j].nodeName() == n.Name {
						r.addPod(a, a.s.pods[j].pod())
					}
				}
			}
		}
	case ScopeStatefulSet, ScopeDaemonSet, ScopeJob:
		kind := scopeKindOf(t.Kind).objKind
		for _, m := range a.objectsOf(kind) {
			if match(m) {
				found = true
				a.addOwned(r, kind, m.GetNamespace(), m.GetName())
			}
		}
	case ScopeCronJob:
		for i := range a.s.cronJobs {
			cj := &a.s.cronJobs[i]
			if !match(cj) {
				continue
			}
			found = true
			r.addObj("CronJob", cj.Namespace, cj.Name)
			for j := range a.s.jobs {
				job := &a.s.jobs[j]
				if c := metav1.GetControllerOf(job); c != nil && c.Kind == "CronJob" && c.Name == cj.Name && job.Namespace == cj.Namespace {
					a.addOwned(r, "Job", job.Namespace, job.Name)
				}
			}
		}
	case ScopeIngress:
		for i := range a.s.ingresses {
			ing := &a.s.ingresses[i]
			if !match(ing) {
				continue
			}
			found = true
			r.addObj("Ingress", ing.Namespace, ing.Name)
			for _, b := range ingressBackends(ing) {
				a.addService(r, ing.Namespace, b.service, false)
			}
		}
	case ScopeHPA:
		for i := range a.s.hpas {
			h := &a.s.hpas[i]
			if !match(h) {
				continue
			}
			found = true
			r.addObj("HorizontalPodAutoscaler", h.Namespace, h.Name)
			ref := h.Spec.ScaleTargetRef
			if ref.Kind == "Deployment" {
				if d := a.deployByKey[key(h.Namespace, ref.Name)]; d != nil {
					a.addDeployment(r, d)
				}
			} else {
				a.addOwned(r, ref.Kind, h.Namespace, ref.Name)
			}
		}
	case ScopePDB:
		for i := range a.s.pdbs {
			p := &a.s.pdbs[i]
			if !match(p) {
				continue
			}
			found = true
			r.addObj("PodDisruptionBudget", p.Namespace, p.Name)
			if ps, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && p.Spec.Selector != nil {
				for j := range a.s.pods {
					if pod := &a.s.pods[j]; pod.namespace() == p.Namespace && ps.Matches(labels.Set(pod.labels())) {
						r.addPod(a, pod.pod())
					}
				}
			}
		}
	case ScopePVC:
		for i := range a.s.pvcs {
			pvc := &a.s.pvcs[i]
			if !match(pvc) {
				continue
			}
			found = true
			r.addObj("PersistentVolumeClaim", pvc.Namespace, pvc.Name)
			for j := range a.s.pods {
				if pod := &a.s.pods[j]; pod.namespace() == pvc.Namespace && usesClaim(pod.volumes(), pvc.Name) {
					r.addPod(a, pod.pod())
				}
			}
		}
	default:
		return false, fmt.Errorf("unknown scope kind %q", t.Kind)
	}
	return found, nil
}

func usesClaim(volumes []corev1.Volume, claim string) bool {
	for ix := range volumes {
		if v := &volumes[ix]; v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

// addService adds a Service, its pods and, for a component, the Deployments it reaches.
func (a *analysis) addService(r *relevance, ns, name string, component bool) {
	svc := a.service(ns, name)
	r.addObj("Service", ns, name)
	if svc == nil {
		return
	}
	r.services[key(ns, name)] = true
	for i := range a.s.pods {
		if p := &a.s.pods[i]; p.namespace() == ns && selects(svc.Spec.Selector, p.labels()) {
			r.addPod(a, p.pod())
		}
	}
	if component {
		for _, d := range ReachableDeployments(svc, a.s.deployments) {
			a.addDeployment(r, d)
		}
	}
}

// addOwned adds a workload other than a Deployment and the pods it controls.
func (a *analysis) addOwned(r *relevance, kind, ns, name string) {
	r.addObj(kind, ns, name)
	for i := range a.s.pods {
		p := &a.s.pods[i]
		if c := p.controller(); c != nil && c.Kind == kind && c.Name == name && p.namespace() == ns {
			r.addPod(a, p.pod())
		}
	}
}

// objectsOf lists the snapshot's objects of a workload kind.
func (a *analysis) objectsOf(kind string) []metav1.Object {
	var out []metav1.Object
	switch kind {
	case "StatefulSet":
		for i := range a.s.statefulSets {
			out = append(out, &a.s.statefulSets[i])
		}
	case "DaemonSet":
		for i := range a.s.daemonSets {
			out = append(out, &a.s.daemonSets[i])
		}
	case "Job":
		for i := range a.s.jobs {
			out = append(out, &a.s.jobs[i])
		}
	}
	return out
}
