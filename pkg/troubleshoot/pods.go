package troubleshoot

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podGroup is the pods of one workload failing the same way: one finding, one log read.
type podGroup struct {
	owner   ObjectRef
	failure *PodFailure
	pods    []*corev1.Pod
}

// podRules classifies every pod and turns the failures into findings, one per workload
// and failure (or per pod when group is false).
func (a *analysis) podRules(group bool) {
	groups := map[string]*podGroup{}
	var order []string
	for i := range a.s.pods {
		r := &a.s.pods[i]
		if r.quiet != nil && (a.nodesByName[r.quiet.nodeName] != nil || !a.s.has("nodes")) {
			continue // quiet: only nodeGone could find something, and its node exists
		}
		p := r.pod()
		f := ClassifyPod(p)
		if f == nil {
			f = a.nodeGone(p)
		}
		if f == nil {
			f = a.stuckMount(p)
		}
		if f == nil {
			f = schedulingGated(p)
		}
		if f == nil {
			continue
		}
		owner := ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
		if group {
			owner = a.owner(p)
		}
		k := owner.Kind + "/" + key(owner.Namespace, owner.Name) + "|" + string(f.Category) + "|" + f.Container + "|" + f.Reason
		g := groups[k]
		if g == nil {
			g = &podGroup{owner: owner, failure: f}
			groups[k] = g
			order = append(order, k)
		}
		g.pods = append(g.pods, p)
	}
	sort.Strings(order)
	for _, k := range order {
		g := groups[k]
		sort.Slice(g.pods, func(i, j int) bool { return g.pods[i].Name < g.pods[j].Name })
		a.add(a.podFinding(g))
	}
}

// nodeGone reports a pod bound to a node that no longer exists: the pod stays Pending or
// Unknown until the pod garbage collector removes it.
func (a *analysis) nodeGone(p *corev1.Pod) *PodFailure {
	if p.Spec.NodeName == "" || !a.s.has("nodes") {
		return nil
	}
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	if a.nodesByName[p.Spec.NodeName] != nil {
		return nil
	}
	return &PodFailure{Category: CategoryNodeGone, Reason: "NodeGone", Message: fmt.Sprintf("node %q no longer exists", p.Spec.NodeName)}
}

// stuckMount reports a pod stuck in ContainerCreating because a volume cannot be mounted
// (FailedMount events): the kubelet never gets to CreateContainerConfigError for volumes.
func (a *analysis) stuckMount(p *corev1.Pod) *PodFailure {
	if p.Status.Phase != corev1.PodPending || p.Spec.NodeName == "" {
		return nil
	}
	for _, e := range a.eventsByObj[eventKey("Pod", p.Namespace, p.Name)] {
		if e.Reason == "FailedMount" && e.Last.After(a.now.Add(-15*60e9)) {
			return &PodFailure{Category: CategoryConfigError, Reason: "FailedMount", Message: e.Message}
		}
	}
	return nil
}

func podNames(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

// podFinding builds the finding of a group from its first pod (by name), the representative
// whose status, events and logs are shown.
func (a *analysis) podFinding(g *podGroup) Finding {
	p := g.pods[0]
	f := g.failure
	fd := Finding{
		Severity: SeverityError, Confidence: ConfidenceHigh, Category: f.Category,
		Object: g.owner, Pods: podNames(g.pods), Failure: f,
	}
	cause := f.String()
	if f.Category == CategoryNodeGone {
		cause = fmt.Sprintf("pod is bound to node %q, which no longer exists", p.Spec.NodeName)
	}
	if len(g.pods) > 1 {
		cause = fmt.Sprintf("%d pods: %s", len(g.pods), cause)
	} else if g.owner.Kind != "Pod" {
		cause = fmt.Sprintf("pod %s: %s", p.Name, cause)
	}
	fd.Cause = cause
	fd.Evidence.Status = podStatusLines(p)
	fd.Evidence.Events = a.events("Pod", p.Namespace, p.Name)
	ns := p.Namespace
	switch f.Category {
	case CategoryImagePull:
		a.imagePull(&fd, p, f)
	case CategoryCrashLoop, CategoryOOMKilled:
		a.crashLoop(&fd, p, f)
	case CategoryInitFailed:
		a.initFailed(&fd, p, f)
	case CategoryConfigError:
		a.configError(&fd, p, f)
	case CategoryRunError:
		fd.Fix = []string{fmt.Sprintf("check the command and entrypoint of container %s: kubectl get %s%s -o jsonpath='{.spec.template.spec.containers[?(@.name==%q)].command}'", f.Container, workloadArg(g.owner), nsFlag(ns), f.Container)}
	case CategoryUnschedulable:
		a.unschedulable(&fd, p)
	case CategoryEvicted:
		fd.Severity = SeverityWarning
		fd.Fix = []string{fmt.Sprintf("kubectl delete pod %s%s  # evicted pods stay until deleted; the controller has already replaced them", strings.Join(fd.Pods, " "), nsFlag(ns))}
		if n := a.nodesByName[p.Spec.NodeName]; n != nil {
			fd.Details = append(fd.Details, nodeConditionLines(n)...)
		}
	case CategoryPodFailed:
		fd.Severity = SeverityWarning
		if g.owner.Kind == "Job" {
			fd.Severity = SeverityInfo
		}
		if f.Container != "" {
			fd.Details = append(fd.Details, fmt.Sprintf("exit code %d: %s", f.ExitCode, ExitCodeMeaning(f.ExitCode, f.Reason)))
			fd.logs = append(fd.logs, logRequest{pod: p, container: f.Container})
		}
		fd.Fix = []string{fmt.Sprintf("kubectl logs pod/%s -c %s%s", p.Name, orDefault(f.Container, firstContainer(p)), nsFlag(ns))}
	case CategoryNodeGone:
		fd.Fix = []string{fmt.Sprintf("kubectl delete pod %s%s --grace-period=0 --force  # its controller recreates it on a live node", strings.Join(fd.Pods, " "), nsFlag(ns))}
	case CategorySchedulingGated:
		fd.Severity, fd.Impact = SeverityWarning, ImpactDegraded
		fd.Cause = fmt.Sprintf("%d pod(s) wait on scheduling gates: %s", len(fd.Pods), f.Message)
		fd.Fix = []string{fmt.Sprintf(`kubectl patch pod %s%s --type=json -p '[{"op":"remove","path":"/spec/schedulingGates"}]'  # only if the controller that owns the gate is gone`, p.Name, nsFlag(ns))}
	}
	// A failed release: going back to the previous, healthy ReplicaSet comes first.
	if g.owner.Kind == "Deployment" && fd.Severity == SeverityError {
		if undo := a.revertFix(ns, g.owner.Name); len(undo) > 0 && a.podOfNewestRS(p, g.owner.Name) {
			fd.Fix = append(undo, fd.Fix...)
		}
	}
	return fd
}

// podOfNewestRS reports whether a pod belongs to its Deployment's newest ReplicaSet (the
// release being rolled out), the one an undo replaces.
func (a *analysis) podOfNewestRS(p *corev1.Pod, deployment string) bool {
	d := a.deployByKey[key(p.Namespace, deployment)]
	ref := metav1.GetControllerOf(p)
	if d == nil || ref == nil {
		return false
	}
	cur, _ := a.revisions(d)
	return cur != nil && cur.Name == ref.Name
}

func firstContainer(p *corev1.Pod) string {
	if len(p.Spec.Containers) > 0 {
		return p.Spec.Containers[0].Name
	}
	return ""
}

// podStatusLines is the pod's status as `kubectl describe` would show the relevant part.
func podStatusLines(p *corev1.Pod) []string {
	lines := []string{fmt.Sprintf("pod %s: phase %s", p.Name, orDefault(string(p.Status.Phase), "Unknown"))}
	if p.Spec.NodeName != "" {
		lines[0] += ", node " + p.Spec.NodeName
	}
	if p.Status.Reason != "" {
		lines[0] += ", reason " + p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		// ContainersNotReady repeats what the container lines below say.
		if c.Status == corev1.ConditionTrue || c.Reason == "" || c.Reason == "ContainersNotReady" {
			continue
		}
		line := fmt.Sprintf("condition %s=%s %s", c.Type, c.Status, c.Reason)
		if m := oneLine(c.Message); m != "" {
			line += ": " + m
		}
		lines = append(lines, line)
	}
	add := func(prefix string, sts []corev1.ContainerStatus) {
		for ix := range sts {
			st := &sts[ix]
			lines = append(lines, prefix+containerStateLine(st))
		}
	}
	add("init container ", p.Status.InitContainerStatuses)
	add("container ", p.Status.ContainerStatuses)
	return lines
}

func containerStateLine(st *corev1.ContainerStatus) string {
	s := st.Name + ": "
	switch {
	case st.State.Waiting != nil:
		s += "waiting " + st.State.Waiting.Reason
		if m := oneLine(st.State.Waiting.Message); m != "" {
			s += ": " + m
		}
	case st.State.Running != nil:
		s += fmt.Sprintf("running since %s, ready=%v", st.State.Running.StartedAt.UTC().Format(timeFormat), st.Ready)
	case st.State.Terminated != nil:
		t := st.State.Terminated
		s += fmt.Sprintf("terminated %s, exit code %d", t.Reason, t.ExitCode)
	default:
		s += "no state"
	}
	s += fmt.Sprintf(", restarts %d", st.RestartCount)
	if t := st.LastTerminationState.Terminated; t != nil {
		s += fmt.Sprintf("; last terminated %s, exit code %d", t.Reason, t.ExitCode)
		if !t.StartedAt.IsZero() && !t.FinishedAt.IsZero() {
			s += fmt.Sprintf(", ran %s", t.FinishedAt.Sub(t.StartedAt.Time).Round(1e9))
		}
	}
	return s
}

const timeFormat = "2006-01-02T15:04:05Z"

func specContainer(p *corev1.Pod, name string, init bool) *corev1.Container {
	cs := p.Spec.Containers
	if init {
		cs = p.Spec.InitContainers
	}
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func statusOf(p *corev1.Pod, name string, init bool) *corev1.ContainerStatus {
	if init {
		return containerStatus(p.Status.InitContainerStatuses, name)
	}
	return containerStatus(p.Status.ContainerStatuses, name)
}

// imagePull explains an image pull failure: registries answer "unauthorized" or "denied"
// for images that do not exist as well as for images the node may not read, so the cause
// says both rather than guess; then it checks the pull secrets the node would use.
func (a *analysis) imagePull(fd *Finding, p *corev1.Pod, f *PodFailure) {
	ns := p.Namespace
	msg := strings.ToLower(f.Message)
	for _, e := range a.eventsByObj[eventKey("Pod", ns, p.Name)] {
		if e.Reason == "Failed" && strings.Contains(e.Message, f.Image) {
			msg += " " + strings.ToLower(e.Message)
		}
	}
	c := specContainer(p, f.Container, f.Init)
	switch {
	case f.Reason == "InvalidImageName":
		fd.Details = append(fd.Details, fmt.Sprintf("image reference %q does not parse (registry/repository:tag or @sha256:digest, lowercase repository)", f.Image))
	case f.Reason == "ErrImageNeverPull" || (c != nil && c.ImagePullPolicy == corev1.PullNever):
		fd.Details = append(fd.Details, fmt.Sprintf("imagePullPolicy is Never and image %q is not present on node %s", f.Image, p.Spec.NodeName))
		if strings.HasSuffix(f.Image, ":latest") || !strings.Contains(lastSegment(f.Image), ":") {
			fd.Details = append(fd.Details, "the image uses the :latest tag with pullPolicy Never: the node never fetches it")
		}
	case containsAny(msg, "no such host", "i/o timeout", "connection refused", "network is unreachable", "tls:", "x509"):
		fd.Details = append(fd.Details, "the node cannot reach the registry (DNS, network or TLS error in the pull message)")
	case containsAny(msg, "unauthorized", "denied", "forbidden", "authentication required", "401", "403"):
		fd.Details = append(fd.Details, "the registry refused the pull: the image or tag may not exist (registries answer unauthorized for missing images) or the credentials lack access")
	case containsAny(msg, "not found", "manifest unknown", "404"):
		fd.Details = append(fd.Details, "the registry says the image or tag does not exist")
	default:
		fd.Details = append(fd.Details, "image or tag not found, or no access to the registry")
	}
	secretProblems := a.pullSecretProblems(p)
	fd.Details = append(fd.Details, secretProblems...)
	fd.Fix = []string{
		fmt.Sprintf("kubectl set image %s %s=<an image:tag that exists>%s", workloadArg(fd.Object), f.Container, nsFlag(ns)),
	}
	if f.Reason == "ErrImageNeverPull" || (c != nil && c.ImagePullPolicy == corev1.PullNever) {
		fd.Fix = []string{fmt.Sprintf(`kubectl patch %s%s --type=json -p '[{"op":"replace","path":"/spec/template/spec/%s/%d/imagePullPolicy","value":"IfNotPresent"}]'`, workloadArg(fd.Object), nsFlag(ns), containersField(f.Init), containerIndex(p, f.Container, f.Init))}
	}
	if len(secretProblems) > 0 {
		sa := orDefault(p.Spec.ServiceAccountName, "default")
		fd.Fix = append(fd.Fix,
			fmt.Sprintf("kubectl create secret docker-registry regcred --docker-server=<registry> --docker-username=<user> --docker-password=<token>%s", nsFlag(ns)),
			fmt.Sprintf(`kubectl patch serviceaccount %s%s -p '{"imagePullSecrets":[{"name":"regcred"}]}'`, sa, nsFlag(ns)))
	}
}

func containersField(init bool) string {
	if init {
		return "initContainers"
	}
	return "containers"
}

func containerIndex(p *corev1.Pod, name string, init bool) int {
	cs := p.Spec.Containers
	if init {
		cs = p.Spec.InitContainers
	}
	for i := range cs {
		if cs[i].Name == name {
			return i
		}
	}
	return 0
}

func lastSegment(image string) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		return image[i+1:]
	}
	return image
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// pullSecretProblems checks the imagePullSecrets of the pod and of its ServiceAccount:
// missing Secrets and Secrets whose type is not a registry credential.
func (a *analysis) pullSecretProblems(p *corev1.Pod) []string {
	if !a.s.has("secrets") {
		return nil
	}
	type ref struct{ name, from string }
	var refs []ref
	for _, s := range p.Spec.ImagePullSecrets {
		refs = append(refs, ref{s.Name, "the pod"})
	}
	saName := orDefault(p.Spec.ServiceAccountName, "default")
	if a.s.has("serviceaccounts") {
		for i := range a.s.serviceAccounts {
			sa := &a.s.serviceAccounts[i]
			if sa.Namespace == p.Namespace && sa.Name == saName {
				for _, s := range sa.ImagePullSecrets {
					refs = append(refs, ref{s.Name, "ServiceAccount " + saName})
				}
			}
		}
	}
	var out []string
	for _, r := range refs {
		if _, ok := a.config.secrets[key(p.Namespace, r.name)]; !ok {
			out = append(out, fmt.Sprintf("imagePullSecret %q (on %s) does not exist", r.name, r.from))
			continue
		}
		if a.wrongSecretType(p.Namespace, r.name) {
			out = append(out, fmt.Sprintf("imagePullSecret %q (on %s) is not of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg: the kubelet ignores it", r.name, r.from))
		}
	}
	if len(refs) == 0 {
		out = append(out, fmt.Sprintf("no imagePullSecrets on the pod or on ServiceAccount %s: a private registry needs one", saName))
	}
	return out
}

// crashLoop explains a crash loop: exit code, OOM limit, probes, and asks for the logs.
func (a *analysis) crashLoop(fd *Finding, p *corev1.Pod, f *PodFailure) {
	ns := p.Namespace
	c := specContainer(p, f.Container, f.Init)
	st := statusOf(p, f.Container, f.Init)
	var last *corev1.ContainerStateTerminated
	if st != nil {
		last = st.LastTerminationState.Terminated
		if st.State.Terminated != nil {
			last = st.State.Terminated
		}
	}
	if last != nil {
		fd.Details = append(fd.Details, fmt.Sprintf("last exit code %d (%s): %s", last.ExitCode, orDefault(last.Reason, "Error"), ExitCodeMeaning(last.ExitCode, last.Reason)))
	}
	fd.Fix = []string{fmt.Sprintf("kubectl logs pod/%s -c %s --previous%s", p.Name, f.Container, nsFlag(ns))}
	if f.Category == CategoryOOMKilled && c != nil {
		lim := c.Resources.Limits.Memory()
		req := c.Resources.Requests.Memory()
		if lim.IsZero() {
			fd.Details = append(fd.Details, "no memory limit: the node ran out of memory and the kernel chose this container")
		} else {
			fd.Details = append(fd.Details, fmt.Sprintf("memory limit %s (request %s): the container used more", lim.String(), req.String()))
			double := lim.DeepCopy()
			double.Add(*lim)
			fd.Fix = append([]string{fmt.Sprintf("kubectl set resources %s -c %s --limits=memory=%s%s  # or find the leak", workloadArg(fd.Object), f.Container, double.String(), nsFlag(ns))}, fd.Fix...)
		}
	}
	if c != nil {
		a.probeDetails(fd, p, c, last)
	}
	if last != nil && last.ExitCode == 127 {
		fd.Fix = append(fd.Fix, fmt.Sprintf("check command/args of container %s: the executable is not in the image", f.Container))
	}
	fd.logs = append(fd.logs, logRequest{pod: p, container: f.Container, previous: st != nil && st.RestartCount > 0 && st.State.Terminated == nil})
}

// probeDetails finds a liveness or startup probe that kills the container: Unhealthy and
// Killing events name it; the probe's budget (initialDelaySeconds + periodSeconds ×
// failureThreshold) against how long the container ran tells a slow start from a hang.
func (a *analysis) probeDetails(fd *Finding, p *corev1.Pod, c *corev1.Container, last *corev1.ContainerStateTerminated) {
	var liveFails, startFails int32
	var lastMsg string
	for _, e := range a.eventsByObj[eventKey("Pod", p.Namespace, p.Name)] {
		if !eventForContainer(&e, c.Name) {
			continue
		}
		switch {
		case e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, "Liveness probe failed"):
			liveFails += e.Count
			lastMsg = e.Message
		case e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, "Startup probe failed"):
			startFails += e.Count
			lastMsg = e.Message
		case e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe"):
			liveFails++
		case e.Reason == "Killing" && strings.Contains(e.Message, "failed startup probe"):
			startFails++
		}
	}
	if liveFails == 0 && startFails == 0 {
		return
	}
	probe, kind := c.LivenessProbe, "liveness"
	if startFails > liveFails && c.StartupProbe != nil {
		probe, kind = c.StartupProbe, "startup"
	}
	fd.Category = CategoryProbeFailing
	fd.Cause = strings.TrimSuffix(fd.Cause, " (CrashLoopBackOff)") + fmt.Sprintf(": killed by a failing %s probe", kind)
	fd.Details = append(fd.Details, fmt.Sprintf("%s probe failed %d times; last: %s", kind, max(liveFails, startFails), oneLine(lastMsg)))
	if probe == nil {
		return
	}
	budget := probe.InitialDelaySeconds + probe.PeriodSeconds*probe.FailureThreshold
	fd.Details = append(fd.Details, fmt.Sprintf("%s probe: %s, initialDelaySeconds %d, periodSeconds %d, failureThreshold %d, timeoutSeconds %d: the container has %ds to become healthy",
		kind, probeTarget(probe), probe.InitialDelaySeconds, probe.PeriodSeconds, probe.FailureThreshold, probe.TimeoutSeconds, budget))
	if kind == "liveness" && c.StartupProbe == nil {
		ran := ""
		if last != nil && !last.StartedAt.IsZero() && !last.FinishedAt.IsZero() {
			ran = fmt.Sprintf(" (the last run lasted %s)", last.FinishedAt.Sub(last.StartedAt.Time).Round(1e9))
		}
		fd.Details = append(fd.Details, "no startupProbe: a slow start-up is killed by the liveness probe"+ran)
		fd.Fix = append([]string{fmt.Sprintf(`kubectl patch %s%s --type=json -p '[{"op":"add","path":"/spec/template/spec/containers/%d/startupProbe","value":{%s"periodSeconds":5,"failureThreshold":60}}]'  # allow 300s to start`,
			workloadArg(fd.Object), nsFlag(p.Namespace), containerIndex(p, c.Name, false), probeHandlerJSON(probe))}, fd.Fix...)
	}
}

func eventForContainer(e *eventRecord, container string) bool {
	fp := e.FieldPath
	return fp == "" || strings.Contains(fp, "{"+container+"}")
}

func probeTarget(p *corev1.Probe) string {
	switch {
	case p.HTTPGet != nil:
		return fmt.Sprintf("GET %s on port %s", orDefault(p.HTTPGet.Path, "/"), p.HTTPGet.Port.String())
	case p.TCPSocket != nil:
		return "TCP port " + p.TCPSocket.Port.String()
	case p.GRPC != nil:
		return fmt.Sprintf("gRPC port %d", p.GRPC.Port)
	case p.Exec != nil:
		return "exec " + strings.Join(p.Exec.Command, " ")
	}
	return "no handler"
}

func probeHandlerJSON(p *corev1.Probe) string {
	switch {
	case p.HTTPGet != nil:
		return fmt.Sprintf(`"httpGet":{"path":%q,"port":%s},`, orDefault(p.HTTPGet.Path, "/"), portJSON(p.HTTPGet.Port.String()))
	case p.TCPSocket != nil:
		return fmt.Sprintf(`"tcpSocket":{"port":%s},`, portJSON(p.TCPSocket.Port.String()))
	}
	return ""
}

func portJSON(s string) string {
	for _, r := range s {
		if r < '0' || r > '9' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// initFailed explains a failed init container: which one, its exit code, that the app
// containers never started, and its log (the db-migrations case).
func (a *analysis) initFailed(fd *Finding, p *corev1.Pod, f *PodFailure) {
	var waitingApps []string
	for ix := range p.Spec.Containers {
		c := &p.Spec.Containers[ix]
		waitingApps = append(waitingApps, c.Name)
	}
	fd.Details = append(fd.Details,
		fmt.Sprintf("exit code %d: %s", f.ExitCode, ExitCodeMeaning(f.ExitCode, f.Reason)),
		fmt.Sprintf("app containers %s never started: they wait for every init container to succeed", strings.Join(waitingApps, ", ")))
	if c := specContainer(p, f.Container, true); c != nil && len(c.Command)+len(c.Args) > 0 {
		fd.Details = append(fd.Details, "init command: "+strings.Join(append(append([]string{}, c.Command...), c.Args...), " "))
	}
	st := statusOf(p, f.Container, true)
	previous := st != nil && st.State.Terminated == nil && st.RestartCount > 0
	prevFlag := ""
	if previous {
		prevFlag = " --previous"
	}
	fd.Fix = []string{
		fmt.Sprintf("kubectl logs pod/%s -c %s%s%s", p.Name, f.Container, prevFlag, nsFlag(p.Namespace)),
		fmt.Sprintf("fix what init container %s needs (e.g. the database it migrates), then: kubectl rollout restart %s%s", f.Container, workloadArg(fd.Object), nsFlag(p.Namespace)),
	}
	if fd.Object.Kind == "Pod" {
		fd.Fix[1] = fmt.Sprintf("fix what init container %s needs (e.g. the database it migrates); the kubelet retries it", f.Container)
	}
	fd.logs = append(fd.logs, logRequest{pod: p, container: f.Container, previous: previous})
}

// configError lists every missing ConfigMap, Secret and key the pod references, not only the
// first one the kubelet reports.
func (a *analysis) configError(fd *Finding, p *corev1.Pod, f *PodFailure) {
	ns := p.Namespace
	missing := a.config.missing(ns, PodConfigRefs(&p.Spec))
	if f.Reason == "FailedMount" {
		fd.Cause = fmt.Sprintf("pod %s is stuck in ContainerCreating: a volume cannot be mounted: %s", p.Name, oneLine(f.Message))
		if len(fd.Pods) > 1 {
			fd.Cause = fmt.Sprintf("%d pods stuck in ContainerCreating: a volume cannot be mounted: %s", len(fd.Pods), oneLine(f.Message))
		}
	}
	var nearFixes []string
	if len(missing) > 0 {
		names := make([]string, 0, len(missing))
		for _, m := range missing {
			line := m.String()
			if m.Problem == "key not found" {
				if obj, found, _ := a.config.lookup(ns, m.Ref); found && obj.keysKnown {
					if near := nearKey(m.Ref.Key, obj.keys); near != "" {
						line += fmt.Sprintf("; %s %q has %q (near miss)", m.Ref.Kind, m.Ref.Name, near)
						if patch := envRefPatch(&p.Spec, m.Ref, near); patch != "" && fd.Object.Kind != "Pod" {
							nearFixes = append(nearFixes, fmt.Sprintf("kubectl patch %s%s --type=json -p '%s'  # read the existing key %q", workloadArg(fd.Object), nsFlag(ns), patch, near))
						}
					}
				}
			}
			fd.Details = append(fd.Details, line)
			names = append(names, line)
		}
		who := "pod " + p.Name
		if len(fd.Pods) > 1 {
			who = fmt.Sprintf("%d pods", len(fd.Pods))
		}
		fd.Cause = fmt.Sprintf("%s cannot start: %d missing reference(s): %s (%s)", who, len(missing), strings.Join(names, "; "), orDefault(f.Reason, string(f.Category)))
	}
	byObj := map[string][]string{}
	var objOrder []string
	for _, m := range missing {
		k := m.Ref.Kind + "/" + m.Ref.Name
		if _, ok := byObj[k]; !ok {
			objOrder = append(objOrder, k)
		}
		if m.Ref.Key != "" {
			byObj[k] = append(byObj[k], m.Ref.Key)
		} else if byObj[k] == nil {
			byObj[k] = []string{}
		}
	}
	for _, k := range objOrder {
		kind, name, _ := strings.Cut(k, "/")
		keys := byObj[k]
		_, exists, _ := a.config.lookup(ns, ConfigRef{Kind: kind, Name: name})
		if !exists {
			keys = neededKeys(&p.Spec, kind, name) // every key the pods read, not only the first
		}
		lits := make([]string, 0, len(keys))
		for _, key := range uniq(keys) {
			lits = append(lits, "--from-literal="+key+"='<value>'")
		}
		if len(lits) == 0 {
			lits = append(lits, "--from-literal='<KEY>=<value>'  # envFrom reads every key: add the ones the app expects")
		}
		switch {
		case exists && kind == "Secret":
			fd.Fix = append(fd.Fix, fmt.Sprintf("add the missing keys to Secret %s: kubectl edit secret %s%s (or recreate it with %s)", name, name, nsFlag(ns), strings.Join(lits, " ")))
		case exists:
			fd.Fix = append(fd.Fix, fmt.Sprintf("add the missing keys to ConfigMap %s: kubectl edit configmap %s%s", name, name, nsFlag(ns)))
		case kind == "Secret":
			fd.Fix = append(fd.Fix, strings.TrimSpace(fmt.Sprintf("kubectl create secret generic %s%s %s", name, nsFlag(ns), strings.Join(lits, " "))))
		default:
			fd.Fix = append(fd.Fix, strings.TrimSpace(fmt.Sprintf("kubectl create configmap %s%s %s", name, nsFlag(ns), strings.Join(lits, " "))))
		}
	}
	fd.Fix = append(nearFixes, fd.Fix...)
	if len(missing) == 0 && len(fd.Fix) == 0 {
		fd.Fix = []string{fmt.Sprintf("kubectl describe pod %s%s  # the kubelet's message above names the problem", p.Name, nsFlag(ns))}
	}
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// podStarted is when the pod's containers started: the earliest running or terminated
// container start, the pod's start time otherwise.
func podStarted(p *corev1.Pod) metav1.Time {
	var t metav1.Time
	for ix := range p.Status.ContainerStatuses {
		st := &p.Status.ContainerStatuses[ix]
		var s metav1.Time
		switch {
		case st.State.Running != nil:
			s = st.State.Running.StartedAt
		case st.State.Terminated != nil:
			s = st.State.Terminated.StartedAt
		}
		if !s.IsZero() && (t.IsZero() || s.Before(&t)) {
			t = s
		}
	}
	if t.IsZero() && p.Status.StartTime != nil {
		t = *p.Status.StartTime
	}
	return t
}
