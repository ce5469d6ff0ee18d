package strategy

import "context"

func rollbackRolling(context.Context, *Env, *Component, RollbackOptions) (*Result, error) {
	return nil, errNotImplemented
}
