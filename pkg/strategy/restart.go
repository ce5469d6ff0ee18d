package strategy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout restart` sets.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// RestartOptions tune Restart.
type RestartOptions struct {
	// ChangedConfig restarts only the Deployments whose running pods started before the
	// last change of a ConfigMap or Secret they reference.
	ChangedConfig bool
	// Wait waits for each restarted Deployment's rollout (fail-fast).
	Wait    bool
	Timeout time.Duration
}

// RestartResult reports a restart.
type RestartResult struct {
	Result    `json:",inline"`
	Restarted []RestartDeployment `json:"restarted"`
	Skipped   []RestartDeployment `json:"skipped"`
}

// RestartDeployment is one Deployment restarted or skipped, and why.
type RestartDeployment struct {
	Component  string `json:"component"`
	Deployment string `json:"deployment"`
	// Because lists the ConfigMaps and Secrets changed after its oldest running pod started.
	Because []ConfigChange `json:"because,omitempty"`
	// Reason says why a Deployment was skipped.
	Reason string `json:"reason,omitempty"`
}

// ConfigChange is a referenced ConfigMap or Secret that changed since the Deployment's
// pod template was deployed or restarted.
type ConfigChange struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// By is how the change was found: "resourceVersion" (the version recorded in the pod
	// template's feastflow.dev/config-versions differs from the object's) or "time" (no
	// version recorded: the object changed after the oldest running pod started, or less
	// than Tolerance before).
	By string `json:"by"`
	// Recorded and Current are the resourceVersions (By "resourceVersion").
	Recorded string `json:"recordedVersion,omitempty"`
	Current  string `json:"currentVersion,omitempty"`
	// Changed is when the object last changed as its metadata tells (managedFields).
	Changed time.Time `json:"changed"`
	// PodStarted is when the oldest running pod started (By "time").
	PodStarted *time.Time `json:"podStarted,omitempty"`
	// Tolerance is the margin of the time comparison (By "time"): whole-second times from
	// the apiserver and the kubelet cannot order events less than this apart.
	Tolerance string `json:"tolerance,omitempty"`
}

// How a config change was found.
const (
	ByResourceVersion = "resourceVersion"
	ByTime            = "time"
)

// ConfigTimeTolerance is the margin of the time fallback: managedFields and pod start
// times have whole-second resolution and come from different clocks, so a change less
// than this before the oldest pod's start counts as a change after it (a restart too many
// rather than a stale pod left running).
const ConfigTimeTolerance = 2 * time.Second

type objRef struct{ kind, name string }

// Restart rollout-restarts the components' workloads — Deployments (those with
// replicas), StatefulSets and DaemonSets — as `kubectl rollout restart` does: the
// restartedAt annotation in the pod template, with the last-operation record in the same
// write. Each kind is a restartable (workload_restart.go), as kubectl's polymorphichelpers
// give one restarter per kind. With ChangedConfig only stale workloads are restarted; one
// LIST of pods and one metadata-only LIST of ConfigMaps and of Secrets decide which.
func Restart(ctx context.Context, env *Env, components []*Component, opts RestartOptions) (*RestartResult, error) {
	tm := report.TypeMeta("RestartResult")
	res := &RestartResult{Result: Result{APIVersion: tm.APIVersion, Kind: tm.Kind, Operation: "restart", DryRun: env.dryRunText(), Changes: []Change{}}, Restarted: []RestartDeployment{}, Skipped: []RestartDeployment{}}
	if len(components) == 1 {
		res.Component, res.Strategy = components[0].Name(), components[0].Strategy
	}
	var targets []restartTarget
	seen := map[string]bool{}
	for _, c := range components {
		res.Namespace = c.Namespace()
		for _, t := range restartTargets(c) {
			if seen[t.shape.Name] {
				continue
			}
			seen[t.shape.Name] = true
			if t.shape.Spec.Replicas != nil && *t.shape.Spec.Replicas == 0 {
				res.Skipped = append(res.Skipped, RestartDeployment{Component: c.Name(), Deployment: t.shape.Name, Reason: "0 replicas: nothing to restart"})
				continue
			}
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		res.Message = "no workload with running pods: nothing to restart"
		return res, nil
	}
	var stale map[string][]ConfigChange
	if opts.ChangedConfig {
		shapes := make([]*appsv1.Deployment, len(targets))
		for i, t := range targets {
			shapes[i] = t.shape
		}
		var err error
		if stale, err = staleConfig(ctx, env, res.Namespace, shapes); err != nil {
			return nil, err
		}
	}
	var todo []restartTarget
	var errs []string
	for _, t := range targets {
		rd := RestartDeployment{Component: t.comp.Name(), Deployment: t.shape.Name}
		switch {
		case opts.ChangedConfig && len(stale[t.shape.Name]) == 0:
			rd.Reason = "its pods started after the last change of every ConfigMap and Secret it references"
			res.Skipped = append(res.Skipped, rd)
			continue
		case opts.ChangedConfig && restartedSince(t.shape, stale[t.shape.Name]):
			rd.Reason = "already restarted after the change (" + t.shape.Spec.Template.Annotations[RestartedAtAnnotation] + "): its rollout is replacing the old pods"
			res.Skipped = append(res.Skipped, rd)
			continue
		}
		if reason, msg := t.w.blocked(t.comp); reason != "" {
			rd.Reason = reason
			res.Skipped = append(res.Skipped, rd)
			errs = append(errs, msg)
			continue
		}
		t.because = stale[t.shape.Name]
		todo = append(todo, t)
	}
	if len(todo) == 0 {
		res.Message = "nothing to restart"
		if opts.ChangedConfig {
			res.Message = "no workload runs pods older than its configuration: nothing to restart"
		}
		if len(errs) > 0 {
			res.Message = "nothing restarted"
			return res, fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return res, nil
	}
	if _, err := CheckWindow(ctx, env, res.Namespace); err != nil {
		return nil, err
	}
	// The plan: per workload its restart (and with --wait the wait for its new pods). A
	// workload whose restart fails is reported and the others go on, as kubectl's
	// `rollout restart` of several objects does.
	now := env.now().UTC().Format(time.RFC3339)
	p := newPlan(nil, "re-run the restart")
	for _, t := range todo {
		rd := RestartDeployment{Component: t.comp.Name(), Deployment: t.shape.Name, Because: t.because}
		why := "rollout restart"
		if len(t.because) > 0 {
			why = "changed " + changesText(t.because)
		}
		pre := "none: a strategic merge patch of the annotation; the wait stops when someone else changes the template"
		if !strings.HasPrefix(t.w.ref(), "deployment/") {
			pre = "metadata.generation (JSON-patch test)"
		}
		failed := false
		p.add(Step{Action: StepWrite, Object: t.w.ref(), Field: "spec.template.metadata.annotations." + RestartedAtAnnotation, To: now, Precondition: pre, Detail: why, listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				op := env.Writer.Operation("restart", "", now)
				if opts.ChangedConfig {
					op.Reason = joinSentences(op.Reason, why)
				}
				env.report("restarting %s (%s)", t.w.ref(), why)
				if err := t.w.restart(ctx, env, now, op); err != nil {
					errs = append(errs, err.Error())
					rd.Reason = err.Error()
					res.Skipped = append(res.Skipped, rd)
					failed = true
					return nil, nil
				}
				if env.Writer.Live() {
					res.Restarted = append(res.Restarted, rd)
				}
				return &Change{Object: t.w.ref(), Field: "spec.template.metadata.annotations." + RestartedAtAnnotation, To: now}, nil
			}})
		if opts.Wait {
			p.wait(t.w.ref(), "its pods replaced by pods of the restarted template, ready; a scale is followed, a template changed by someone else stops it", func(ctx context.Context) error {
				if !failed {
					if err := t.w.wait(ctx, env, t.comp, opts.Timeout); err != nil {
						errs = append(errs, err.Error())
					}
				}
				return nil
			})
		}
		if !env.Writer.Live() {
			res.Restarted = append(res.Restarted, rd)
		}
	}
	if err := env.apply(ctx, &res.Result, p); err != nil {
		return res, err
	}
	names := make([]string, len(res.Restarted))
	for i, rd := range res.Restarted {
		names[i] = rd.Deployment
		if !strings.Contains(names[i], "/") {
			names[i] = "deployment/" + names[i]
		}
	}
	res.Message = "restarted " + orNoneList(names)
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would have %s", env.Writer.DryRun, res.Message)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%s; %s", strings.Join(errs, "; "), res.Message)
	}
	return res, nil
}

// restartedSince reports whether d's pod template was restarted (restartedAt, by another
// tool: the plugin's restarts record versions) clearly after every change in changes,
// all found by time: a restart is already rolling out, so re-running changes nothing.
func restartedSince(d *appsv1.Deployment, changes []ConfigChange) bool {
	at, err := time.Parse(time.RFC3339, d.Spec.Template.Annotations[RestartedAtAnnotation])
	if err != nil || len(changes) == 0 {
		return false
	}
	for _, c := range changes {
		if c.By != ByTime || at.Before(c.Changed.Add(ConfigTimeTolerance)) {
			return false
		}
	}
	return true
}

func changesText(cs []ConfigChange) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		if c.By == ByResourceVersion {
			parts[i] = fmt.Sprintf("%s/%s resourceVersion %s → %s", strings.ToLower(c.Kind), c.Name, c.Recorded, c.Current)
			continue
		}
		parts[i] = fmt.Sprintf("%s/%s at %s (by time)", strings.ToLower(c.Kind), c.Name, c.Changed.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// staleConfig finds, per Deployment, the referenced ConfigMaps and Secrets that changed
// since its pod template was deployed or restarted. Where the template records the
// objects' resourceVersions (feastflow.dev/config-versions, written by the plugin's
// deploys and restarts), stale means a recorded version differs from the current one: no
// clock is involved. Objects the record does not name (templates the plugin never wrote,
// references added since) fall back to times: the object's last change against the start
// of the Deployment's oldest running pod, with ConfigTimeTolerance (none for an object never
// changed since its creation: the pods that reference it started after it existed). Only metadata is read,
// so Secret values never leave the apiserver; the pods are listed only for the fallback.
func staleConfig(ctx context.Context, env *Env, ns string, deps []*appsv1.Deployment) (map[string][]ConfigChange, error) {
	if env.Metadata == nil {
		return nil, fmt.Errorf("--changed-config needs the metadata client")
	}
	idx, err := env.configIndex(ctx, ns, deps)
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	listed := false
	out := map[string][]ConfigChange{}
	for _, d := range deps {
		record, hasRecord := parseConfigRecord(d.Spec.Template.Annotations[ConfigVersionsAnnotation])
		for _, r := range templateConfigRefs(&d.Spec.Template) {
			cur, exists := idx.versions[r]
			if !idx.listed[r.kind] || !exists {
				continue // not readable, or missing: the pods cannot have started with it
			}
			if rec, ok := record[r]; hasRecord && ok {
				if rec != cur {
					out[d.Name] = append(out[d.Name], ConfigChange{Kind: r.kind, Name: r.name, By: ByResourceVersion, Recorded: rec, Current: cur, Changed: idx.changed[r]})
				}
				continue
			}
			if !listed {
				list, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, fmt.Errorf("list pods in %s: %w", ns, err)
				}
				pods, listed = list.Items, true
			}
			oldest := oldestRunningPod(d, pods)
			if oldest.IsZero() {
				continue
			}
			margin := ConfigTimeTolerance
			if idx.changed[r].Sub(idx.created[r]) < time.Second {
				// Never changed since it was created: a pod that references it started
				// after it existed, so only a creation strictly after the start counts.
				margin = 0
			}
			if t := idx.changed[r]; t.After(oldest.Add(-margin)) {
				out[d.Name] = append(out[d.Name], ConfigChange{Kind: r.kind, Name: r.name, By: ByTime, Changed: t, PodStarted: &oldest, Tolerance: margin.String()})
			}
		}
	}
	return out, nil
}

// lastChange is when an object last changed as far as its metadata tells: the latest
// managedFields time, or its creation.
func lastChange(m *metav1.ObjectMeta) time.Time {
	t := m.CreationTimestamp.Time
	for _, f := range m.ManagedFields {
		if f.Time != nil && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t.UTC()
}

// oldestRunningPod is the start time of the Deployment's oldest running pod (zero: none).
func oldestRunningPod(d *appsv1.Deployment, pods []corev1.Pod) time.Time {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return time.Time{}
	}
	var oldest time.Time
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		start := p.CreationTimestamp.Time
		if p.Status.StartTime != nil {
			start = p.Status.StartTime.Time
		}
		if oldest.IsZero() || start.Before(oldest) {
			oldest = start
		}
	}
	return oldest.UTC()
}

// templateConfigRefs lists the ConfigMaps and Secrets a pod template references through
// env, envFrom, volumes and projected volumes, in every container, sorted.
func templateConfigRefs(tpl *corev1.PodTemplateSpec) []objRef {
	set := map[objRef]bool{}
	add := func(kind, name string) {
		if name != "" {
			set[objRef{kind, name}] = true
		}
	}
	containers := append(append([]corev1.Container{}, tpl.Spec.InitContainers...), tpl.Spec.Containers...)
	for i := range containers {
		c := &containers[i]
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add("ConfigMap", e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil {
				add("Secret", e.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add("ConfigMap", r.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add("Secret", r.Name)
			}
		}
	}
	for i := range tpl.Spec.Volumes {
		v := &tpl.Spec.Volumes[i]
		if v.ConfigMap != nil {
			add("ConfigMap", v.ConfigMap.Name)
		}
		if v.Secret != nil {
			add("Secret", v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add("ConfigMap", s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add("Secret", s.Secret.Name)
				}
			}
		}
	}
	out := make([]objRef, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].name < out[j].name
	})
	return out
}
