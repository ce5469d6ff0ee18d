package strategy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Kind is a component's release strategy.
type Kind string

// The strategies PRODUCT.md §1 recognises.
const (
	Rolling   Kind = "rolling"
	Recreate  Kind = "recreate"
	BlueGreen Kind = "blue-green"
	Canary    Kind = "canary"
	// Unknown is a Service that reaches no Deployment, or several without a convention.
	Unknown Kind = "unknown"
)

// Annotations and default keys of the app model.
const (
	// ColorKeyAnnotation on a Service overrides the blue-green color key.
	ColorKeyAnnotation = "feastflow.dev/color-key"
	// CanaryStepsAnnotation on a Service overrides the canary steps, e.g. "10,25,50,100".
	CanaryStepsAnnotation = "feastflow.dev/canary-steps"
	// PreviousColorAnnotation on a blue-green Service records the color before the last switch.
	PreviousColorAnnotation = "feastflow.dev/previous-color"
	// CanaryWeightAnnotation on a canary Service records the weight (percent) being set.
	CanaryWeightAnnotation = "feastflow.dev/canary-weight"
	// DefaultColorKey is the default blue-green label key.
	DefaultColorKey = "version"
	// DefaultTrackKey is the default canary label key.
	DefaultTrackKey = "track"
	// TrackStable and TrackCanary are the canary track values.
	TrackStable = "stable"
	TrackCanary = "canary"
)

// Keys are the label keys that recognise strategies; empty fields take the defaults (and
// the Service's annotation for the color key).
type Keys struct {
	ColorKey string
	TrackKey string
}

// Component is one Service plus the Deployments its selector can reach.
type Component struct {
	Service  *corev1.Service
	Strategy Kind
	// Deployments are all Deployments the component reaches, sorted by name.
	Deployments []*appsv1.Deployment

	// ColorKey, LiveColor and Colors are set for blue-green components. Colors maps each
	// color value to its Deployment.
	ColorKey  string
	LiveColor string
	Colors    map[string]*appsv1.Deployment

	// TrackKey, Stable and Canary are set for canary components (Canary may be nil before
	// the first deploy).
	TrackKey string
	Stable   *appsv1.Deployment
	Canary   *appsv1.Deployment

	// Deployment is the single Deployment of a rolling or recreate component.
	Deployment *appsv1.Deployment

	// StatefulSets and DaemonSets are the other workloads the selector reaches, sorted by
	// name (workloads.go recognises them).
	StatefulSets []*appsv1.StatefulSet
	DaemonSets   []*appsv1.DaemonSet

	// rec is the release record read from Service (at resourceVersion recRV), or the one
	// this run last wrote.
	rec   *Release
	recRV string
}

// Release is the component's recorded release state (ReleaseAnnotation on its Service,
// or the record migrated from the older annotations), read once per version of the
// Service.
func (c *Component) Release() (*Release, error) {
	if c.rec != nil && c.recRV == c.Service.ResourceVersion {
		return c.rec, nil
	}
	rec, err := ReadRelease(c)
	if err != nil {
		return nil, err
	}
	c.rec, c.recRV = rec, c.Service.ResourceVersion
	return rec, nil
}

// setRelease makes rec the component's record (after a write, or as planned in a dry run).
func (c *Component) setRelease(rec *Release) {
	c.rec, c.recRV = rec, c.Service.ResourceVersion
}

// Name is the component's name: its Service's.
func (c *Component) Name() string { return c.Service.Name }

// Namespace is the component's namespace.
func (c *Component) Namespace() string { return c.Service.Namespace }

// ColorNames returns the component's colors, sorted.
func (c *Component) ColorNames() []string {
	names := make([]string, 0, len(c.Colors))
	for k := range c.Colors {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// IdleColors returns the colors that do not take traffic, sorted.
func (c *Component) IdleColors() []string {
	var idle []string
	for _, k := range c.ColorNames() {
		if k != c.LiveColor {
			idle = append(idle, k)
		}
	}
	return idle
}

// ServingDeployment is the Deployment that takes traffic: the live color, the stable track
// or the single Deployment.
func (c *Component) ServingDeployment() *appsv1.Deployment {
	if r := releaserFor(c); r != nil {
		return r.serving(c)
	}
	return c.Deployment
}

// Inventory is one namespace's Services and workloads, listed once each.
type Inventory struct {
	Namespace    string
	Services     []corev1.Service
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
}

// List lists the namespace's Services and Deployments: one LIST each.
func List(ctx context.Context, client kubernetes.Interface, namespace string) (*Inventory, error) {
	svcs, err := client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services in %s: %w", namespace, err)
	}
	deps, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list deployments in %s: %w", namespace, err)
	}
	w, err := listWorkloads(ctx, client, namespace)
	if err != nil {
		return nil, err
	}
	return &Inventory{Namespace: namespace, Services: svcs.Items, Deployments: deps.Items, StatefulSets: w.StatefulSets, DaemonSets: w.DaemonSets}, nil
}

// Load gets one Service and lists the namespace's Deployments (two requests) and
// recognises the component.
func Load(ctx context.Context, client kubernetes.Interface, namespace, name string, keys Keys) (*Component, error) {
	svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("component %q not found: no service %s/%s (components are Services; list them with `kubectl feastflow status`)", name, namespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get service %s/%s: %w", namespace, name, err)
	}
	deps, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list deployments in %s: %w", namespace, err)
	}
	c := Recognise(svc, deps.Items, keys)
	if err := loadWorkloads(ctx, client, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Recognise recognises one Service of the inventory with its Deployments, StatefulSets
// and DaemonSets.
func (inv *Inventory) Recognise(svc *corev1.Service, keys Keys) *Component {
	c := Recognise(svc, inv.Deployments, keys)
	recogniseWorkloads(c, inv.StatefulSets, inv.DaemonSets)
	return c
}

// Components recognises every Service of the inventory that reaches at least one
// workload, sorted by name.
func (inv *Inventory) Components(keys Keys) []*Component {
	var out []*Component
	for i := range inv.Services {
		c := inv.Recognise(&inv.Services[i], keys)
		if c.hasWorkloads() {
			out = append(out, c)
		}
	}
	return out
}

// Recognise decides a Service's strategy from its selector and the Deployments:
//   - blue-green when the selector contains the color key: each Deployment whose template
//     matches the selector without that key and carries the key is a color;
//   - canary when the selector lacks the track key and two reached Deployments are tracked
//     stable and canary (by label, or by the names <service>-stable / <service>-canary);
//   - rolling (or recreate, by the Deployment's strategy) when it reaches exactly one.
func Recognise(svc *corev1.Service, deployments []appsv1.Deployment, keys Keys) *Component {
	c := &Component{Service: svc, Strategy: Unknown}
	colorKey := keys.ColorKey
	if colorKey == "" {
		colorKey = svc.Annotations[ColorKeyAnnotation]
	}
	if colorKey == "" {
		colorKey = DefaultColorKey
	}
	trackKey := keys.TrackKey
	if trackKey == "" {
		trackKey = DefaultTrackKey
	}
	if len(svc.Spec.Selector) == 0 {
		return c // a Service without a selector has hand-managed endpoints
	}
	if live, ok := svc.Spec.Selector[colorKey]; ok {
		c.Strategy, c.ColorKey, c.LiveColor = BlueGreen, colorKey, live
		c.Colors = map[string]*appsv1.Deployment{}
		base := withoutKey(svc.Spec.Selector, colorKey)
		for i := range deployments {
			d := &deployments[i]
			color, has := d.Spec.Template.Labels[colorKey]
			if has && labels.SelectorFromSet(base).Matches(labels.Set(d.Spec.Template.Labels)) {
				c.Deployments = append(c.Deployments, d)
				if prev, dup := c.Colors[color]; !dup || d.Name < prev.Name {
					c.Colors[color] = d
				}
			}
		}
		sortDeployments(c.Deployments)
		return c
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for i := range deployments {
		d := &deployments[i]
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			c.Deployments = append(c.Deployments, d)
		}
	}
	sortDeployments(c.Deployments)
	c.TrackKey = trackKey
	for _, d := range c.Deployments {
		switch {
		case d.Spec.Template.Labels[trackKey] == TrackStable || (d.Spec.Template.Labels[trackKey] == "" && d.Name == svc.Name+"-"+TrackStable):
			c.Stable = d
		case d.Spec.Template.Labels[trackKey] == TrackCanary || (d.Spec.Template.Labels[trackKey] == "" && d.Name == svc.Name+"-"+TrackCanary):
			c.Canary = d
		}
	}
	switch {
	case c.Stable != nil && len(c.Deployments) <= 2:
		c.Strategy = Canary
	case len(c.Deployments) == 1:
		c.Stable, c.Canary, c.TrackKey = nil, nil, ""
		c.Deployment = c.Deployments[0]
		c.Strategy = Rolling
		if c.Deployment.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			c.Strategy = Recreate
		}
	default:
		c.Stable, c.Canary, c.TrackKey = nil, nil, ""
	}
	return c
}

func withoutKey(set map[string]string, key string) map[string]string {
	out := make(map[string]string, len(set))
	for k, v := range set {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func sortDeployments(ds []*appsv1.Deployment) {
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
}

// Select picks the component to act on: the named one, or, when name is empty, the only
// component of the namespace whose strategy is one of want (any strategy when want is
// empty). The error lists the candidates.
func Select(components []*Component, name string, want ...Kind) (*Component, error) {
	if name != "" {
		for _, c := range components {
			if c.Name() == name {
				if len(want) > 0 && !kindIn(c.Strategy, want) {
					return nil, WrongStrategyError(c, want...)
				}
				return c, nil
			}
		}
		return nil, fmt.Errorf("component %q not found: no service of that name reaches a deployment (components: %s)", name, names(components, nil))
	}
	var candidates []*Component
	for _, c := range components {
		if len(want) == 0 || kindIn(c.Strategy, want) {
			candidates = append(candidates, c)
		}
	}
	switch len(candidates) {
	case 1:
		return candidates[0], nil
	case 0:
		return nil, fmt.Errorf("no %s component in this namespace (components: %s): name one, or use -n", kindsText(want), names(components, nil))
	}
	return nil, fmt.Errorf("%d %s components in this namespace, name one: %s (or use --all where the verb has it)", len(candidates), kindsText(want), names(candidates, nil))
}

// WrongStrategyError says a component is not of a strategy the verb works on.
func WrongStrategyError(c *Component, want ...Kind) error {
	return fmt.Errorf("component %s is %s, not %s%s", c.Name(), c.Strategy, kindsText(want), strategyHint(c))
}

func strategyHint(c *Component) string {
	switch c.Strategy {
	case Unknown:
		return fmt.Sprintf(" (its selector %s reaches %d deployments: a blue-green service selects the color key %q; a canary service reaches deployments labelled %s=stable and %s=canary)", labels.FormatLabels(c.Service.Spec.Selector), len(c.Deployments), DefaultColorKey, DefaultTrackKey, DefaultTrackKey)
	case Rolling, Recreate:
		return fmt.Sprintf(" (for blue-green, select a color label such as %s=blue in the service, or pass --color-key)", DefaultColorKey)
	}
	return ""
}

func kindIn(k Kind, want []Kind) bool {
	for _, w := range want {
		if k == w {
			return true
		}
	}
	return false
}

func kindsText(want []Kind) string {
	if len(want) == 0 {
		return "release"
	}
	parts := make([]string, len(want))
	for i, w := range want {
		parts[i] = string(w)
	}
	return strings.Join(parts, " or ")
}

func names(components []*Component, _ []Kind) string {
	if len(components) == 0 {
		return "none"
	}
	parts := make([]string, len(components))
	for i, c := range components {
		parts[i] = fmt.Sprintf("%s (%s)", c.Name(), c.Strategy)
	}
	return strings.Join(parts, ", ")
}

// ColorDeployment resolves a color argument: the Deployment carrying that color value, or
// else the Deployment named <component>-<color> (whose label value is then switched to).
// The error lists the colors found.
func (c *Component) ColorDeployment(color string, deployments []appsv1.Deployment) (*appsv1.Deployment, string, error) {
	if d, ok := c.Colors[color]; ok {
		return d, color, nil
	}
	want := c.Name() + "-" + color
	for i := range deployments {
		d := &deployments[i]
		if d.Name == want {
			if v, ok := d.Spec.Template.Labels[c.ColorKey]; ok {
				return d, v, nil
			}
			return nil, "", fmt.Errorf("deployment %s/%s has no %q label in its pod template: add it so the service can select it", c.Namespace(), d.Name, c.ColorKey)
		}
	}
	return nil, "", fmt.Errorf("unknown color %q for %s: no deployment with %s=%s or named %s (colors: %s)", color, c.Name(), c.ColorKey, color, want, orNoneList(c.ColorNames()))
}

func orNoneList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
