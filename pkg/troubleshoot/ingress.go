package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Categories of the Ingress analyzer.
const (
	CategoryIngressBackend  Category = "IngressBackendMissing"
	CategoryIngressDown     Category = "IngressBackendNoEndpoints"
	CategoryIngressClass    Category = "IngressClassMissing"
	CategoryIngressTLS      Category = "IngressTLSSecretMissing"
	defaultIngressClassAnno          = "ingressclass.kubernetes.io/is-default-class"
	legacyIngressClassAnno           = "kubernetes.io/ingress.class"
)

// ingressBackend is one Service an Ingress routes to, and where from.
type ingressBackend struct {
	service string
	port    networkingv1.ServiceBackendPort
	route   string // host/path, or "default backend"
}

func ingressBackends(ing *networkingv1.Ingress) []ingressBackend {
	var out []ingressBackend
	if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
		out = append(out, ingressBackend{service: b.Service.Name, port: b.Service.Port, route: "default backend"})
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service == nil {
				continue
			}
			out = append(out, ingressBackend{service: p.Backend.Service.Name, port: p.Backend.Service.Port, route: orDefault(rule.Host, "*") + orDefault(p.Path, "/")})
		}
	}
	return out
}

func backendPort(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Number)
}

// ingressRules checks every Ingress from its metadata and spec alone (no controller is
// asked): the class exists, each backend Service and port exists and has a ready endpoint,
// each TLS Secret exists (Secrets as metadata only).
func (a *analysis) ingressRules() {
	if !a.s.has("ingresses") {
		return
	}
	for i := range a.s.ingresses {
		ing := &a.s.ingresses[i]
		ref := ObjectRef{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name}
		ns := ing.Namespace
		a.ingressClass(ing, ref)
		byProblem := map[string][]string{}
		var order []string
		note := func(k, route string) {
			if _, ok := byProblem[k]; !ok {
				order = append(order, k)
			}
			byProblem[k] = append(byProblem[k], route)
		}
		for _, b := range ingressBackends(ing) {
			svc := a.service(ns, b.service)
			switch {
			case svc == nil && a.s.has("services"):
				note("nosvc|"+b.service+"|"+backendPort(b.port), b.route)
			case svc == nil:
			case !servicePortExists(svc.Spec.Ports, b.port):
				note("noport|"+b.service+"|"+backendPort(b.port), b.route)
			case a.serviceDown(ns, b.service):
				note("down|"+b.service+"|"+backendPort(b.port), b.route)
			}
		}
		for _, k := range order {
			parts := strings.SplitN(k, "|", 3)
			what, svcName, port := parts[0], parts[1], parts[2]
			routes := strings.Join(byProblem[k], ", ")
			fd := Finding{Severity: SeverityError, Confidence: ConfidenceHigh, Impact: ImpactOutage, Object: ref,
				Evidence: Evidence{Events: a.events("Ingress", ns, ing.Name)}}
			switch what {
			case "nosvc":
				fd.Category = CategoryIngressBackend
				fd.Cause = fmt.Sprintf("ingress %s routes %s to service %s, which does not exist: the controller answers 503", ing.Name, routes, svcName)
				fd.Fix = []string{fmt.Sprintf("kubectl get services%s  # create service %s or point the ingress at an existing one: kubectl edit ingress %s%s", nsFlag(ns), svcName, ing.Name, nsFlag(ns))}
				if near := a.nearestService(ns, svcName); near != "" {
					fd.Details = append(fd.Details, fmt.Sprintf("nearest existing service: %s", near))
				}
			case "noport":
				svc := a.service(ns, svcName)
				fd.Category = CategoryIngressBackend
				fd.Cause = fmt.Sprintf("ingress %s routes %s to port %s of service %s, which has no such port: the controller answers 503", ing.Name, routes, port, svcName)
				fd.Details = append(fd.Details, "service ports: "+servicePortList(svc.Spec.Ports))
				fd.Fix = []string{fmt.Sprintf("kubectl edit ingress %s%s  # use one of the service's ports: %s", ing.Name, nsFlag(ns), servicePortList(svc.Spec.Ports))}
			case "down":
				fd.Category = CategoryIngressDown
				fd.Cause = fmt.Sprintf("ingress %s routes %s to service %s, which has no ready endpoint: every request through it fails", ing.Name, routes, svcName)
				fd.Fix = []string{fmt.Sprintf("kubectl feastflow diagnose svc/%s%s", svcName, nsFlag(ns))}
				fd.symptomOf = []ObjectRef{{Kind: "Service", Namespace: ns, Name: svcName}}
				fd.symptom = fmt.Sprintf("affects ingress %s: %s routed to service %s fails", ing.Name, routes, svcName)
			}
			a.add(fd)
		}
		a.ingressTLS(ing, ref)
	}
}

func servicePortExists(ports []corev1.ServicePort, p networkingv1.ServiceBackendPort) bool {
	for _, sp := range ports {
		if (p.Name != "" && sp.Name == p.Name) || (p.Name == "" && sp.Port == p.Number) {
			return true
		}
	}
	return false
}

func servicePortList(ports []corev1.ServicePort) string {
	var out []string
	for _, sp := range ports {
		if sp.Name != "" {
			out = append(out, fmt.Sprintf("%d (%s)", sp.Port, sp.Name))
		} else {
			out = append(out, fmt.Sprint(sp.Port))
		}
	}
	return orDefault(strings.Join(out, ", "), "none")
}

// nearestService is the existing Service whose name is closest to a missing one.
func (a *analysis) nearestService(ns, name string) string {
	best, bestD := "", len(name)/2+1
	for i := range a.s.services {
		s := &a.s.services[i]
		if s.Namespace != ns {
			continue
		}
		if d := EditDistance(s.Name, name); d < bestD {
			best, bestD = s.Name, d
		}
	}
	return best
}

// ingressClass: a named class that does not exist, or no class and no default class:
// no controller admits the Ingress.
func (a *analysis) ingressClass(ing *networkingv1.Ingress, ref ObjectRef) {
	if !a.s.has("ingressclasses") {
		return
	}
	name := ""
	if ing.Spec.IngressClassName != nil {
		name = *ing.Spec.IngressClassName
	} else if v := ing.Annotations[legacyIngressClassAnno]; v != "" {
		return // the legacy annotation is matched by controllers, not by IngressClass objects
	}
	var classes, defaults []string
	exists := false
	for i := range a.s.ingressClasses {
		c := &a.s.ingressClasses[i]
		classes = append(classes, c.Name)
		if c.Name == name {
			exists = true
		}
		if c.Annotations[defaultIngressClassAnno] == "true" {
			defaults = append(defaults, c.Name)
		}
	}
	sort.Strings(classes)
	ns := ing.Namespace
	switch {
	case name != "" && !exists:
		fd := Finding{Severity: SeverityError, Confidence: ConfidenceHigh, Impact: ImpactOutage, Category: CategoryIngressClass, Object: ref,
			Cause:   fmt.Sprintf("ingress %s names IngressClass %s, which does not exist: no controller serves it", ing.Name, name),
			Details: []string{"IngressClasses in the cluster: " + orDefault(strings.Join(classes, ", "), "none")},
		}
		if len(classes) > 0 {
			fd.Fix = []string{fmt.Sprintf(`kubectl patch ingress %s%s --type=merge -p '{"spec":{"ingressClassName":%q}}'`, ing.Name, nsFlag(ns), classes[0])}
		} else {
			fd.Fix = []string{"install an ingress controller and its IngressClass (kubectl get ingressclass lists none)"}
		}
		a.add(fd)
	case name == "" && len(defaults) == 0 && len(classes) > 0:
		// Classes exist but none is the default: the installed controllers skip this Ingress.
		fd := Finding{Severity: SeverityWarning, Confidence: ConfidenceMedium, Impact: ImpactAtRisk, Category: CategoryIngressClass, Object: ref,
			Cause:   fmt.Sprintf("ingress %s has no ingressClassName and the cluster has no default IngressClass: controllers may ignore it", ing.Name),
			Details: []string{"IngressClasses in the cluster: " + orDefault(strings.Join(classes, ", "), "none")},
		}
		if len(classes) > 0 {
			fd.Fix = []string{fmt.Sprintf(`kubectl patch ingress %s%s --type=merge -p '{"spec":{"ingressClassName":%q}}'`, ing.Name, nsFlag(ns), classes[0])}
		}
		a.add(fd)
	}
}

// ingressTLS: every TLS Secret must exist (metadata only: its data is never read).
func (a *analysis) ingressTLS(ing *networkingv1.Ingress, ref ObjectRef) {
	if !a.config.secKnown {
		return
	}
	ns := ing.Namespace
	for _, tls := range ing.Spec.TLS {
		if tls.SecretName == "" {
			continue
		}
		if _, ok := a.config.secrets[key(ns, tls.SecretName)]; ok {
			continue
		}
		hosts := orDefault(strings.Join(tls.Hosts, ","), "*")
		a.add(Finding{Severity: SeverityError, Confidence: ConfidenceHigh, Impact: ImpactDegraded, Category: CategoryIngressTLS, Object: ref,
			Cause: fmt.Sprintf("ingress %s: TLS Secret %s for %s does not exist: HTTPS falls back to the controller's default certificate", ing.Name, tls.SecretName, hosts),
			Fix:   []string{fmt.Sprintf("kubectl create secret tls %s --cert=<cert.pem> --key=<key.pem>%s", tls.SecretName, nsFlag(ns))},
		})
	}
}
