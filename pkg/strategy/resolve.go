package strategy

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ComponentError is a component argument that names no usable component: unknown, of a
// strategy the verb does not work on, or (with no name) none or several candidates. A
// request was needed to know, so it is an error (exit 1), never bad usage; the message
// lists the candidates.
type ComponentError struct {
	// Name is the component asked for ("" when none was named).
	Name string
	// Candidates are the components the verb could act on, "name (strategy)".
	Candidates []string
	msg        string
}

func (e *ComponentError) Error() string { return e.msg }

// Resolve finds the component a verb acts on: the named one (GET its Service and LIST the
// Deployments, in parallel: one round trip), or, with no name, the namespace's only
// component of the wanted strategies. want empty accepts every recognised strategy; a
// Service that reaches no Deployment (strategy Unknown) is refused unless allowUnknown.
// Failures are *ComponentError listing the candidates; only the failure path lists the
// namespace's Services to find them.
func Resolve(ctx context.Context, client kubernetes.Interface, namespace, name string, keys Keys, allowUnknown bool, want ...Kind) (*Component, error) {
	if name == "" {
		inv, err := List(ctx, client, namespace)
		if err != nil {
			return nil, err
		}
		comps := inv.Components(keys)
		var candidates []*Component
		for _, c := range comps {
			if accepts(c, allowUnknown, want) {
				candidates = append(candidates, c)
			}
		}
		switch len(candidates) {
		case 1:
			return candidates[0], nil
		case 0:
			return nil, &ComponentError{Candidates: componentNames(comps), msg: fmt.Sprintf("no %s component in namespace %s (components: %s): name one, or use -n", kindsText(want), namespace, names(comps, nil))}
		}
		return nil, &ComponentError{Candidates: componentNames(candidates), msg: fmt.Sprintf("%d %s components in namespace %s, name one: %s", len(candidates), kindsText(want), namespace, names(candidates, nil))}
	}
	var (
		svc            *corev1.Service
		deps           *appsv1.DeploymentList
		svcErr, depErr error
		wg             sync.WaitGroup
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		svc, svcErr = client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	}()
	go func() {
		defer wg.Done()
		deps, depErr = client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	}()
	wg.Wait()
	if depErr != nil {
		return nil, fmt.Errorf("list deployments in %s: %w", namespace, depErr)
	}
	if apierrors.IsNotFound(svcErr) {
		return nil, UnknownComponent(ctx, client, namespace, name, keys, deps.Items)
	}
	if svcErr != nil {
		return nil, fmt.Errorf("get service %s/%s: %w", namespace, name, svcErr)
	}
	c := Recognise(svc, deps.Items, keys)
	// A Service that reaches no Deployment may front a StatefulSet or DaemonSet (two more
	// LISTs, only then). A denied LIST is named (loadWorkloads): forbidden is never unknown.
	if err := loadWorkloads(ctx, client, c); err != nil {
		return nil, err
	}
	if accepts(c, allowUnknown, want) {
		return c, nil
	}
	return nil, wrongStrategy(ctx, client, c, deps.Items, keys, want)
}

// UnknownComponent is the error of a component name that matches no Service: it lists the
// namespace's Services (one request, on this failure path only) to name the candidates.
func UnknownComponent(ctx context.Context, client kubernetes.Interface, namespace, name string, keys Keys, deployments []appsv1.Deployment) error {
	e := &ComponentError{Name: name}
	list, err := client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.msg = fmt.Sprintf("component %q not found: no service %s/%s (listing the others failed: %v)", name, namespace, name, err)
		return e
	}
	inv := &Inventory{Namespace: namespace, Services: list.Items, Deployments: deployments}
	comps := inv.Components(keys)
	e.Candidates = componentNames(comps)
	e.msg = fmt.Sprintf("component %q not found: no service %s/%s (components: %s)", name, namespace, name, names(comps, nil))
	return e
}

// wrongStrategy is the error of a component the verb does not work on, with the hint of
// how to make it one and the components it does work on.
func wrongStrategy(ctx context.Context, client kubernetes.Interface, c *Component, deployments []appsv1.Deployment, keys Keys, want []Kind) error {
	e := &ComponentError{Name: c.Name()}
	var others []*Component
	if list, err := client.CoreV1().Services(c.Namespace()).List(ctx, metav1.ListOptions{}); err == nil {
		inv := &Inventory{Namespace: c.Namespace(), Services: list.Items, Deployments: deployments}
		for _, o := range inv.Components(keys) {
			if accepts(o, false, want) {
				others = append(others, o)
			}
		}
	}
	e.Candidates = componentNames(others)
	base := WrongStrategyError(c, want...).Error()
	if len(want) == 0 {
		base = fmt.Sprintf("component %s reaches no deployment it can release%s", c.Name(), strategyHint(c))
	}
	e.msg = fmt.Sprintf("%s; %s components in %s: %s", base, kindsText(want), c.Namespace(), names(others, nil))
	return e
}

// errServiceNotFound marks a named Service that does not exist, before UnknownComponent
// lists the candidates.
var errServiceNotFound = errors.New("service not found")

// withCandidates completes the error of a verb that resolved a named component itself and
// found it of another strategy (a *ComponentError without candidates): it lists the
// namespace's components of the wanted strategies. Other errors are returned as they are.
func withCandidates(ctx context.Context, client kubernetes.Interface, err error, inv *Inventory, keys Keys, want ...Kind) error {
	var ce *ComponentError
	if !errors.As(err, &ce) || ce.Candidates != nil || ce.Name == "" {
		return err
	}
	list, lerr := client.CoreV1().Services(inv.Namespace).List(ctx, metav1.ListOptions{})
	if lerr != nil {
		return err
	}
	all := &Inventory{Namespace: inv.Namespace, Services: list.Items, Deployments: inv.Deployments}
	var others []*Component
	for _, o := range all.Components(keys) {
		if accepts(o, false, want) {
			others = append(others, o)
		}
	}
	ce.Candidates = componentNames(others)
	ce.msg = fmt.Sprintf("%s; %s components in %s: %s", ce.msg, kindsText(want), inv.Namespace, names(others, nil))
	return ce
}

func accepts(c *Component, allowUnknown bool, want []Kind) bool {
	if len(want) > 0 {
		return kindIn(c.Strategy, want)
	}
	return allowUnknown || c.Strategy != Unknown
}

func componentNames(comps []*Component) []string {
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = c.Name()
	}
	return out
}
