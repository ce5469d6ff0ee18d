package strategy

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// rolling: one Deployment (RollingUpdate or Recreate); nothing to promote or abort. Its
// verbs live in rolling.go (deploy, rollback).
type rolling struct{}

func (rolling) promote(_ context.Context, _ *Env, c *Component, _ PromoteOptions) (*Result, error) {
	return nil, WrongStrategyError(c, promoteKinds...)
}

func (rolling) abort(_ context.Context, _ *Env, c *Component, _ AbortOptions) (*Result, error) {
	return nil, WrongStrategyError(c, abortKinds...)
}

func (rolling) serving(c *Component) *appsv1.Deployment { return c.Deployment }

func (rolling) scaleTargets(c *Component, replicas int32) ([]scaleTarget, string, error) {
	return []scaleTarget{{c.Deployment, replicas}}, "", nil
}

func (rolling) role(*Component, *appsv1.Deployment) string { return "" }

func (rolling) describe(*Component, *Release, *ComponentStatus, map[string]string, map[string]string) {
}

func (rolling) migrate(_ *Component, r *Release) { r.Phase = PhaseDeployed }

func (rolling) smokeLeft(c *Component, res *DeployResult) string {
	return fmt.Sprintf("deployment/%s was rolled to %s and serves traffic: `kubectl feastflow rollback %s` returns to the previous revision", res.Deployment, imagesText(res.Images), c.Name())
}

func (rolling) recorded() bool { return false }

func (rolling) recordWarnings(*Component, *Release) []string { return nil }

func (rolling) refuseAutoscale(*Component) error { return nil }

func (rolling) autoscaled(context.Context, *Env, *Component) {}
