package strategy

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
)

// HistoryResult is the rollout history of a component's Deployments.
type HistoryResult struct {
	APIVersion  string              `json:"apiVersion"`
	Kind        string              `json:"kind"`
	Component   string              `json:"component"`
	Namespace   string              `json:"namespace"`
	Strategy    Kind                `json:"strategy"`
	Deployments []DeploymentHistory `json:"deployments"`
	// Workloads are the revisions of a StatefulSet or DaemonSet component (workload_history.go).
	Workloads []WorkloadHistory `json:"workloads,omitempty"`
}

// DeploymentHistory is one Deployment's revisions, oldest first, as `kubectl rollout
// history` lists them, with images and times.
type DeploymentHistory struct {
	Deployment string `json:"deployment"`
	// Role is the Deployment's place in the component: its color, its track, or "".
	Role      string     `json:"role,omitempty"`
	Paused    bool       `json:"paused"`
	Current   int64      `json:"currentRevision"`
	Revisions []Revision `json:"revisions"`
}

// Revision is one ReplicaSet of a Deployment's history.
type Revision struct {
	Revision    int64            `json:"revision"`
	ReplicaSet  string           `json:"replicaSet"`
	Images      []ContainerImage `json:"images"`
	ChangeCause string           `json:"changeCause,omitempty"`
	Created     time.Time        `json:"created"`
	Replicas    int32            `json:"replicas"`
	Current     bool             `json:"current"`
}

// History reads the revisions of every Deployment of the component with k8s.io/kubectl's
// DeploymentHistoryViewer (the code behind `kubectl rollout history`), served from one LIST
// of the namespace's ReplicaSets.
func History(ctx context.Context, env *Env, c *Component) (*HistoryResult, error) {
	tm := report.TypeMeta("HistoryResult")
	res := &HistoryResult{APIVersion: tm.APIVersion, Kind: tm.Kind, Component: c.Name(), Namespace: c.Namespace(), Strategy: c.Strategy, Deployments: []DeploymentHistory{}}
	client := newKubectlClient(ctx, env, c.Deployments...)
	viewer, err := polymorphichelpers.HistoryViewerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, client)
	if err != nil {
		return nil, err
	}
	for _, d := range c.Deployments {
		revs, err := viewer.GetHistory(d.Namespace, d.Name)
		if err != nil {
			return nil, fmt.Errorf("history of deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
		h := DeploymentHistory{Deployment: d.Name, Role: roleOf(c, d), Paused: d.Spec.Paused, Revisions: []Revision{}}
		h.Current, _ = deploymentutil.Revision(d)
		for v, obj := range revs {
			rs, ok := obj.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			r := Revision{
				Revision: v, ReplicaSet: rs.Name, Images: TemplateImages(&rs.Spec.Template),
				ChangeCause: revisionCause(rs),
				Created:     rs.CreationTimestamp.UTC(), Replicas: rs.Status.Replicas, Current: v == h.Current,
			}
			h.Revisions = append(h.Revisions, r)
		}
		sort.Slice(h.Revisions, func(i, j int) bool { return h.Revisions[i].Revision < h.Revisions[j].Revision })
		res.Deployments = append(res.Deployments, h)
	}
	if res.Workloads, err = workloadHistories(ctx, env, c); err != nil {
		return nil, err
	}
	return res, nil
}

// revisionCause is a revision's change cause: the ReplicaSet's kubernetes.io/change-cause
// (set by every template write of the plugin, copied by the deployment controller), or for
// revisions made before the plugin set it, the template-changing operation the plugin
// recorded on it.
func revisionCause(rs *appsv1.ReplicaSet) string {
	if cause := rs.Annotations[polymorphichelpers.ChangeCauseAnnotation]; cause != "" {
		return cause
	}
	if op, ok := audit.ParseOperation(rs.Annotations); ok {
		switch op.Verb {
		case "deploy", "restart", "rollback", "promote", "deploy-rollback":
			return "kubectl feastflow " + op.Message()
		}
	}
	return ""
}

func roleOf(c *Component, d *appsv1.Deployment) string {
	if r := releaserFor(c); r != nil {
		return r.role(c, d)
	}
	return ""
}

// Pause pauses the rollouts of every Deployment of the component (spec.paused, as `kubectl
// rollout pause`); Deployments already paused are left alone.
func Pause(ctx context.Context, env *Env, c *Component) (*Result, error) {
	return setPaused(ctx, env, c, true)
}

// Resume resumes the rollouts of every paused Deployment of the component, after the
// deployment-window check: a resumed rollout is a release.
func Resume(ctx context.Context, env *Env, c *Component) (*Result, error) {
	return setPaused(ctx, env, c, false)
}

func setPaused(ctx context.Context, env *Env, c *Component, paused bool) (*Result, error) {
	verb, reason := "pause", "Paused"
	if !paused {
		verb, reason = "resume", "Resumed"
	}
	res := newRolloutResult(reason[:len(reason)-1]+"Result", verb, c, env)
	var todo []*appsv1.Deployment
	for _, d := range c.Deployments {
		if d.Spec.Paused != paused {
			todo = append(todo, d)
		}
	}
	if len(todo) == 0 {
		res.Message = fmt.Sprintf("every deployment of %s is paused already: nothing to change", c.Name())
		if !paused {
			res.Message = fmt.Sprintf("no deployment of %s is paused: nothing to change", c.Name())
		}
		return res, nil
	}
	if !paused {
		if _, err := CheckWindow(ctx, env, c.Namespace()); err != nil {
			return nil, err
		}
	}
	p := newPlan(c, fmt.Sprintf("re-run `kubectl feastflow %s %s`", verb, c.Name()))
	var names []string
	for _, d := range todo {
		p.add(Step{Action: StepWrite, Object: "deployment/" + d.Name, Field: "spec.paused", From: fmt.Sprint(!paused), To: fmt.Sprint(paused),
			Precondition: "none: a merge patch of spec.paused (as kubectl rollout " + verb + ")", listed: true, dry: true,
			do: func(ctx context.Context) (*Change, error) {
				op := env.Writer.Operation(verb, fmt.Sprintf("paused=%t", !paused), fmt.Sprintf("paused=%t", paused))
				body := audit.AnnotationPatch(op, nil)
				body["spec"] = map[string]any{"paused": paused}
				if err := writeDeployment(ctx, env, d, types.MergePatchType, body, reason, op); err != nil {
					return nil, fmt.Errorf("%w (%s)", err, appliedSoFar(res))
				}
				return &Change{Object: "deployment/" + d.Name, Field: "spec.paused", From: fmt.Sprint(!paused), To: fmt.Sprint(paused)}, nil
			}})
		names = append(names, "deployment/"+d.Name)
	}
	if err := env.apply(ctx, res, p); err != nil {
		return res, err
	}
	res.Message = fmt.Sprintf("%sd %s", verb, joinComma(names))
	if !env.Writer.Live() {
		res.Message = fmt.Sprintf("dry run (%s): would have %s", env.Writer.DryRun, res.Message)
	}
	return res, nil
}
