package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CategoryNetworkPolicyBlocks is a Service whose pods are selected by NetworkPolicies that
// admit nothing on its target port.
const CategoryNetworkPolicyBlocks Category = "NetworkPolicyBlocksService"

// netpolRules: once any policy with policyType Ingress selects a pod, only what some rule of
// those policies admits reaches it. A Service whose pods are all selected by policies none of
// whose rules admits its target port refuses every request (from any source). Peers are
// not judged: a rule that admits the port from somewhere counts as admitting.
func (a *analysis) netpolRules() {
	if !a.s.has("networkpolicies") || len(a.s.netpols) == 0 {
		return
	}
	for i := range a.s.services {
		svc := &a.s.services[i]
		if len(svc.Spec.Selector) == 0 || a.serviceDown(svc.Namespace, svc.Name) {
			continue
		}
		var pods []*corev1.Pod
		for j := range a.s.pods {
			r := &a.s.pods[j]
			if r.namespace() == svc.Namespace && selects(svc.Spec.Selector, r.labels()) && r.phase() == corev1.PodRunning {
				pods = append(pods, r.pod())
			}
		}
		if len(pods) == 0 {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			blocked, policies := a.portBlocked(sp, pods)
			if !blocked {
				continue
			}
			ns := svc.Namespace
			port := resolvedPort(sp, pods[0])
			a.markDown(ns, svc.Name)
			fd := Finding{Severity: SeverityError, Confidence: ConfidenceMedium, Impact: ImpactOutage, Category: CategoryNetworkPolicyBlocks,
				Object: ObjectRef{Kind: "Service", Namespace: ns, Name: svc.Name},
				Cause: fmt.Sprintf("service %s port %s: NetworkPolicy %s select(s) all %d of its pods and admit nothing on port %s/%s: every request is dropped",
					svc.Name, orDefault(sp.Name, fmt.Sprint(sp.Port)), strings.Join(policies, ", "), len(pods), port, orDefault(string(sp.Protocol), "TCP")),
				Details: []string{"policies with policyType Ingress isolate the pods they select; only their ingress rules admit traffic"},
				Fix: []string{fmt.Sprintf(`kubectl patch networkpolicy %s%s --type=json -p '[{"op":"add","path":"/spec/ingress/-","value":{"ports":[{"port":%s,"protocol":%q}]}}]'  # admit port %s (add "from" to restrict sources)`,
					policies[0], nsFlag(ns), portJSON(port), orDefault(string(sp.Protocol), "TCP"), port)},
			}
			if np := a.netpol(ns, policies[0]); np != nil && len(np.Spec.Ingress) == 0 {
				fd.Fix[0] = fmt.Sprintf(`kubectl patch networkpolicy %s%s --type=merge -p '{"spec":{"ingress":[{"ports":[{"port":%s,"protocol":%q}]}]}}'  # admit port %s (add "from" to restrict sources)`,
					policies[0], nsFlag(ns), portJSON(port), orDefault(string(sp.Protocol), "TCP"), port)
			}
			a.add(fd)
		}
	}
}

func (a *analysis) netpol(ns, name string) *networkingv1.NetworkPolicy {
	for i := range a.s.netpols {
		if a.s.netpols[i].Namespace == ns && a.s.netpols[i].Name == name {
			return &a.s.netpols[i]
		}
	}
	return nil
}

// portBlocked reports whether every pod is isolated for ingress and no selecting policy admits
// the Service port's target; policies are the names of those selecting the pods.
func (a *analysis) portBlocked(sp corev1.ServicePort, pods []*corev1.Pod) (bool, []string) {
	names := map[string]bool{}
	for _, p := range pods {
		isolated := false
		for i := range a.s.netpols {
			np := &a.s.netpols[i]
			if np.Namespace != p.Namespace || !ingressPolicy(np) {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			isolated = true
			names[np.Name] = true
			for _, rule := range np.Spec.Ingress {
				if admitsPort(rule.Ports, sp, p) {
					return false, nil
				}
			}
		}
		if !isolated {
			return false, nil
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return len(out) > 0, out
}

func ingressPolicy(np *networkingv1.NetworkPolicy) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true // Ingress is implied
	}
	for _, t := range np.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

// admitsPort: an empty port list admits every port; otherwise one entry must match the
// container port the Service targets (by number, range or name) and protocol.
func admitsPort(ports []networkingv1.NetworkPolicyPort, sp corev1.ServicePort, p *corev1.Pod) bool {
	if len(ports) == 0 {
		return true
	}
	num, name := targetContainerPort(sp, p)
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, np := range ports {
		if np.Protocol != nil && *np.Protocol != proto {
			continue
		}
		if np.Port == nil {
			return true
		}
		switch {
		case np.Port.Type == intstr.String && name != "" && np.Port.StrVal == name:
			return true
		case np.Port.Type == intstr.Int && np.EndPort != nil && num >= np.Port.IntVal && num <= *np.EndPort:
			return true
		case np.Port.Type == intstr.Int && np.Port.IntVal == num:
			return true
		}
	}
	return false
}

// targetContainerPort resolves a Service port's targetPort in a pod: number and name.
func targetContainerPort(sp corev1.ServicePort, p *corev1.Pod) (int32, string) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int && tp.IntVal == 0 {
		tp = intstr.FromInt32(sp.Port)
	}
	for ix := range p.Spec.Containers {
		for _, cp := range p.Spec.Containers[ix].Ports {
			if (tp.Type == intstr.String && cp.Name == tp.StrVal) || (tp.Type == intstr.Int && cp.ContainerPort == tp.IntVal) {
				return cp.ContainerPort, cp.Name
			}
		}
	}
	if tp.Type == intstr.Int {
		return tp.IntVal, ""
	}
	return 0, tp.StrVal
}

func resolvedPort(sp corev1.ServicePort, p *corev1.Pod) string {
	if num, name := targetContainerPort(sp, p); num != 0 {
		return fmt.Sprint(num)
	} else if name != "" {
		return name
	}
	return fmt.Sprint(sp.Port)
}
