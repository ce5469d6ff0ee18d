package strategy

import "context"

// releaser is what one release strategy does for the release verbs that act on a
// component: one implementation per strategy (blue-green, canary, rolling and recreate),
// chosen by releaserFor from the strategy the component was recognised as, in place of a
// switch on Component.Strategy in every verb (the shape of kubectl's polymorphichelpers).
// A verb a strategy does not have returns the wrong-strategy error naming the strategies
// that have it.
type releaser interface {
	deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error)
	promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error)
	abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error)
	rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error)
}

// releaserFor is the strategy of c, or nil when c has none the release verbs know.
func releaserFor(c *Component) releaser {
	switch c.Strategy {
	case BlueGreen:
		return blueGreen{}
	case Canary:
		return canary{}
	case Rolling, Recreate:
		return rolling{}
	}
	return nil
}

// The verbs each strategy has, for the wrong-strategy errors.
var (
	promoteKinds  = []Kind{BlueGreen, Canary}
	abortKinds    = []Kind{BlueGreen, Canary}
	deployKinds   = []Kind{Rolling, Recreate, BlueGreen, Canary}
	rollbackKinds = []Kind{Rolling, Recreate, BlueGreen, Canary}
)

// blueGreen: two colors behind one Service selector.
type blueGreen struct{}

func (blueGreen) deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	return deployBlueGreen(ctx, env, c, opts)
}

func (blueGreen) promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	return promoteBlueGreen(ctx, env, c, opts)
}

func (blueGreen) abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	return abortBlueGreen(ctx, env, c, opts)
}

func (blueGreen) rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	return rollbackBlueGreen(ctx, env, c, opts)
}

// canary: a stable and a canary track behind one Service; rollback is abort.
type canary struct{}

func (canary) deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	return deployCanary(ctx, env, c, opts)
}

func (canary) promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	return promoteCanary(ctx, env, c, opts)
}

func (canary) abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	return abortCanary(ctx, env, c, opts)
}

func (canary) rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	return abortCanary(ctx, env, c, AbortOptions{Timeout: opts.Timeout})
}

// rolling: one Deployment (RollingUpdate or Recreate); nothing to promote or abort.
type rolling struct{}

func (rolling) deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error) {
	return deployRolling(ctx, env, c, opts)
}

func (rolling) promote(_ context.Context, _ *Env, c *Component, _ PromoteOptions) (*Result, error) {
	return nil, WrongStrategyError(c, promoteKinds...)
}

func (rolling) abort(_ context.Context, _ *Env, c *Component, _ AbortOptions) (*Result, error) {
	return nil, WrongStrategyError(c, abortKinds...)
}

func (rolling) rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	return rollbackRolling(ctx, env, c, opts)
}
