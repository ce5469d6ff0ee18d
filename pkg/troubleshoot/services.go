package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/kubectl/pkg/util/podutils"
)

// serviceRules follows every Service to its pods and EndpointSlices: a selector that
// matches nothing (with the nearest miss), a blue-green color with no Deployment, a
// targetPort the pods do not expose, and not-ready endpoints with the reason per pod.
func (a *analysis) serviceRules() {
	if !a.s.has("services") {
		return
	}
	slicesBySvc := map[string][]*discoveryv1.EndpointSlice{}
	for i := range a.s.slices {
		es := &a.s.slices[i]
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			slicesBySvc[key(es.Namespace, svc)] = append(slicesBySvc[key(es.Namespace, svc)], es)
		}
	}
	for i := range a.s.services {
		svc := &a.s.services[i]
		if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
			continue
		}
		var matched []*corev1.Pod
		for _, p := range a.podsSelected(svc.Namespace, svc.Spec.Selector) {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				matched = append(matched, p)
			}
		}
		ref := ObjectRef{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}
		if len(matched) == 0 {
			a.markDown(svc.Namespace, svc.Name)
			a.add(a.noPods(svc, ref))
			continue
		}
		a.targetPorts(svc, ref, matched)
		if a.s.has("endpointslices") {
			a.endpoints(svc, ref, matched, slicesBySvc[key(svc.Namespace, svc.Name)])
		}
	}
}

// noPods explains a selector that matches no pod: the blue-green color with no Deployment,
// or the pods that almost match and the labels that differ.
func (a *analysis) noPods(svc *corev1.Service, ref ObjectRef) Finding {
	ns := svc.Namespace
	sel := labelsString(svc.Spec.Selector)
	fd := Finding{
		Severity: SeverityError, Confidence: ConfidenceHigh, Category: CategoryServiceNoPods, Object: ref,
		Cause:    fmt.Sprintf("service %s selects no pods (selector %s): it has no endpoints and refuses every connection", svc.Name, sel),
		Evidence: Evidence{Status: []string{fmt.Sprintf("selector %s matches 0 pods in namespace %s", sel, ns)}, Events: a.events("Service", ns, svc.Name)},
	}
	colorKey := ColorKey(svc)
	if color, ok := svc.Spec.Selector[colorKey]; ok && a.s.has("deployments") {
		var colors []string
		found := false
		for _, d := range ReachableDeployments(svc, a.s.deployments) {
			c := d.Spec.Template.Labels[colorKey]
			colors = append(colors, fmt.Sprintf("%s (deployment %s, replicas %d)", c, d.Name, replicas(d.Spec.Replicas)))
			if c == color {
				found = true
			}
		}
		if !found {
			sort.Strings(colors)
			fd.Category = CategoryServiceColor
			fd.Cause = fmt.Sprintf("service %s points at color %s=%s, but no Deployment has that color: it has no endpoints", svc.Name, colorKey, color)
			if len(colors) > 0 {
				fd.Details = append(fd.Details, "colors with a Deployment: "+strings.Join(colors, ", "))
				first := strings.SplitN(colors[0], " ", 2)[0]
				fd.Fix = append(fd.Fix, fmt.Sprintf("kubectl feastflow switch %s %s%s  # point the Service at a color that exists", first, svc.Name, nsFlag(ns)))
			} else {
				fd.Details = append(fd.Details, "no Deployment carries the selector's other labels either")
			}
		}
	}
	if fd.Category == CategoryServiceNoPods && a.selectorTypo(svc, &fd) {
		return fd
	}
	// Nearest miss: the pods whose labels satisfy the most selector terms.
	best, bestN := -1, 0
	var near []*corev1.Pod
	for _, p := range a.podsIn(ns) {
		n := 0
		for k, v := range svc.Spec.Selector {
			if p.Labels[k] == v {
				n++
			}
		}
		switch {
		case n > best:
			best, bestN, near = n, 1, []*corev1.Pod{p}
		case n == best:
			bestN++
			near = append(near, p)
		}
	}
	if best > 0 {
		sort.Slice(near, func(i, j int) bool { return near[i].Name < near[j].Name })
		p := near[0]
		var diffs []string
		for _, k := range sets.List(sets.KeySet(svc.Spec.Selector)) {
			want := svc.Spec.Selector[k]
			if got, ok := p.Labels[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("selector wants %s=%s, pods have no %s label", k, want, k))
			} else if got != want {
				diffs = append(diffs, fmt.Sprintf("selector wants %s=%s, pods have %s=%s", k, want, k, got))
			}
		}
		owner := a.owner(p)
		fd.Details = append(fd.Details, fmt.Sprintf("nearest miss: %d pod(s) of %s (e.g. %s) match %d of %d selector labels: %s",
			bestN, owner, p.Name, best, len(svc.Spec.Selector), strings.Join(diffs, "; ")))
		if fd.Category == CategoryServiceNoPods {
			fix := map[string]string{}
			for k := range svc.Spec.Selector {
				if v, ok := p.Labels[k]; ok {
					fix[k] = v
				}
			}
			fd.Fix = append(fd.Fix, fmt.Sprintf(`kubectl patch service %s%s --type=merge -p '{"spec":{"selector":%s}}'  # or fix the pod template labels of %s`, svc.Name, nsFlag(ns), jsonMap(svc.Spec.Selector, fix), owner))
		}
	} else {
		fd.Details = append(fd.Details, fmt.Sprintf("no pod in namespace %s carries any of the selector's labels", ns))
		if len(fd.Fix) == 0 {
			fd.Fix = append(fd.Fix, fmt.Sprintf("deploy the workload behind %s, or fix the selector: kubectl edit service %s%s", svc.Name, svc.Name, nsFlag(ns)))
		}
	}
	return fd
}

// jsonMap renders the selector with the replacement values, and null for keys the pods lack.
func jsonMap(sel, fix map[string]string) string {
	var parts []string
	for _, k := range sets.List(sets.KeySet(sel)) {
		if v, ok := fix[k]; ok {
			parts = append(parts, fmt.Sprintf("%q:%q", k, v))
		} else {
			parts = append(parts, fmt.Sprintf("%q:null", k))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func labelsString(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sets.List(sets.KeySet(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// targetPorts checks every Service port against every matched pod: a named targetPort must
// be a named containerPort of the pod (else the pod gets no endpoint for it); a numeric one
// should be a declared containerPort when the pod declares any (traffic still goes there,
// but nothing listens there is the usual reason).
func (a *analysis) targetPorts(svc *corev1.Service, ref ObjectRef, pods []*corev1.Pod) {
	for _, sp := range svc.Spec.Ports {
		tp := sp.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(sp.Port)
		}
		var bad []string
		declared := map[string]bool{}
		anyDeclared := false
		for _, p := range pods {
			ok := false
			for ix := range p.Spec.Containers {
				c := &p.Spec.Containers[ix]
				for _, cp := range c.Ports {
					anyDeclared = true
					if cp.Protocol != "" && sp.Protocol != "" && cp.Protocol != sp.Protocol {
						continue
					}
					declared[portLabel(cp)] = true
					if (tp.Type == intstr.String && cp.Name == tp.StrVal) || (tp.Type == intstr.Int && cp.ContainerPort == tp.IntVal) {
						ok = true
					}
				}
			}
			if !ok {
				bad = append(bad, p.Name)
			}
		}
		if len(bad) == 0 || (tp.Type == intstr.Int && !anyDeclared) {
			continue
		}
		sev, conf, impact := SeverityError, ConfidenceHigh, ImpactOutage
		what := fmt.Sprintf("targetPort %q is not a named containerPort", tp.StrVal)
		consequence := "the service has no endpoint for this port and refuses every connection"
		if tp.Type == intstr.Int {
			// Traffic is still sent there, but no pod declares it: nothing listens is the usual reason.
			conf = ConfidenceMedium
			what = fmt.Sprintf("targetPort %d is not a declared containerPort", tp.IntVal)
			consequence = "traffic goes to a port no container declares: every request is refused"
		}
		if len(bad) < len(pods) {
			sev, impact = SeverityWarning, ImpactDegraded
			consequence = "those pods get no traffic on this port"
			if tp.Type == intstr.Int {
				consequence = "requests that reach those pods are refused"
			}
		} else {
			a.markDown(svc.Namespace, svc.Name)
		}
		ports := make([]string, 0, len(declared))
		for p := range declared {
			ports = append(ports, p)
		}
		sort.Strings(ports)
		portName := orDefault(sp.Name, fmt.Sprint(sp.Port))
		sort.Strings(bad)
		fd := Finding{
			Severity: sev, Confidence: conf, Impact: impact, Category: CategoryTargetPort, Object: ref, Pods: capList(bad),
			Cause: fmt.Sprintf("service %s port %s: %s of %d of %d selected pods: %s", svc.Name, portName, what, len(bad), len(pods), consequence),
			Details: []string{
				fmt.Sprintf("service port %d → targetPort %s", sp.Port, tp.String()),
				"container ports of the selected pods: " + orDefault(strings.Join(ports, ", "), "none declared"),
			},
			Evidence: Evidence{Events: a.events("Service", svc.Namespace, svc.Name)},
		}
		if len(ports) > 0 {
			first := ports[0]
			if i := strings.Index(first, "/"); i >= 0 {
				first = first[:i]
			}
			num := first
			if i := strings.Index(first, "("); i >= 0 {
				num = first[:i]
			}
			fd.Fix = append(fd.Fix, fmt.Sprintf(`kubectl patch service %s%s --type=json -p '[{"op":"replace","path":"/spec/ports/%d/targetPort","value":%s}]'`, svc.Name, nsFlag(svc.Namespace), portIndex(svc, sp), portJSON(num)))
		}
		a.add(fd)
	}
}

func portIndex(svc *corev1.Service, sp corev1.ServicePort) int {
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == sp.Name && svc.Spec.Ports[i].Port == sp.Port {
			return i
		}
	}
	return 0
}

func portLabel(cp corev1.ContainerPort) string {
	if cp.Name != "" {
		return fmt.Sprintf("%d(%s)", cp.ContainerPort, cp.Name)
	}
	return fmt.Sprint(cp.ContainerPort)
}

func capList(ss []string) []string {
	if len(ss) > 50 {
		return ss[:50]
	}
	return ss
}

// endpoints reads the Service's EndpointSlices (never v1 Endpoints): ready vs not-ready
// endpoints, and for each not-ready pod why it is not ready.
func (a *analysis) endpoints(svc *corev1.Service, ref ObjectRef, matched []*corev1.Pod, slices []*discoveryv1.EndpointSlice) {
	ns := svc.Namespace
	if len(slices) == 0 {
		a.add(Finding{
			Severity: SeverityWarning, Confidence: ConfidenceMedium, Category: CategoryNoEndpointSlice, Object: ref,
			Cause:    fmt.Sprintf("service %s selects %d pod(s) but has no EndpointSlice: the endpointslice controller has not processed it", svc.Name, len(matched)),
			Evidence: Evidence{Events: a.events("Service", ns, svc.Name)},
			Fix:      []string{fmt.Sprintf("kubectl get endpointslices -l kubernetes.io/service-name=%s%s  # check kube-controller-manager if it stays empty", svc.Name, nsFlag(ns))},
		})
		return
	}
	ready, notReady := 0, 0
	var notReadyPods []string
	seenPod := map[string]bool{}
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready++
				continue
			}
			if ep.Conditions.Terminating != nil && *ep.Conditions.Terminating {
				continue // leaving on purpose
			}
			notReady++
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && !seenPod[ep.TargetRef.Name] {
				seenPod[ep.TargetRef.Name] = true
				notReadyPods = append(notReadyPods, ep.TargetRef.Name)
			}
		}
	}
	// Selected pods that are not ready and have no endpoint yet (no IP: Pending, or still
	// being created) serve nothing either.
	for _, p := range matched {
		if !seenPod[p.Name] && !podutils.IsPodReady(p) && p.DeletionTimestamp == nil && !slicesHold(slices, p.Name) {
			seenPod[p.Name] = true
			notReady++
			notReadyPods = append(notReadyPods, p.Name)
		}
	}
	if ready == 0 && notReady == 0 {
		a.markDown(ns, svc.Name) // slices exist but hold no endpoint (e.g. no port resolves)
	}
	if notReady == 0 {
		return
	}
	sort.Strings(notReadyPods)
	sev, impact := SeverityWarning, ImpactDegraded
	cause := fmt.Sprintf("service %s has %d not-ready endpoint(s) of %d: traffic goes to the %d ready one(s) only", svc.Name, notReady, ready+notReady, ready)
	if ready == 0 {
		sev, impact = SeverityError, ImpactOutage
		cause = fmt.Sprintf("service %s has no ready endpoints (%d not ready): every connection fails", svc.Name, notReady)
		a.markDown(ns, svc.Name)
	}
	fd := Finding{
		Severity: sev, Confidence: ConfidenceHigh, Impact: impact, Category: CategoryNotReadyEndpoints, Object: ref, Pods: capList(notReadyPods),
		endpointsReady: ready, endpointsTotal: ready + notReady,
		Cause: cause,
		Evidence: Evidence{
			Status: []string{fmt.Sprintf("EndpointSlices: %d ready, %d not ready", ready, notReady)},
			Events: a.events("Service", ns, svc.Name),
		},
	}
	for i, name := range notReadyPods {
		if i == maxDetailLines {
			fd.Details = append(fd.Details, fmt.Sprintf("… and %d more not-ready pods", len(notReadyPods)-i))
			break
		}
		fd.Details = append(fd.Details, fmt.Sprintf("pod %s: %s", name, a.whyNotReady(ns, name)))
	}
	fd.Fix = []string{fmt.Sprintf("kubectl feastflow diagnose pod/%s%s  # the first not-ready pod", notReadyPods[0], nsFlag(ns))}
	if len(notReadyPods) == 0 {
		fd.Fix = nil
	}
	a.add(fd)
}

// whyNotReady explains one not-ready pod: its failure, a failing readiness probe, or where
// it is in its start-up.
func (a *analysis) whyNotReady(ns, name string) string {
	p := a.podByKey(ns, name)
	if p == nil {
		return "pod not found (deleted since)"
	}
	if f := ClassifyPod(p); f != nil {
		return f.String()
	}
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	var probeMsg string
	var probeCount int32
	for _, e := range a.eventsByObj[eventKey("Pod", ns, name)] {
		if e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, "Readiness probe failed") {
			probeCount += e.Count
			probeMsg = e.Message
		}
	}
	if probeCount > 0 {
		return fmt.Sprintf("readiness probe failing (%d times): %s", probeCount, oneLine(probeMsg))
	}
	for ix := range p.Status.ContainerStatuses {
		st := &p.Status.ContainerStatuses[ix]
		if !st.Ready {
			if c := specContainer(p, st.Name, false); c != nil && c.ReadinessProbe != nil && st.State.Running != nil {
				return fmt.Sprintf("container %s running but not yet ready: readiness probe %s (initialDelaySeconds %d)", st.Name, probeTarget(c.ReadinessProbe), c.ReadinessProbe.InitialDelaySeconds)
			}
			return "container " + containerStateLine(st)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("Ready=%s %s %s", c.Status, c.Reason, oneLine(c.Message))
		}
	}
	return "not ready (readiness gates or start-up)"
}

// selectorTypo finds a Service selector that misses its pods by one label value close in
// edit distance (app=paymnet vs the pods' app=payment): the fix is exactly that label.
func (a *analysis) selectorTypo(svc *corev1.Service, fd *Finding) bool {
	ns := svc.Namespace
	type cand struct {
		key, value string
		dist       int
		pods       []*corev1.Pod
	}
	var best *cand
	for _, k := range sets.List(sets.KeySet(svc.Spec.Selector)) {
		want := svc.Spec.Selector[k]
		rest := map[string]string{}
		for k2, v2 := range svc.Spec.Selector {
			if k2 != k {
				rest[k2] = v2
			}
		}
		byValue := map[string][]*corev1.Pod{}
		for i := range a.s.pods {
			r := &a.s.pods[i]
			got, ok := r.labels()[k]
			if r.namespace() != ns || !ok || got == want || r.phase() == corev1.PodSucceeded || r.phase() == corev1.PodFailed {
				continue
			}
			if len(rest) > 0 && !selects(rest, r.labels()) {
				continue
			}
			byValue[got] = append(byValue[got], r.pod())
		}
		for _, v := range keysOf(byValue) {
			d := EditDistance(want, v)
			if d > max(2, len(want)/3) {
				continue
			}
			if best == nil || d < best.dist {
				best = &cand{key: k, value: v, dist: d, pods: byValue[v]}
			}
		}
	}
	if best == nil {
		return false
	}
	sort.Slice(best.pods, func(i, j int) bool { return best.pods[i].Name < best.pods[j].Name })
	owner := a.owner(best.pods[0])
	fd.Details = append(fd.Details, fmt.Sprintf("near miss: selector %s=%s is %d edit(s) from %s=%s, carried by %d pod(s) of %s (e.g. %s): a typo in the selector",
		best.key, svc.Spec.Selector[best.key], best.dist, best.key, best.value, len(best.pods), owner, best.pods[0].Name))
	fd.Fix = append(fd.Fix, fmt.Sprintf(`kubectl patch service %s%s --type=merge -p '{"spec":{"selector":{%q:%q}}}'`, svc.Name, nsFlag(ns), best.key, best.value))
	return true
}

func slicesHold(slices []*discoveryv1.EndpointSlice, pod string) bool {
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && ep.TargetRef.Name == pod {
				return true
			}
		}
	}
	return false
}
