package traffic

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
)

// ServiceProbe is the runbook's "Service not accessible" check: one GET through the
// Service proxy and one through each ready endpoint's pod proxy.
type ServiceProbe struct {
	Service string `json:"service"`
	Path    string `json:"path"`
	// Via is the GET through services/proxy.
	Via ProbeResult `json:"viaService"`
	// Pods are the GETs to each ready endpoint, by pod name.
	Pods []ProbeResult `json:"pods"`
}

// Failed returns the pod probes that did not answer 2xx, forbidden ones excluded.
func (p *ServiceProbe) Failed() []ProbeResult {
	var out []ProbeResult
	for _, r := range p.Pods {
		if !r.OK() && r.Outcome != OutcomeForbidden {
			out = append(out, r)
		}
	}
	return out
}

// Forbidden names the proxy subresources RBAC denied, if any.
func (p *ServiceProbe) Forbidden() []string {
	var out []string
	if p.Via.Outcome == OutcomeForbidden {
		out = append(out, "services/proxy")
	}
	for _, r := range p.Pods {
		if r.Outcome == OutcomeForbidden {
			return append(out, "pods/proxy")
		}
	}
	return out
}

// ProbeServiceSlices GETs path on svc's first port through services/proxy and, in
// parallel, on every ready endpoint of slices (the Service's EndpointSlices, as the caller
// read them) through pods/proxy.
func ProbeServiceSlices(ctx context.Context, client kubernetes.Interface, svc *corev1.Service, slices []discoveryv1.EndpointSlice, path string, timeout time.Duration) (*ServiceProbe, error) {
	if len(svc.Spec.Ports) == 0 {
		return nil, fmt.Errorf("service %s/%s has no ports to probe", svc.Namespace, svc.Name)
	}
	port := svc.Spec.Ports[0]
	targets := readyEndpoints(slices, port)
	p := Prober{Client: client, Timeout: timeout}
	out := &ServiceProbe{Service: svc.Name, Path: path}
	done := make(chan struct{})
	go func() {
		out.Via = p.Service(ctx, svc.Namespace, svc.Name, ServicePortRef(port), path)
		close(done)
	}()
	out.Pods = p.Pods(ctx, targets, path)
	<-done
	return out, nil
}

// readyEndpoints returns the ready pod endpoints of the slices on the slice port that
// serves the Service port (matched by name, as the EndpointSlice controller names them).
func readyEndpoints(slices []discoveryv1.EndpointSlice, port corev1.ServicePort) []PodTarget {
	seen := map[string]bool{}
	var out []PodTarget
	for _, s := range slices {
		var num int32
		for _, sp := range s.Ports {
			if sp.Port != nil && (sp.Name == nil && port.Name == "" || sp.Name != nil && *sp.Name == port.Name) {
				num = *sp.Port
			}
		}
		if num == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.Conditions.Ready != nil && !*e.Conditions.Ready || seen[e.TargetRef.Name] {
				continue
			}
			seen[e.TargetRef.Name] = true
			out = append(out, PodTarget{Namespace: s.Namespace, Pod: e.TargetRef.Name, Port: num})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}
