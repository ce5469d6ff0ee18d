package troubleshoot

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/report"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
	"github.com/feastflow/kubectl-feastflow/pkg/window"
)

// CheckStatus is the verdict of one preflight check.
type CheckStatus string

// The verdicts.
const (
	CheckPass CheckStatus = "PASS"
	CheckWarn CheckStatus = "WARN"
	CheckFail CheckStatus = "FAIL"
)

// Severity maps a verdict to a diagnose severity, for --fail-on.
func (s CheckStatus) Severity() Severity {
	switch s {
	case CheckFail:
		return SeverityError
	case CheckWarn:
		return SeverityWarning
	}
	return SeverityInfo
}

// Check is one line of the preflight checklist.
type Check struct {
	// Name is the check's stable identifier, e.g. "probes" or "rbac".
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	// Object is what was checked, e.g. "deployment/web"; empty for cluster-wide checks.
	Object  string `json:"object,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// PreflightSummary counts the verdicts.
type PreflightSummary struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// PreflightReport is the result of Preflight.
type PreflightReport struct {
	metav1.TypeMeta `json:",inline"`
	Namespace       string           `json:"namespace"`
	Components      []string         `json:"components"`
	ServerVersion   string           `json:"serverVersion,omitempty"`
	Checks          []Check          `json:"checks"`
	Summary         PreflightSummary `json:"summary"`
}

// AtLeast counts the checks whose verdict is at or above severity s (FAIL = error,
// WARN = warning, PASS = info).
func (r *PreflightReport) AtLeast(s Severity) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status != CheckPass && c.Status.Severity().Rank() >= s.Rank() {
			n++
		}
	}
	return n
}

// PreflightOptions tune Preflight.
type PreflightOptions struct {
	// Metadata lists ConfigMaps and Secrets without their data (nil: references unchecked).
	Metadata metadata.Interface
	// Now is the clock of the deployment-window check.
	Now func() time.Time
}

// ReleaseAccess is what the release verbs need in the namespace; preflight asks the API
// server about each with a SelfSubjectAccessReview (the authoritative answer, webhook
// authorizers included).
var ReleaseAccess = []authorizationv1.ResourceAttributes{
	{Verb: "get", Resource: "services"},
	{Verb: "patch", Resource: "services"},
	{Verb: "list", Group: "apps", Resource: "deployments"},
	{Verb: "patch", Group: "apps", Resource: "deployments"},
	{Verb: "update", Group: "apps", Resource: "deployments"},
	{Verb: "list", Group: "apps", Resource: "replicasets"},
	{Verb: "list", Resource: "pods"},
	{Verb: "watch", Resource: "pods"},
	{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices"},
	{Verb: "create", Resource: "events"},
	{Verb: "list", Resource: "events"},
}

// Preflight runs the pre-deployment checklist for one component (a Service and the
// Deployments its selector reaches) or, with component "", every component of the
// namespace. It reads only: one /version call, one SelfSubjectAccessReview per release
// permission (in parallel), and one LIST per kind.
func Preflight(ctx context.Context, client kubernetes.Interface, ns, component string, opts PreflightOptions) (*PreflightReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &PreflightReport{TypeMeta: report.TypeMeta("PreflightReport"), Namespace: ns, Components: []string{}, Checks: []Check{}}
	v, err := discovery.ToServerVersionInterfaceWithContext(client.Discovery()).ServerVersionWithContext(ctx)
	if err != nil {
		r.add(Check{Name: "cluster", Status: CheckFail, Message: "cluster not reachable: " + oneLine(err.Error()), Fix: "kubectl cluster-info  # check --context, --kubeconfig and the network"})
		r.summarize()
		return r, nil
	}
	r.ServerVersion = v.GitVersion
	r.add(Check{Name: "cluster", Status: CheckPass, Message: fmt.Sprintf("cluster reachable, Kubernetes %s", v.GitVersion)})

	r.add(rbacCheck(ctx, client, ns))

	snap, err := take(ctx, client, opts.Metadata, ns, "", kinds{services: true, workloads: true, config: true})
	if err != nil {
		return nil, err
	}
	var refused []string
	for _, l := range []string{"services", "deployments"} {
		if !snap.has(l) {
			refused = append(refused, l+" in namespace "+ns)
		}
	}
	if len(refused) > 0 {
		what := "namespace " + ns
		if component != "" {
			what = "component " + component + " in namespace " + ns
		}
		return nil, &ForbiddenError{Verb: "preflight", Scope: what, Missing: refused}
	}
	r.add(windowCheck(ctx, client, ns, opts.Now()))

	var svcs []*corev1.Service
	for i := range snap.services {
		s := &snap.services[i]
		if component != "" && s.Name != component {
			continue
		}
		if len(s.Spec.Selector) > 0 {
			svcs = append(svcs, s)
		}
	}
	if component != "" && len(svcs) == 0 {
		for i := range snap.services {
			if snap.services[i].Name == component {
				return nil, fmt.Errorf("service %s/%s has no selector: it is not a component (components are Services with a selector)", ns, component)
			}
		}
		return nil, &NotFoundError{Kind: "Service", Namespace: ns, Name: component}
	}
	if len(svcs) == 0 {
		r.add(Check{Name: "components", Status: CheckWarn, Message: fmt.Sprintf("no component in namespace %s: no Service with a selector", ns)})
	}
	cfg := newConfigIndex(snap.configMaps, snap.secrets, snap.has("configmaps"), snap.has("secrets"))
	for _, svc := range svcs {
		r.Components = append(r.Components, svc.Name)
		deps := ReachableDeployments(svc, snap.deployments)
		if len(deps) == 0 {
			r.add(Check{Name: "deployments", Status: CheckFail, Object: "service/" + svc.Name,
				Message: fmt.Sprintf("no Deployment's pod template matches the selector %s", labelsString(svc.Spec.Selector)),
				Fix:     "kubectl feastflow diagnose svc/" + svc.Name + nsFlag(ns)})
			continue
		}
		serving := 0
		for _, d := range deps {
			if replicas(d.Spec.Replicas) > 0 {
				serving++
			}
		}
		for _, d := range deps {
			live := selects(svc.Spec.Selector, d.Spec.Template.Labels)
			if replicas(d.Spec.Replicas) == 0 && serving > 0 && live {
				// A retired canary (or a stopped extra track): nothing of it runs or serves.
				r.add(Check{Name: "replicas", Status: CheckPass, Object: "deployment/" + d.Name, Message: "scaled to 0 (retired): not checked"})
				continue
			}
			r.Checks = append(r.Checks, deploymentChecks(d, svc.Name, live, snap.pdbs, cfg)...)
		}
	}
	if c, ok := trafficAccessCheck(ctx, client, ns, svcs); ok {
		r.add(c)
	}
	r.summarize()
	return r, nil
}

// trafficAccessCheck: when a component asks for traffic checks (a smoke path or canary
// analysis on its Service), the caller must be allowed the proxy subresources they GET,
// or every release of it is refused — asked with SelfSubjectAccessReviews, as the
// release permissions are.
func trafficAccessCheck(ctx context.Context, client kubernetes.Interface, ns string, svcs []*corev1.Service) (Check, bool) {
	var asking []string
	for _, svc := range svcs {
		if traffic.SmokePathFor(svc) != "" || svc.Annotations[traffic.AnalysisAnnotation] != "" {
			asking = append(asking, "service/"+svc.Name)
		}
	}
	if len(asking) == 0 {
		return Check{}, false
	}
	c := Check{Name: "traffic-rbac", Object: strings.Join(asking, ", ")}
	err := traffic.CheckAccess(ctx, client, ns, "traffic checks", traffic.PodProxy, traffic.ServiceProxy)
	var denied *traffic.AccessError
	if errors.As(err, &denied) {
		c.Status, c.Fix = CheckFail, "bind the feastflow-release Role (deploy/rbac/release.yaml: get on pods/proxy and services/proxy) in this namespace, or remove the annotations"
		c.Message = fmt.Sprintf("smoke test or canary analysis configured, but not allowed in namespace %s: %s", ns, strings.Join(denied.Denied, ", "))
		return c, true
	}
	c.Status, c.Message = CheckPass, "smoke test or canary analysis configured; get pods/proxy and services/proxy allowed"
	return c, true
}

func (r *PreflightReport) add(c Check) { r.Checks = append(r.Checks, c) }

func (r *PreflightReport) summarize() {
	r.Summary = PreflightSummary{}
	for _, c := range r.Checks {
		switch c.Status {
		case CheckPass:
			r.Summary.Pass++
		case CheckWarn:
			r.Summary.Warn++
		case CheckFail:
			r.Summary.Fail++
		}
	}
}

func rbacCheck(ctx context.Context, client kubernetes.Interface, ns string) Check {
	var mu sync.Mutex
	var denied, unknown []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(6)
	for ix := range ReleaseAccess {
		attr := ReleaseAccess[ix]
		g.Go(func() error {
			attr.Namespace = ns
			name := attr.Verb + " " + attr.Resource
			if attr.Group != "" {
				name += "." + attr.Group
			}
			res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(gctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr},
			}, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				unknown = append(unknown, name+" ("+oneLine(err.Error())+")")
			case !res.Status.Allowed:
				denied = append(denied, name)
			}
			return nil
		})
	}
	_ = g.Wait()
	sort.Strings(denied)
	sort.Strings(unknown)
	switch {
	case len(denied) > 0:
		return Check{Name: "rbac", Status: CheckFail, Message: fmt.Sprintf("not allowed in namespace %s: %s", ns, strings.Join(denied, ", ")),
			Fix: "bind the feastflow-release Role (deploy/rbac/release.yaml) to your user or group in this namespace"}
	case len(unknown) > 0:
		return Check{Name: "rbac", Status: CheckWarn, Message: "could not check: " + strings.Join(unknown, ", ")}
	}
	return Check{Name: "rbac", Status: CheckPass, Message: fmt.Sprintf("allowed the %d permissions the release verbs use in namespace %s", len(ReleaseAccess), ns)}
}

func windowCheck(ctx context.Context, client kubernetes.Interface, ns string, now time.Time) Check {
	nsObj, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return Check{Name: "window", Status: CheckWarn, Message: fmt.Sprintf("could not read namespace %s for its deployment window: %s", ns, apierrors.ReasonForError(err))}
	}
	sched, err := window.FromNamespace(nsObj)
	if err != nil {
		return Check{Name: "window", Status: CheckFail, Message: "deployment window annotation does not parse: " + oneLine(err.Error()),
			Fix: fmt.Sprintf("kubectl annotate namespace %s %s='Mon-Fri 09:00-17:00 Europe/Berlin' --overwrite", ns, window.WindowAnnotation)}
	}
	st := sched.Check(now)
	switch {
	case !st.Configured:
		return Check{Name: "window", Status: CheckPass, Message: "no deployment window or freeze set on the namespace"}
	case st.Open:
		return Check{Name: "window", Status: CheckPass, Message: "inside the deployment window"}
	}
	msg := "closed: " + st.Reason
	if !st.NextOpen.IsZero() {
		msg += ", next open " + st.NextOpen.UTC().Format(time.RFC3339)
	}
	return Check{Name: "window", Status: CheckFail, Message: msg, Fix: "wait for the window, or pass --override-window=REASON to the release verb (recorded)"}
}

// deploymentChecks are the per-Deployment lines. live is false for a blue-green idle
// color, whose replica count is expected to be 0.
func deploymentChecks(d *appsv1.Deployment, component string, live bool, pdbs []policyv1.PodDisruptionBudget, cfg *configIndex) []Check {
	obj := "deployment/" + d.Name
	ns := d.Namespace
	spec := &d.Spec.Template.Spec
	var out []Check
	add := func(name string, st CheckStatus, msg, fix string) {
		out = append(out, Check{Name: name, Status: st, Object: obj, Message: msg, Fix: fix})
	}

	// Probes: readiness gates traffic during a rollout; liveness restarts a hung process.
	// Identical probes make a slow dependency restart every pod instead of taking it out
	// of the endpoints.
	var noReady, noLive, same []string
	for ix := range spec.Containers {
		c := &spec.Containers[ix]
		if c.ReadinessProbe == nil {
			noReady = append(noReady, c.Name)
		}
		if c.LivenessProbe == nil {
			noLive = append(noLive, c.Name)
		}
		if c.ReadinessProbe != nil && c.LivenessProbe != nil && reflect.DeepEqual(c.ReadinessProbe, c.LivenessProbe) {
			same = append(same, c.Name)
		}
	}
	switch {
	case len(noReady) > 0:
		add("probes", CheckFail, "no readinessProbe on container "+strings.Join(noReady, ", ")+": pods get traffic before they can serve",
			"add a readinessProbe (e.g. httpGet on the health endpoint) to the pod template")
	case len(same) > 0:
		add("probes", CheckWarn, "readinessProbe and livenessProbe are identical on container "+strings.Join(same, ", ")+": a slow dependency restarts every pod",
			"make the liveness probe check only the process (e.g. a cheaper path, a higher failureThreshold)")
	case len(noLive) > 0:
		add("probes", CheckWarn, "no livenessProbe on container "+strings.Join(noLive, ", ")+": a hung process is never restarted", "add a livenessProbe distinct from the readinessProbe")
	default:
		add("probes", CheckPass, "readiness and liveness probes present and distinct", "")
	}

	// Requests and limits.
	var noReq, noLim []string
	for ix := range spec.Containers {
		c := &spec.Containers[ix]
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			noReq = append(noReq, c.Name)
		}
		if c.Resources.Limits.Memory().IsZero() {
			noLim = append(noLim, c.Name)
		}
	}
	switch {
	case len(noReq) > 0:
		add("resources", CheckFail, "no cpu/memory requests on container "+strings.Join(noReq, ", ")+": the scheduler cannot place the surge pods safely",
			fmt.Sprintf("kubectl set resources deployment/%s%s --requests=cpu=100m,memory=128Mi --limits=memory=256Mi", d.Name, nsFlag(ns)))
	case len(noLim) > 0:
		add("resources", CheckWarn, "no memory limit on container "+strings.Join(noLim, ", "),
			fmt.Sprintf("kubectl set resources deployment/%s%s --limits=memory=<limit>", d.Name, nsFlag(ns)))
	default:
		add("resources", CheckPass, "requests and memory limits set", "")
	}

	// Replicas: one replica is downtime on every node drain and every crash.
	n := replicas(d.Spec.Replicas)
	switch {
	case !live:
		add("replicas", CheckPass, fmt.Sprintf("idle color with %d replicas (deploy scales it to the live color's count)", n), "")
	case n < 2:
		add("replicas", CheckWarn, fmt.Sprintf("%d replica: a drain or a crash is downtime", n), fmt.Sprintf("kubectl feastflow scale %s --replicas 2%s", component, nsFlag(ns)))
	default:
		add("replicas", CheckPass, fmt.Sprintf("%d replicas", n), "")
	}

	// PDB.
	var matching []*policyv1.PodDisruptionBudget
	for i := range pdbs {
		p := &pdbs[i]
		if p.Namespace != ns || p.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			matching = append(matching, p)
		}
	}
	switch {
	case len(matching) == 0:
		// The Deployment's own selector, never its template labels: those carry version or
		// color labels that change on the next release and would leave the budget empty.
		add("pdb", CheckWarn, "no PodDisruptionBudget: a node drain may evict every pod at once",
			fmt.Sprintf("kubectl create pdb %s --selector=%s --max-unavailable=1%s", d.Name, deploymentSelector(d), nsFlag(ns)))
	case len(matching) > 1:
		add("pdb", CheckFail, fmt.Sprintf("%d PodDisruptionBudgets select the pods: the Eviction API refuses every eviction", len(matching)), "keep one PodDisruptionBudget per workload")
	default:
		if why := pdbBlocks(matching[0], n); why != "" && live {
			add("pdb", CheckFail, fmt.Sprintf("PodDisruptionBudget %s blocks every drain: %s", matching[0].Name, why),
				fmt.Sprintf("kubectl patch pdb %s%s --type=merge -p '{\"spec\":{\"maxUnavailable\":1,\"minAvailable\":null}}'", matching[0].Name, nsFlag(ns)))
		} else {
			add("pdb", CheckPass, fmt.Sprintf("PodDisruptionBudget %s allows a drain", matching[0].Name), "")
		}
	}

	// Images.
	var latest []string
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for ix := range all {
		c := &all[ix]
		if isLatest(c.Image) {
			latest = append(latest, fmt.Sprintf("%s (%s)", c.Name, c.Image))
		}
	}
	if len(latest) > 0 {
		add("image", CheckFail, "image without a pinned tag: "+strings.Join(latest, ", ")+": rollbacks and new pods may run different code",
			fmt.Sprintf("kubectl feastflow deploy %s --image <image>:<version>%s", d.Name, nsFlag(ns)))
	} else {
		add("image", CheckPass, "images pinned to a tag or digest", "")
	}

	// Strategy.
	switch {
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		add("strategy", CheckWarn, "strategy Recreate: every release stops all pods first (downtime)", "use RollingUpdate with maxUnavailable: 0")
	case d.Spec.Strategy.RollingUpdate != nil && d.Spec.Strategy.RollingUpdate.MaxUnavailable != nil && isZero(d.Spec.Strategy.RollingUpdate.MaxUnavailable):
		add("strategy", CheckPass, "RollingUpdate with maxUnavailable: 0", "")
	case maxUnavailablePods(d) == 0:
		// The Deployment controller rounds a percentage down: 25 % of 1-3 replicas is 0.
		add("strategy", CheckPass, fmt.Sprintf("RollingUpdate with maxUnavailable %s: 0 pods of %d, capacity never drops", maxUnavailableString(d), n), "")
	default:
		mu := maxUnavailableString(d)
		add("strategy", CheckWarn, fmt.Sprintf("RollingUpdate with maxUnavailable %s (%d of %d pods): capacity drops during a rollout", mu, maxUnavailablePods(d), n),
			fmt.Sprintf(`kubectl patch deployment %s%s -p '{"spec":{"strategy":{"rollingUpdate":{"maxUnavailable":0,"maxSurge":1}}}}'`, d.Name, nsFlag(ns)))
	}

	// ConfigMaps, Secrets, keys.
	missing := cfg.missing(ns, PodConfigRefs(spec))
	switch {
	case len(missing) > 0:
		var ms []string
		for _, m := range missing {
			ms = append(ms, m.String())
		}
		add("config", CheckFail, "missing: "+strings.Join(ms, "; "), "create them before deploying: kubectl create configmap|secret generic NAME"+nsFlag(ns)+" ...")
	case !cfg.cmKnown || !cfg.secKnown:
		add("config", CheckWarn, "ConfigMaps/Secrets could not be listed: references not checked", "")
	default:
		add("config", CheckPass, "every referenced ConfigMap, Secret and key exists", "")
	}

	// Graceful shutdown: without a preStop pause, SIGTERM reaches the process while
	// kube-proxies and ingresses still send it traffic (endpoint removal propagates
	// asynchronously), so in-flight requests fail on every rollout.
	grace := int64(30)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	var noPreStop []string
	for ix := range spec.Containers {
		c := &spec.Containers[ix]
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			noPreStop = append(noPreStop, c.Name)
		}
	}
	switch {
	case grace < 5:
		add("shutdown", CheckFail, fmt.Sprintf("terminationGracePeriodSeconds %d: in-flight requests are cut", grace), "set terminationGracePeriodSeconds ≥ 10 and a preStop sleep")
	case len(noPreStop) > 0:
		add("shutdown", CheckWarn, fmt.Sprintf("no preStop hook on container %s (terminationGracePeriodSeconds %d): SIGTERM races the endpoint removal", strings.Join(noPreStop, ", "), grace),
			`add lifecycle: {preStop: {sleep: {seconds: 5}}} to the container`)
	default:
		add("shutdown", CheckPass, fmt.Sprintf("preStop hook and terminationGracePeriodSeconds %d", grace), "")
	}
	return out
}

// pdbBlocks says why a PDB allows no voluntary disruption of a Deployment with n replicas
// even when all are healthy, or "" when it allows one.
func pdbBlocks(p *policyv1.PodDisruptionBudget, n int32) string {
	if mu := p.Spec.MaxUnavailable; mu != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(mu, int(n), true)
		if err == nil && v == 0 {
			return "maxUnavailable " + mu.String()
		}
		return ""
	}
	if ma := p.Spec.MinAvailable; ma != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ma, int(n), true)
		if err == nil && v >= int(n) {
			return fmt.Sprintf("minAvailable %s with %d replicas", ma.String(), n)
		}
	}
	return ""
}

func isZero(v *intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return strings.TrimSuffix(v.StrVal, "%") == "0"
}

// isLatest reports an image that floats: tag latest, or no tag and no digest.
func isLatest(image string) bool {
	if strings.Contains(image, "@") {
		return false
	}
	last := lastSegment(image)
	i := strings.LastIndex(last, ":")
	return i < 0 || last[i+1:] == "latest"
}

// deploymentSelector is a Deployment's selector as a kubectl --selector value.
func deploymentSelector(d *appsv1.Deployment) string {
	if d.Spec.Selector == nil {
		return labelsString(d.Spec.Template.Labels)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return labelsString(d.Spec.Selector.MatchLabels)
	}
	return sel.String()
}

func maxUnavailableString(d *appsv1.Deployment) string {
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		return ru.MaxUnavailable.String()
	}
	return "25%"
}

// maxUnavailablePods is how many pods a rollout may take down, rounded down as the
// Deployment controller does.
func maxUnavailablePods(d *appsv1.Deployment) int {
	mu := intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		mu = *ru.MaxUnavailable
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(&mu, int(replicas(d.Spec.Replicas)), false)
	if err != nil {
		return 1
	}
	return v
}
