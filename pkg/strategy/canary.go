package strategy

import "context"

func promoteCanary(context.Context, *Env, *Component, PromoteOptions) (*Result, error) {
	return nil, errNotImplemented
}

func abortCanary(context.Context, *Env, *Component, AbortOptions) (*Result, error) {
	return nil, errNotImplemented
}
