package strategy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/progress"
	"github.com/feastflow/kubectl-feastflow/pkg/report"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// Env is what every release operation needs: the client, the audit writer (dry run, user,
// reason) and where progress goes.
type Env struct {
	Client   kubernetes.Interface
	Writer   *audit.Writer
	Progress progress.Reporter
	// Metadata reads ConfigMaps and Secrets as metadata only (their resourceVersions and
	// change times; Secret data is never fetched). Nil: template writes record no config
	// versions and restart --changed-config is refused.
	Metadata metadata.Interface

	// config caches the metadata LISTs of ConfigMaps and Secrets for one operation.
	config *configCache
}

func (e *Env) now() time.Time {
	if e.Writer != nil && e.Writer.Now != nil {
		return e.Writer.Now()
	}
	return time.Now()
}

func (e *Env) report(format string, args ...any) { progress.Printf(e.Progress, format, args...) }

// Promote finishes a release: blue-green switches (if not yet) and scales the old color
// down; canary rolls stable to the canary's template and retires the canary.
func Promote(ctx context.Context, env *Env, c *Component, opts PromoteOptions) (*Result, error) {
	if r := releaserFor(c); r != nil {
		return r.promote(ctx, env, c, opts)
	}
	return nil, WrongStrategyError(c, promoteKinds...)
}

// Abort undoes a release in progress: canary to 0 and stable back to full; blue-green
// before a switch: the idle color to 0.
func Abort(ctx context.Context, env *Env, c *Component, opts AbortOptions) (*Result, error) {
	if r := releaserFor(c); r != nil {
		return r.abort(ctx, env, c, opts)
	}
	return nil, WrongStrategyError(c, abortKinds...)
}

// Rollback returns to the previous release: rolling undoes the rollout, blue-green
// switches back to the previous color, canary aborts.
func Rollback(ctx context.Context, env *Env, c *Component, opts RollbackOptions) (*Result, error) {
	if r := releaserFor(c); r != nil {
		return r.rollback(ctx, env, c, opts)
	}
	return nil, WrongStrategyError(c, rollbackKinds...)
}

// PromoteOptions tune Promote.
type PromoteOptions struct {
	// ScaleDownDelay is how long blue-green waits after the switch before scaling the old
	// color to 0, so that kube-proxy on every node has stopped sending it traffic.
	ScaleDownDelay time.Duration
	// KeepOld skips the scale-down (blue-green).
	KeepOld bool
	// DeleteCanary deletes the canary Deployment instead of scaling it to 0.
	DeleteCanary bool
	// Confirm is asked before the destructive part (the scale-down); nil means yes.
	Confirm func(question string) error
	Timeout time.Duration
	// Force and VerifyTimeout tune the blue-green switch promote makes (see SwitchOptions).
	Force         bool
	VerifyTimeout time.Duration
	// Smoke tests the switch promote makes (see SwitchOptions.Smoke).
	Smoke *traffic.Smoke
}

// AbortOptions tune Abort.
type AbortOptions struct {
	// Confirm is asked before scaling anything down; nil means yes.
	Confirm func(question string) error
	Timeout time.Duration
}

// RollbackOptions tune Rollback.
type RollbackOptions struct {
	// ToRevision is the rolling revision to return to (0: the previous one).
	ToRevision int64
	Timeout    time.Duration
	// Force and VerifyTimeout tune the blue-green switch back (see SwitchOptions).
	Force         bool
	VerifyTimeout time.Duration
}

// Result is the common report of a release operation: what changed on which object.
type Result struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Component  string   `json:"component,omitempty"`
	Namespace  string   `json:"namespace"`
	Strategy   Kind     `json:"strategy,omitempty"`
	Operation  string   `json:"operation"`
	DryRun     string   `json:"dryRun,omitempty"`
	Changed    bool     `json:"changed"`
	Changes    []Change `json:"changes"`
	// Planned is what the verb planned from its snapshot before its first write, in
	// order: the writes with their preconditions, the waits and the re-reads between them.
	// In a dry run it is the answer; otherwise Changes says which of its writes were made.
	Planned []Step `json:"planned,omitempty"`
	Message string `json:"message"`
}

// Outcome is the result of any release verb: the common Result, possibly inside a
// verb-specific report (DeployResult, SwitchResult, CanaryStepResult, RestartResult).
type Outcome interface {
	Common() *Result
}

// Common returns r itself; verb-specific results inherit it by embedding Result.
func (r *Result) Common() *Result { return r }

// Settle makes the result say what the contract promises, whatever path filled it:
// Changes is a list (never null), and Changed is false in every dry run, where Changes
// lists what would change. Every release verb's result passes through it before it is
// printed.
func (r *Result) Settle() {
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	if r.DryRun != "" {
		r.Changed = false
	}
}

// Common gathers the components' changes into the common Result: what a switch of one or
// several components changed (or, in a dry run, would change).
func (r *SwitchResult) Common() *Result {
	if len(r.Changes) == 0 {
		for _, c := range r.Components {
			r.Changes = append(r.Changes, c.Changes...)
		}
	}
	return &r.Result
}

// Change is one write (or, in a dry run, a write that would be made).
type Change struct {
	Object string `json:"object"` // kind/name, e.g. deployment/feastflow-backend-green
	Field  string `json:"field"`  // e.g. spec.replicas, spec.selector.version
	From   string `json:"from"`
	To     string `json:"to"`
}

// deepMerge merges src into dst (maps merge recursively, other values replace) and
// returns dst: it joins a change and its audit annotation into one patch.
func deepMerge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// warn reports a best-effort failure (an Event that could not be recorded) as progress.
func (e *Env) warn(err error) {
	if err != nil {
		e.report("warning: %v", err)
	}
}

// tell is the message of an operation: what was done, or in a dry run, what would be done.
func (e *Env) tell(done, would string) string {
	if e.Writer.Live() {
		return done
	}
	return fmt.Sprintf("dry run (%s): %s", e.Writer.DryRun, would)
}

// dryRunText is the Result.DryRun value of the writer's mode ("" for real writes).
func (e *Env) dryRunText() string {
	if e.Writer == nil || e.Writer.Live() {
		return ""
	}
	return string(e.Writer.DryRun)
}

// ConflictError is a write refused because the object changed since it was read (a
// resourceVersion or JSON-patch test precondition failed): someone else acted first.
type ConflictError struct {
	Object string
	Err    error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict: %s was changed by someone else since it was read, nothing was written to it: re-run to act on its current state (%v)", e.Object, e.Err)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// writeError names the object, and for the errors a user can act on, the fix: a missing
// permission (the verb and resource to grant) or a concurrent change.
func writeError(verb, kind, ns, name string, err error) error {
	obj := fmt.Sprintf("%s %s/%s", kind, ns, name)
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s: forbidden: missing permission `%s %ss` in namespace %s; ask for it (see deploy/rbac/) — nothing was written: %w", verb, obj, verb, kind, ns, err)
	case apierrors.IsConflict(err), isTestFailure(err):
		return &ConflictError{Object: obj, Err: err}
	}
	return fmt.Errorf("%s %s: %w", verb, obj, err)
}

// isTestFailure recognises a JSON patch whose "test" operation failed: the apiserver
// answers 422 Invalid with the generic message "the server rejected our request due to an
// error in our request" and no causes (json-patch's "testing value ... failed" is dropped),
// whereas a validation failure names its fields in the causes.
func isTestFailure(err error) bool {
	if err == nil {
		return false
	}
	if strings.Contains(err.Error(), "testing value") {
		return true
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		return false
	}
	d := status.Status().Details
	return d == nil || len(d.Causes) == 0
}

func newResult(kind string, c *Component, op string, env *Env) Result {
	tm := report.TypeMeta(kind)
	return Result{
		APIVersion: tm.APIVersion, Kind: tm.Kind, Component: c.Name(), Namespace: c.Namespace(),
		Strategy: c.Strategy, Operation: op, DryRun: env.dryRunText(), Changes: []Change{},
	}
}
