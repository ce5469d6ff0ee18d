package strategy

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
)

// releaser is what one release strategy does for the verbs that act on a component: one
// implementation per strategy (blueGreen in bluegreen*.go, canary in canary*.go, rolling
// in rolling*.go for RollingUpdate and Recreate), chosen by releaserFor from the strategy
// the component was recognised as, in place of a switch on Component.Strategy in every
// verb (the shape of kubectl's polymorphichelpers). A verb a strategy does not have
// returns the wrong-strategy error naming the strategies that have it.
type releaser interface {
	deploy(ctx context.Context, env *Env, c *Component, opts DeployOptions) (*DeployResult, error)
	promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error)
	abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error)
	rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error)

	// serving is the Deployment that takes traffic (nil when there is none).
	serving(c *Component) *appsv1.Deployment
	// scaleTargets is what Scale sets to give c the replicas, in the order to patch
	// them, and a note for the result ("" when none).
	scaleTargets(c *Component, replicas int32) (targets []scaleTarget, note string, err error)
	// role is what d is to c in history ("blue (live)", "stable"; "" for a single Deployment).
	role(c *Component, d *appsv1.Deployment) string
	// describe fills the strategy's part of c's status from its release record (nil when
	// unreadable): colors or tracks, and the role and color of each Deployment by name.
	describe(c *Component, rec *Release, cs *ComponentStatus, role, color map[string]string)
	// migrate sets the strategy's part of a record built from older annotations.
	migrate(c *Component, r *Release)
	// smokeLeft says what a deploy that changed c left behind when its smoke test failed,
	// and how to undo it.
	smokeLeft(c *Component, res *DeployResult) string
	// recorded: status shows the strategy's release record on the Service.
	recorded() bool
	// recordWarnings compare the record with the objects (the selector, the live color's
	// identity and template) for status.
	recordWarnings(c *Component, rec *Release) []string
	// refuseAutoscale says why an autoscaler must not be put on c now (nil: it may).
	refuseAutoscale(c *Component) error
	// autoscaled is told that autoscale created or changed c's autoscaler.
	autoscaled(ctx context.Context, env *Env, c *Component)
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
	scaleKinds    = []Kind{Rolling, Recreate, BlueGreen, Canary}
)
