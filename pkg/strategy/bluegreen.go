package strategy

import "context"

func promoteBlueGreen(context.Context, *Env, *Component, PromoteOptions) (*Result, error) {
	return nil, errNotImplemented
}

func abortBlueGreen(context.Context, *Env, *Component, AbortOptions) (*Result, error) {
	return nil, errNotImplemented
}

func rollbackBlueGreen(context.Context, *Env, *Component, RollbackOptions) (*Result, error) {
	return nil, errNotImplemented
}
