package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// DefaultVerifyTimeout bounds the wait for the EndpointSlice controller after a switch.
const DefaultVerifyTimeout = 30 * time.Second

// SwitchOptions tune Switch.
type SwitchOptions struct {
	Namespace string
	// Component is the Service to switch; empty with All false: the namespace's only
	// blue-green component.
	Component string
	// All switches every blue-green component of the namespace (all preflights first).
	All bool
	// Color is the target color: a label value, or the suffix of a <component>-<color>
	// Deployment.
	Color string
	Keys  Keys
	// Force switches a Service that a GitOps controller owns (it may revert the switch).
	Force bool
	// VerifyTimeout bounds the EndpointSlice verification (0: DefaultVerifyTimeout).
	VerifyTimeout time.Duration
	// Smoke, when it has a path (its own or the Service's annotation), tests the target
	// pods through pods/proxy before the patch (a failure writes nothing) and the Service
	// through services/proxy after the verification.
	Smoke *traffic.Smoke

	// record, when set, amends the release record the switch writes (promote records
	// its scale-down as the operation in progress in the same patch).
	record func(*Release)
	// switched, when set, receives each Service as the switch left it.
	switched func(*corev1.Service)
	// held is the component as the caller read it (promote, rollback): the switch plans on
	// it instead of reading the Service and the Deployments again.
	held *Component
	// readyHash, by Deployment name, is the pod-template-hash of the target's current
	// template when the caller just waited for its pods (rollback after scaling up): the
	// preflight counts those pods when the Deployment's status lags behind them.
	readyHash map[string]string
}

// SwitchResult is the report of Switch.
type SwitchResult struct {
	Result     `json:",inline"`
	Color      string            `json:"color"`
	Components []SwitchComponent `json:"components"`
}

// SwitchComponent is what Switch did to one component.
type SwitchComponent struct {
	Component  string `json:"component"`
	From       string `json:"from"`
	To         string `json:"to"`
	Deployment string `json:"deployment"`
	Changed    bool   `json:"changed"`
	// Verified is true when the EndpointSlices were seen listing only the target's pods.
	Verified       bool     `json:"verified"`
	ReadyEndpoints int      `json:"readyEndpoints"`
	RolledBack     bool     `json:"rolledBack,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	Changes        []Change `json:"changes"`
	// Smoke holds the smoke tests run: on the pods before, through the Service after.
	Smoke []traffic.SmokeReport `json:"smoke,omitempty"`
}

// PreflightError is a refused switch: every problem of every component, nothing written.
type PreflightError struct {
	Color    string
	Problems []string
}

func (e *PreflightError) Error() string {
	return fmt.Sprintf("switch to %s refused, nothing was changed: %s", e.Color, strings.Join(e.Problems, "; "))
}

// Switch moves the traffic of blue-green components to a color: it preflights every
// component first (the target Deployment current and fully available, its pods Ready
// with init containers done, the Service's targetPort resolving on them, the deployment
// window open, no GitOps owner), then sends one JSON patch per Service that tests the old
// color (a concurrent switch fails instead of overwriting) and records the previous color
// and the last operation, then verifies through a watch that the EndpointSlices list
// only the target's pods, and records an Event. Switching to the live color writes
// nothing. With several components, a failed patch switches back those already switched.
//
// A verified switch of one component costs eight requests and no discovery, on four
// round trips: GET the service, LIST deployments and GET the namespace (in parallel),
// LIST the target's pods, PATCH, then at once one WATCH of the EndpointSlices (initial
// events included, no LIST), the Event and the LIST of autoscalers to move.
func Switch(ctx context.Context, env *Env, opts SwitchOptions) (*SwitchResult, error) {
	return switchColor(ctx, env, opts, "switch")
}

// switchPlan is one component's switch, preflighted.
type switchPlan struct {
	c        *Component
	target   *appsv1.Deployment
	value    string // the color label value switched to
	selector labels.Selector
	pods     []corev1.Pod // pods the new selector selects
	ready    map[string]bool
	expect   targetPods // what the verification waits for
	// hpas are the namespace's autoscalers when the switch listed them (hpasListed).
	hpas       []autoscalingv2.HorizontalPodAutoscaler
	hpasListed bool
	hpaErr     error
	noop       bool
	out        *SwitchComponent

	// recRaw is the release annotation as read ("" when absent: the patch then tests the
	// resourceVersion); next is the record the switch writes, nextRaw its annotation.
	recRaw  string
	prev    *Release
	next    *Release
	nextRaw string
}

func switchColor(ctx context.Context, env *Env, opts SwitchOptions, verb string) (*SwitchResult, error) {
	run, err := planSwitch(ctx, env, opts, verb)
	if err != nil {
		return nil, err
	}
	return run.apply(ctx, env)
}

// switchRun is a switch planned on one snapshot (the Services, the Deployments, the
// namespace, the target pods when needed, the autoscalers when needed): every component
// preflighted, and the result so far. apply makes it.
type switchRun struct {
	opts  SwitchOptions
	verb  string
	res   *SwitchResult
	plans []*switchPlan
	todo  []*switchPlan // the plans that write
}

// planSwitch reads the snapshot and preflights every component: a refusal names every
// problem of every component, and nothing is written.
func planSwitch(ctx context.Context, env *Env, opts SwitchOptions, verb string) (*switchRun, error) {
	tm := report.TypeMeta("SwitchResult")
	res := &SwitchResult{Result: Result{APIVersion: tm.APIVersion, Kind: tm.Kind, Component: opts.Component, Namespace: opts.Namespace, Strategy: BlueGreen, Operation: verb, DryRun: env.dryRunText()}, Color: opts.Color, Components: []SwitchComponent{}}
	inv, err := loadSwitch(ctx, env, opts)
	if err != nil {
		return nil, err
	}
	comps, err := switchTargets(inv, opts)
	if err != nil {
		return nil, withCandidates(ctx, env.Client, err, inv.inv, opts.Keys, BlueGreen)
	}
	// The pods and the autoscalers, each only when needed, in parallel. Both read the
	// records: read them here, once, so the goroutines only read the cached copies.
	for _, c := range comps {
		_, _ = c.Release() // an error is reported by the preflight that reads it again
	}
	var podErr error
	var wg0 sync.WaitGroup
	wg0.Add(2)
	go func() { defer wg0.Done(); podErr = listTargetPods(ctx, env, inv, comps, opts) }()
	go func() { defer wg0.Done(); listSwitchAutoscalers(ctx, env, inv, comps, opts) }()
	wg0.Wait()
	if podErr != nil {
		return nil, podErr
	}

	var problems []string
	var plans []*switchPlan
	writes := false
	for _, c := range comps {
		p, probs := preflightSwitch(env, c, opts, inv)
		problems = append(problems, probs...)
		if p != nil {
			p.hpas, p.hpasListed, p.hpaErr = inv.hpas, inv.hpasListed, inv.hpaErr
			plans = append(plans, p)
		}
		writes = writes || len(probs) > 0 || p != nil && !p.noop
	}
	if inv.windowErr != nil && writes {
		// A switch to the live color writes nothing, so the window does not matter to it.
		problems = append([]string{inv.windowErr.Error()}, problems...)
	}
	if len(problems) > 0 {
		return nil, &PreflightError{Color: opts.Color, Problems: problems}
	}
	run := &switchRun{opts: opts, verb: verb, res: res, plans: plans}
	for _, p := range plans {
		if !p.noop {
			run.todo = append(run.todo, p)
		}
	}
	res.Planned = run.steps()
	return run, nil
}

// apply makes a planned switch: the smoke test of the target pods (a failure writes
// nothing), then per component one JSON patch that tests the old color and the release
// record as read, then at once the Event, the autoscalers moved and the verification of
// the EndpointSlices, then the smoke test through the Services.
func (run *switchRun) apply(ctx context.Context, env *Env) (*SwitchResult, error) {
	opts, verb, res, plans := run.opts, run.verb, run.res, run.plans
	var err error
	if err := smokeBeforeSwitch(ctx, env, opts, plans); err != nil {
		return nil, err
	}
	var todo []*switchPlan
	for _, p := range plans {
		res.Components = append(res.Components, *p.out)
		if !p.noop {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		res.Message = fmt.Sprintf("%s: nothing to do", describeTargets(plans))
		return res, nil
	}
	if len(todo) > 1 && env.Writer.Live() {
		// Several patches: find out before the first one whether the last can be sent.
		if err := canPatchServices(ctx, env, opts.Namespace); err != nil {
			return nil, err
		}
	}

	var done []*switchPlan
	for _, p := range todo {
		op := env.Writer.Operation(verb, p.c.LiveColor, p.value)
		if err := p.recordSwitch(env, verb, op, opts.record); err != nil {
			return nil, err
		}
		after, err := env.patchSelectorTo(ctx, p.c.Service, p.c.ColorKey, p.c.LiveColor, p.value, p.recRaw, p.nextRaw, op)
		if err != nil {
			undone := env.undoSwitches(ctx, done)
			return nil, fmt.Errorf("%w%s", err, undone)
		}
		if after != nil && opts.switched != nil && env.Writer.Live() {
			opts.switched(after)
		}
		p.out.Changed, res.Changed = env.Writer.Live(), env.Writer.Live()
		done = append(done, p)
		if env.Writer.Live() {
			env.report("service %s: selector %s=%s → %s", p.c.Name(), p.c.ColorKey, p.c.LiveColor, p.value)
		}
	}
	for i := range res.Components {
		for _, p := range todo {
			if p.c.Name() == res.Components[i].Component {
				res.Components[i] = *p.out
			}
		}
	}
	if !env.Writer.Live() {
		for _, p := range todo {
			env.retargetHPA(ctx, p, verb)
		}
		for i := range res.Components {
			for _, p := range todo {
				if p.c.Name() == res.Components[i].Component {
					res.Components[i] = *p.out
				}
			}
		}
		res.Message = fmt.Sprintf("dry run (%s): would switch %s", env.Writer.DryRun, describeSwitches(todo))
		return res, nil
	}

	// Record, move the HPA and verify at once: neither waits for the EndpointSlice controller.
	var wg sync.WaitGroup
	errs := make([]error, len(todo))
	for i, p := range todo {
		wg.Add(2)
		go func() {
			defer wg.Done()
			op := env.Writer.Operation(verb, p.c.LiveColor, p.value)
			env.warn(env.Writer.Event(ctx, env.Client, audit.Ref("Service", "v1", p.c.Service), corev1.EventTypeNormal, "Switched", op))
			env.retargetHPA(ctx, p, verb)
		}()
		go func() {
			defer wg.Done()
			n, err := verifyEndpoints(ctx, env, p.c.Service, p.expect, opts.VerifyTimeout)
			p.out.ReadyEndpoints = n
			p.out.Verified = err == nil
			errs[i] = err
		}()
	}
	wg.Wait()
	var verifyProblems []string
	for i, p := range todo {
		for j := range res.Components {
			if res.Components[j].Component == p.c.Name() {
				res.Components[j] = *p.out
			}
		}
		if errs[i] != nil {
			verifyProblems = append(verifyProblems, errs[i].Error())
		}
	}
	res.Message = fmt.Sprintf("switched %s; endpoints verified", describeSwitches(todo))
	if len(verifyProblems) > 0 {
		res.Message = fmt.Sprintf("switched %s, but the endpoints were not verified", describeSwitches(todo))
		return res, fmt.Errorf("switched %s (the switch stays), but: %s", describeSwitches(todo), strings.Join(verifyProblems, "; "))
	}
	err = smokeAfterSwitch(ctx, env, opts, todo)
	for _, p := range todo {
		for j := range res.Components {
			if res.Components[j].Component == p.c.Name() {
				res.Components[j].Smoke = p.out.Smoke
			}
		}
	}
	if err != nil {
		res.Message = fmt.Sprintf("switched %s, but the smoke test through the service failed", describeSwitches(todo))
		return res, fmt.Errorf("switched %s (the switch stays), but: %w", describeSwitches(todo), err)
	}
	return res, nil
}

// switchInventory is what a switch reads before it decides: one request per kind.
type switchInventory struct {
	inv       *Inventory
	namespace *corev1.Namespace
	windowErr error
	// pods are the pods listed for the preflight (podsListed: see listTargetPods).
	pods       []corev1.Pod
	podsListed bool
	// hpas are the namespace's autoscalers (hpasListed: see listSwitchAutoscalers).
	hpas       []autoscalingv2.HorizontalPodAutoscaler
	hpasListed bool
	hpaErr     error // the LIST failed: the switch goes on and warns after it
	// hashes, by Deployment name, is the pod-template-hash of a target's current template,
	// found when its status lags (see currentHash).
	hashes map[string]string
}

// loadSwitch reads the Service (or all Services), the Deployments and the namespace in
// parallel.
func loadSwitch(ctx context.Context, env *Env, opts SwitchOptions) (*switchInventory, error) {
	ns := opts.Namespace
	out := &switchInventory{inv: &Inventory{Namespace: ns}}
	var wg sync.WaitGroup
	var svcErr, depErr, nsErr error
	if held := opts.held; held != nil {
		// The caller's snapshot of the component: only the namespace is read.
		out.inv.Services = []corev1.Service{*held.Service}
		for _, d := range held.Deployments {
			out.inv.Deployments = append(out.inv.Deployments, *d)
		}
		out.namespace, nsErr = env.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		out.windowErr = windowOf(env, out.namespace, nsErr, ns)
		return out, nil
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		if opts.Component != "" {
			svc, err := env.Client.CoreV1().Services(ns).Get(ctx, opts.Component, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				svcErr = errServiceNotFound
			case err != nil:
				svcErr = fmt.Errorf("get service %s/%s: %w", ns, opts.Component, err)
			default:
				out.inv.Services = []corev1.Service{*svc}
			}
			return
		}
		list, err := env.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			svcErr = fmt.Errorf("list services in %s: %w", ns, err)
			return
		}
		out.inv.Services = list.Items
	}()
	go func() {
		defer wg.Done()
		list, err := env.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			depErr = fmt.Errorf("list deployments in %s: %w", ns, err)
			return
		}
		out.inv.Deployments = list.Items
	}()
	go func() {
		defer wg.Done()
		out.namespace, nsErr = env.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	}()
	wg.Wait()
	if svcErr == errServiceNotFound && depErr == nil {
		return nil, UnknownComponent(ctx, env.Client, ns, opts.Component, opts.Keys, out.inv.Deployments)
	}
	for _, err := range []error{svcErr, depErr} {
		if err != nil {
			return nil, err
		}
	}
	out.windowErr = windowOf(env, out.namespace, nsErr, ns)
	return out, nil
}

// windowOf is the deployment-window refusal of a namespace as read (nil when open).
func windowOf(env *Env, namespace *corev1.Namespace, nsErr error, ns string) error {
	switch {
	case nsErr != nil && env.Writer.OverrideWindow == "":
		return fmt.Errorf("cannot check the deployment window: get namespace %s: %v (grant get on namespaces, or pass --override-window=REASON)", ns, nsErr)
	case nsErr == nil:
		_, err := CheckNamespaceWindow(env, namespace)
		return err
	}
	env.report("deployment window of namespace %s cannot be read (%v): overridden: %s", ns, nsErr, env.Writer.OverrideWindow)
	return nil
}

// switchTargets picks the components to switch.
func switchTargets(s *switchInventory, opts SwitchOptions) ([]*Component, error) {
	comps := s.inv.Components(opts.Keys)
	if opts.Component != "" {
		if len(s.inv.Services) == 1 {
			c := Recognise(&s.inv.Services[0], s.inv.Deployments, opts.Keys)
			if c.Strategy != BlueGreen {
				return nil, notBlueGreenError(c, opts.Keys)
			}
			return []*Component{c}, nil
		}
	}
	if opts.All {
		var out []*Component
		for _, c := range comps {
			if c.Strategy == BlueGreen {
				out = append(out, c)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no blue-green component in namespace %s (components: %s)", s.inv.Namespace, names(comps, nil))
		}
		return out, nil
	}
	c, err := Select(comps, "", BlueGreen)
	if err != nil {
		return nil, err
	}
	return []*Component{c}, nil
}

// notBlueGreenError explains the blue-green convention to a Service that lacks it.
func notBlueGreenError(c *Component, keys Keys) error {
	key := keys.ColorKey
	if key == "" {
		key = c.Service.Annotations[ColorKeyAnnotation]
	}
	if key == "" {
		key = DefaultColorKey
	}
	return &ComponentError{Name: c.Name(), msg: fmt.Sprintf("service %s/%s is not blue-green: its selector %s has no color key %q; a blue-green service selects its live color with a label such as %s=blue that each color's Deployment sets in its pod template (if it uses another key, pass --color-key KEY or annotate the service with %s=KEY); it is %s",
		c.Namespace(), c.Name(), orNoneText(labels.FormatLabels(c.Service.Spec.Selector)), key, key, ColorKeyAnnotation, c.Strategy)}
}

// listTargetPods lists the pods the switched selectors will select, only when a switch
// needs them: for the smoke test (it calls each pod), or to name the pods that are not
// ready when a target Deployment's status says it is not fully available. A switch to a
// fully available target judges it by the Deployment (its status counts the Ready pods, a
// pod is Ready only after its init containers completed, and every pod runs the template,
// on which the targetPort is checked) and verifies the endpoints by the pods' names.
// With one component, one LIST by that selector; with several, one LIST of the namespace.
func listTargetPods(ctx context.Context, env *Env, s *switchInventory, comps []*Component, opts SwitchOptions) error {
	var sels []string
	for _, c := range comps {
		target, value, err := c.ColorDeployment(opts.Color, s.inv.Deployments)
		rec, rerr := c.Release()
		if err != nil || rerr != nil || value == c.LiveColor && (rec.Live == "" || rec.Live == value) {
			continue // preflight reports it; a no-op needs no pods
		}
		why, lagging := availabilityProblem(c, target)
		if opts.Smoke.PathFor(c.Service) != "" || why != "" {
			sels = append(sels, labels.SelectorFromSet(switchedSelector(c, value)).String())
		}
		if lagging {
			hash, err := currentHash(ctx, env, rec, target, value, opts)
			if err != nil {
				return err
			}
			if s.hashes == nil {
				s.hashes = map[string]string{}
			}
			s.hashes[target.Name] = hash
		}
	}
	if len(sels) == 0 {
		return nil
	}
	sel := ""
	if len(comps) == 1 {
		sel = sels[0]
	}
	list, err := env.Client.CoreV1().Pods(s.inv.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list pods in %s: %w", s.inv.Namespace, err)
	}
	s.pods, s.podsListed = list.Items, true
	return nil
}

// currentHash is the pod-template-hash of target's current template, for a target whose
// status lags behind its pods: the one the caller waited for, else the release record's
// when it holds this template, else that of the Deployment's new ReplicaSet (one LIST;
// "" when the controller has not made it yet).
func currentHash(ctx context.Context, env *Env, rec *Release, target *appsv1.Deployment, value string, opts SwitchOptions) (string, error) {
	if h := opts.readyHash[target.Name]; h != "" {
		return h, nil
	}
	if w, ok := rec.Workloads[value]; ok && w.PodTemplateHash != "" && w.UID == target.UID && w.Template == templateDigest(&target.Spec.Template) {
		return w.PodTemplateHash, nil
	}
	return newReplicaSetHash(ctx, env.Client, target)
}

// listSwitchAutoscalers lists the namespace's HorizontalPodAutoscalers (one LIST) when a
// switch may have one to move: the release record never saw them, or saw one scale the
// color traffic leaves. A record that saw none (the last switch or deploy listed them)
// saves the request; autoscale resets what the record saw, so an HPA it creates is found.
// A blue-green deploy lists them again when it finishes (deployAutoscalers), so that an HPA
// created with kubectl after the last switch is seen by the switch to the release it
// deployed; docs/release-state.md says what is still not seen.
//
// A failed LIST (e.g. no right to list autoscalers) does not stop the switch, as moving an
// autoscaler never did: it is kept in s.hpaErr and becomes the switch's warning.
func listSwitchAutoscalers(ctx context.Context, env *Env, s *switchInventory, comps []*Component, opts SwitchOptions) {
	need := false
	for _, c := range comps {
		_, value, err := c.ColorDeployment(opts.Color, s.inv.Deployments)
		rec, rerr := c.Release()
		if err != nil || rerr != nil || value == c.LiveColor && (rec.Live == "" || rec.Live == value) {
			continue
		}
		need = need || rec.Autoscalers == nil || rec.Autoscalers.ByColor[c.LiveColor] != ""
	}
	if !need {
		return
	}
	list, err := env.Client.AutoscalingV2().HorizontalPodAutoscalers(s.inv.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		s.hpaErr = fmt.Errorf("list horizontalpodautoscalers in %s: %w", s.inv.Namespace, err)
		return
	}
	s.hpas, s.hpasListed = list.Items, true
}

// targetHash is the pod-template-hash of the target's pods: from the pods listed, else
// from the release record when it holds the target's current template (the deploy that
// made it recorded the hash it waited for), else "" (unknown; the template digest still
// identifies the release).
func (p *switchPlan) targetHash() string {
	if h := podsHash(p.pods); h != "" {
		return h
	}
	if w, ok := p.prev.Workloads[p.value]; ok && w.UID == p.target.UID && w.Template == templateDigest(&p.target.Spec.Template) {
		return w.PodTemplateHash
	}
	return ""
}

// autoscalerSight is what the switch saw of the component's autoscalers, after it moved
// those of the color traffic leaves to the target.
func (p *switchPlan) autoscalerSight(env *Env, from string) *AutoscalerSight {
	return autoscalerSightOf(env, p.c, p.hpas, from, p.value)
}

// autoscalerSightOf is which of hpas scale which of c's colors, with those of color from
// counted on color to (the switch moves them; from "" for none).
func autoscalerSightOf(env *Env, c *Component, hpas []autoscalingv2.HorizontalPodAutoscaler, from, to string) *AutoscalerSight {
	sight := &AutoscalerSight{At: env.now().UTC().Truncate(time.Second)}
	for i := range hpas {
		ref := hpas[i].Spec.ScaleTargetRef
		if ref.Kind != "Deployment" {
			continue
		}
		for color, d := range c.Colors {
			if d.Name != ref.Name {
				continue
			}
			if from != "" && color == from {
				color = to
			}
			if sight.ByColor == nil {
				sight.ByColor = map[string]string{}
			}
			sight.ByColor[color] = hpas[i].Name
		}
	}
	return sight
}

func switchedSelector(c *Component, value string) map[string]string {
	sel := withoutKey(c.Service.Spec.Selector, c.ColorKey)
	sel[c.ColorKey] = value
	return sel
}

// preflightSwitch checks one component; problems are complete sentences naming the object
// and the fix.
func preflightSwitch(env *Env, c *Component, opts SwitchOptions, s *switchInventory) (*switchPlan, []string) {
	target, value, err := c.ColorDeployment(opts.Color, s.inv.Deployments)
	if err != nil {
		return nil, []string{err.Error()}
	}
	p := &switchPlan{c: c, target: target, value: value, ready: map[string]bool{}, recRaw: c.Service.Annotations[ReleaseAnnotation]}
	p.out = &SwitchComponent{Component: c.Name(), From: c.LiveColor, To: value, Deployment: target.Name, Changes: []Change{}}
	rec, err := c.Release()
	if err != nil {
		return nil, []string{err.Error()}
	}
	p.prev = rec
	if value == c.LiveColor && (rec.Live == "" || rec.Live == value) {
		p.noop = true
		return p, nil
	}
	if value != c.LiveColor {
		p.out.Changes = append(p.out.Changes, Change{Object: "service/" + c.Name(), Field: "spec.selector." + c.ColorKey, From: c.LiveColor, To: value})
	}
	var problems []string
	if owner := GitOpsOwner(c.Service); owner != "" {
		if opts.Force {
			msg := fmt.Sprintf("service %s is managed by %s, which may revert the switch on its next sync: update the color in Git too", c.Name(), owner)
			p.out.Warnings = append(p.out.Warnings, msg)
			env.report("warning: %s", msg)
		} else {
			problems = append(problems, fmt.Sprintf("%s: service %s is managed by %s, whose self-heal would revert the switch: change the color in Git, or pass --force", c.Name(), c.Name(), owner))
		}
	}
	desired := desiredReplicas(target)
	why, lagging := availabilityProblem(c, target)
	sel := labels.SelectorFromSet(switchedSelector(c, value))
	p.selector = sel
	if !s.podsListed {
		if why != "" {
			problems = append(problems, why)
		}
		// The Deployment is fully available (listTargetPods lists the pods otherwise): its
		// pods run its template, so the template answers for them.
		p.expect = targetPods{deployment: target.Name, count: int(desired)}
		if !sel.Matches(labels.Set(target.Spec.Template.Labels)) {
			problems = append(problems, fmt.Sprintf("%s: the pod template of deployment %s lacks the labels %s that the service will select: check its pod template labels", c.Name(), target.Name, sel))
		}
		problems = append(problems, targetPortProblems(c, "the pod template of deployment "+target.Name, &corev1.Pod{Spec: target.Spec.Template.Spec}, target.Name)...)
		if len(problems) > 0 {
			return nil, problems
		}
		return p, nil
	}
	for i := range s.pods {
		pod := &s.pods[i]
		if pod.DeletionTimestamp != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		p.pods = append(p.pods, *pod)
	}
	if caughtUp := lagging && podsCaughtUp(p.pods, s.hashes[target.Name], desired); why != "" && !caughtUp {
		problems = append(problems, why)
	}
	var notReady []string
	for i := range p.pods {
		pod := &p.pods[i]
		if why := podNotReadyReason(pod); why != "" {
			notReady = append(notReady, fmt.Sprintf("%s (%s)", pod.Name, why))
			continue
		}
		p.ready[pod.Name] = true
	}
	p.expect = targetPods{names: p.ready, count: len(p.ready)}
	if len(notReady) > 0 {
		problems = append(problems, fmt.Sprintf("%s: %d pods selected by %s are not ready: %s (`kubectl feastflow diagnose deploy/%s`)", c.Name(), len(notReady), sel, strings.Join(notReady, ", "), target.Name))
	} else if len(p.pods) == 0 && desired >= 1 {
		problems = append(problems, fmt.Sprintf("%s: no running pod has the labels %s that the service will select: check deployment %s's pod template labels", c.Name(), sel, target.Name))
	}
	for i := range p.pods {
		if probs := targetPortProblems(c, "pod "+p.pods[i].Name, &p.pods[i], target.Name); len(probs) > 0 {
			problems = append(problems, probs...)
			break
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return p, nil
}

// availabilityProblem is why a switch's target Deployment cannot take traffic yet, from
// its status, or "" when its latest spec is observed and all of its desired pods (at least
// one) are updated, ready and available, with no other pods. lagging is set when the
// status alone is short (not yet observed, or counts below the desired replicas): the
// controller updates it after the pods turn Ready, so the pods themselves may answer
// (podsCaughtUp) — the waits end on those pods, and the switch must agree with them.
func availabilityProblem(c *Component, target *appsv1.Deployment) (why string, lagging bool) {
	name := fmt.Sprintf("%s: deployment %s", c.Name(), target.Name)
	desired := desiredReplicas(target)
	st := target.Status
	switch {
	case target.DeletionTimestamp != nil:
		return name + " is being deleted", false
	case desired < 1:
		return fmt.Sprintf("%s has 0 replicas: deploy it first (`kubectl feastflow deploy %s --image ...`) or scale it up", name, c.Name()), false
	case st.ObservedGeneration < target.Generation:
		return fmt.Sprintf("%s: its latest spec (generation %d) is not yet observed by the controller (observed %d): wait for the rollout (`kubectl rollout status deploy/%s`)", name, target.Generation, st.ObservedGeneration, target.Name), true
	case st.UpdatedReplicas != desired || st.ReadyReplicas != desired || st.AvailableReplicas != desired || st.Replicas != desired:
		return fmt.Sprintf("%s is not fully available: desired %d, updated %d, ready %d, available %d, total %d: wait for it (`kubectl feastflow status %s`) or fix it (`kubectl feastflow diagnose deploy/%s`)", name, desired, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, st.Replicas, c.Name(), target.Name), true
	}
	return "", false
}

// podsCaughtUp reports whether the pods a switch will select show the target available
// although its status does not yet: every one (not being deleted) is of the current
// template's pod-template-hash and Ready, and there are at least the desired replicas.
// A pod of another template (a rollout in progress) keeps the status's verdict.
func podsCaughtUp(pods []corev1.Pod, hash string, desired int32) bool {
	if hash == "" || len(pods) < int(desired) {
		return false
	}
	for i := range pods {
		if pods[i].Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || podNotReadyReason(&pods[i]) != "" {
			return false
		}
	}
	return true
}

// targetPortProblems names each Service port whose targetPort the pod (or a pod template
// in its place) does not declare.
func targetPortProblems(c *Component, what string, pod *corev1.Pod, deployment string) []string {
	var problems []string
	for _, port := range c.Service.Spec.Ports {
		if !targetPortResolves(port, pod) {
			problems = append(problems, fmt.Sprintf("%s: the service port %s targets %s, which %s does not declare (its ports: %s): fix the targetPort or the container ports of deployment %s",
				c.Name(), portName(port), targetPortText(port), what, podPortsText(pod), deployment))
		}
	}
	return problems
}

// targetPortResolves reports whether a Service port's targetPort lands on the pod: a name
// must be a declared container port of the same protocol; a number must be declared when
// the pod declares any port (an undeclared number is reachable, so a pod declaring none
// passes).
func targetPortResolves(port corev1.ServicePort, pod *corev1.Pod) bool {
	proto := port.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	tp := port.TargetPort
	declared := false
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			declared = true
			cpProto := cp.Protocol
			if cpProto == "" {
				cpProto = corev1.ProtocolTCP
			}
			if cpProto != proto {
				continue
			}
			switch {
			case tp.Type == 1 && tp.StrVal != "" && cp.Name == tp.StrVal:
				return true
			case tp.Type == 0 && tp.IntVal != 0 && cp.ContainerPort == tp.IntVal:
				return true
			case tp.Type == 0 && tp.IntVal == 0 && cp.ContainerPort == port.Port:
				return true
			}
		}
	}
	if tp.Type == 1 && tp.StrVal != "" {
		return false
	}
	return !declared
}

func portName(p corev1.ServicePort) string {
	if p.Name != "" {
		return fmt.Sprintf("%s (%d)", p.Name, p.Port)
	}
	return fmt.Sprint(p.Port)
}

func targetPortText(p corev1.ServicePort) string {
	if p.TargetPort.Type == 1 {
		return fmt.Sprintf("port name %q", p.TargetPort.StrVal)
	}
	if p.TargetPort.IntVal == 0 {
		return fmt.Sprintf("port %d", p.Port)
	}
	return fmt.Sprintf("port %d", p.TargetPort.IntVal)
}

func podPortsText(pod *corev1.Pod) string {
	var parts []string
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name != "" {
				parts = append(parts, fmt.Sprintf("%s=%d", cp.Name, cp.ContainerPort))
			} else {
				parts = append(parts, fmt.Sprint(cp.ContainerPort))
			}
		}
	}
	return orNoneList(parts)
}

// GitOpsOwner names the GitOps controller that manages an object, from the labels and
// annotations Argo CD and Flux put on what they apply, or "" when none does.
func GitOpsOwner(obj metav1.Object) string {
	ann, lab := obj.GetAnnotations(), obj.GetLabels()
	switch {
	case ann["argocd.argoproj.io/tracking-id"] != "":
		return fmt.Sprintf("Argo CD (annotation argocd.argoproj.io/tracking-id=%s)", ann["argocd.argoproj.io/tracking-id"])
	case lab["argocd.argoproj.io/instance"] != "":
		return fmt.Sprintf("Argo CD (label argocd.argoproj.io/instance=%s)", lab["argocd.argoproj.io/instance"])
	case lab["kustomize.toolkit.fluxcd.io/name"] != "":
		return fmt.Sprintf("Flux (label kustomize.toolkit.fluxcd.io/name=%s)", lab["kustomize.toolkit.fluxcd.io/name"])
	case lab["helm.toolkit.fluxcd.io/name"] != "":
		return fmt.Sprintf("Flux (label helm.toolkit.fluxcd.io/name=%s)", lab["helm.toolkit.fluxcd.io/name"])
	}
	argoManaged := false
	for _, mf := range obj.GetManagedFields() {
		if strings.HasPrefix(mf.Manager, "argocd") {
			argoManaged = true
		}
	}
	for k := range ann {
		if strings.HasPrefix(k, "argocd.argoproj.io/") {
			argoManaged = true
		}
	}
	if inst := lab["app.kubernetes.io/instance"]; inst != "" && argoManaged {
		return fmt.Sprintf("Argo CD (label app.kubernetes.io/instance=%s)", inst)
	}
	return ""
}

// canPatchServices asks the apiserver whether the user may patch Services in the
// namespace (one SelfSubjectAccessReview), so that a switch of several components fails
// before its first write instead of half-way.
func canPatchServices(ctx context.Context, env *Env, ns string) error {
	review, err := env.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: "patch", Resource: "services",
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil // the patch itself will tell
	}
	if !review.Status.Allowed {
		return fmt.Errorf("switch refused, nothing was changed: missing permission `patch services` in namespace %s; ask for it (see deploy/rbac/)", ns)
	}
	return nil
}

// recordSwitch computes the release record the switch writes: live the target, previous
// the color traffic leaves (or, when the selector was already moved by hand, the color the
// record had live), phase switched (rolled-back for a rollback), the target's identity,
// template and pod-template-hash (from the pods the preflight listed), the time.
func (p *switchPlan) recordSwitch(env *Env, verb string, op audit.Operation, amend func(*Release)) error {
	c := p.c
	next := p.prev.clone()
	next.Strategy = BlueGreen
	from := c.LiveColor
	if from == p.value {
		from = p.prev.Live // the selector was moved outside the plugin: record that switch
	}
	next.Live, next.Previous = p.value, from
	if next.Pending == p.value || next.Pending == from {
		next.Pending = ""
	}
	now := env.now().UTC().Truncate(time.Second)
	next.SwitchedAt = &now
	next.Phase, next.Operation = PhaseSwitched, nil
	if verb == verbRollback {
		next.Phase = PhaseRolledBack
	}
	next.recordWorkload(env, p.value, p.target, p.targetHash())
	if old := c.Colors[from]; old != nil {
		if w, ok := next.Workloads[from]; !ok || w.UID != old.UID {
			next.recordWorkload(env, from, old, "")
		}
	}
	if p.hpasListed {
		next.Autoscalers = p.autoscalerSight(env, c.LiveColor)
	}
	last := op
	next.Last = &last
	next.MigratedFrom = nil
	if amend != nil {
		amend(next)
	}
	raw, err := next.encode()
	if err != nil {
		return err
	}
	p.next, p.nextRaw = next, raw
	p.out.Changes = append(p.out.Changes, Change{Object: "service/" + c.Name(), Field: "metadata.annotations." + ReleaseAnnotation, From: describeRelease(p.prev), To: describeRelease(next)})
	return nil
}

// patchSelector sends the switch: one JSON patch that tests the old color and the release
// record as read (or, with none, the resourceVersion), replaces the color, stores the new
// record and the operation and removes the older annotations the record replaces, so a
// concurrent switch or release operation fails on the test instead of overwriting.
func (e *Env) patchSelector(ctx context.Context, svc *corev1.Service, key, from, to, wantRecord, newRecord string, op audit.Operation) error {
	_, err := e.patchSelectorTo(ctx, svc, key, from, to, wantRecord, newRecord, op)
	return err
}

// patchSelectorTo is patchSelector returning the Service as the apiserver stored it (nil
// in a client dry run).
func (e *Env) patchSelectorTo(ctx context.Context, svc *corev1.Service, key, from, to, wantRecord, newRecord string, op audit.Operation) (*corev1.Service, error) {
	esc := jsonPointerEscape
	ops := []map[string]any{
		{"op": "test", "path": "/spec/selector/" + esc(key), "value": from},
		{"op": "replace", "path": "/spec/selector/" + esc(key), "value": to},
	}
	switch {
	case wantRecord != "":
		ops = append(ops, map[string]any{"op": "test", "path": "/metadata/annotations/" + esc(ReleaseAnnotation), "value": wantRecord})
	default:
		ops = append(ops, map[string]any{"op": "test", "path": "/metadata/resourceVersion", "value": svc.ResourceVersion})
	}
	if svc.Annotations == nil {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations", "value": map[string]string{}})
	}
	for _, k := range legacyAnnotations {
		if _, ok := svc.Annotations[k]; ok {
			ops = append(ops, map[string]any{"op": "remove", "path": "/metadata/annotations/" + esc(k)})
		}
	}
	ops = append(ops,
		map[string]any{"op": "add", "path": "/metadata/annotations/" + esc(ReleaseAnnotation), "value": newRecord},
		map[string]any{"op": "add", "path": "/metadata/annotations/" + esc(audit.LastOperationAnnotation), "value": op.Annotation()})
	if e.Writer.Client() {
		return nil, nil
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encode patch of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	out, err := e.Client.CoreV1().Services(svc.Namespace).Patch(ctx, svc.Name, types.JSONPatchType, body, e.Writer.PatchOptions())
	if err != nil {
		werr := writeError("patch", "service", svc.Namespace, svc.Name, err)
		if ce, ok := werr.(*ConflictError); ok {
			return nil, fmt.Errorf("%w (expected %s=%s and the release record as read: another switch, release operation or edit got there first%s)", ce, key, from, e.whoChanged(ctx, svc, key))
		}
		return nil, werr
	}
	return out, nil
}

// undoSwitches switches back the components already switched when a later one failed,
// and says what it did for the error message.
func (e *Env) undoSwitches(ctx context.Context, done []*switchPlan) string {
	if len(done) == 0 {
		return ""
	}
	var back, failed []string
	for i := len(done) - 1; i >= 0; i-- {
		p := done[i]
		op := e.Writer.Operation("switch-undo", p.value, p.c.LiveColor)
		after := p.c.Service.DeepCopy()
		after.Annotations = map[string]string{ReleaseAnnotation: p.nextRaw}
		orig, err := p.prev.encode()
		if err == nil {
			err = e.patchSelector(ctx, after, p.c.ColorKey, p.value, p.c.LiveColor, p.nextRaw, orig, op)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", p.c.Name(), err))
			continue
		}
		p.out.RolledBack = true
		back = append(back, fmt.Sprintf("%s back to %s", p.c.Name(), p.c.LiveColor))
	}
	msg := ""
	if len(back) > 0 {
		msg += "; switched " + strings.Join(back, ", ")
	}
	if len(failed) > 0 {
		msg += "; could NOT switch back " + strings.Join(failed, ", ") + ": fix by hand with `kubectl feastflow switch`"
	}
	return msg
}

func describeSwitches(ps []*switchPlan) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s from %s to %s", p.c.Name(), p.c.LiveColor, p.value)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func describeTargets(ps []*switchPlan) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s is already live on %s", p.c.Name(), p.value)
	}
	return strings.Join(parts, ", ")
}

// whoChanged reads the Service again after a failed precondition to say what it selects
// now and who recorded the last operation: one request, only on this error path.
func (e *Env) whoChanged(ctx context.Context, svc *corev1.Service, key string) string {
	now, err := e.Client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	msg := fmt.Sprintf("; it now selects %s=%s", key, now.Spec.Selector[key])
	if op, ok := audit.ParseOperation(now.Annotations); ok && op.Verb != "" {
		msg += fmt.Sprintf(", last operation %s", op.Message())
	}
	return msg
}

// retargetHPA moves the HorizontalPodAutoscaler of the color traffic left onto the color
// it went to (RetargetAutoscaler), so that autoscaling follows the traffic. The switch
// itself is done: a failure is a warning on the component, not an error.
func (e *Env) retargetHPA(ctx context.Context, p *switchPlan, verb string) {
	from := p.c.Colors[p.c.LiveColor]
	if from == nil {
		return
	}
	var changes []Change
	err := p.hpaErr
	switch {
	case err != nil:
	case !p.hpasListed:
		return // the release record saw no autoscaler on the color traffic left
	default:
		changes, err = retargetAutoscalers(ctx, e, p.hpas, from, p.target, verb)
	}
	p.out.Changes = append(p.out.Changes, changes...)
	if err != nil {
		msg := fmt.Sprintf("the autoscaler of %s still targets %s: %v (move it with `kubectl feastflow autoscale`)", p.c.Name(), from.Name, err)
		p.out.Warnings = append(p.out.Warnings, msg)
		e.report("warning: %s", msg)
	}
}
