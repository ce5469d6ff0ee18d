package strategy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// Plan is what a release verb will do, computed from one snapshot (the component as it
// was resolved: Service, Deployments, release record) before anything is written: the
// writes in order, each with its object, field change and the precondition the API server
// enforces, and between them the waits for what a write promised and the re-reads before
// a step that removes capacity. A dry run answers with the plan; otherwise Env.apply runs
// it, and it is the one place where an operation's first write and its interruption are
// handled.
type Plan struct {
	Steps []Step

	c *Component
	// before is the Service's record as it was before the plan's record step, to take it
	// back when the first workload write after it is refused outright.
	before   recordedBefore
	recorded bool
	// rerun says how to continue an operation left half-way.
	rerun string
	// failed is the action of the step that failed ("" while none did).
	failed string
}

// Step actions, in the order a plan usually has them.
const (
	// StepRecord writes the release record with the operation about to be made, on the
	// Service, preconditioned on its resourceVersion: of two concurrent runs the second
	// stops here, before it acts.
	StepRecord = "record"
	// StepWrite is a change to a Deployment, a Service or an autoscaler.
	StepWrite = "write"
	// StepWait waits for what the write before it promised (ready pods of a template,
	// endpoints, a delay).
	StepWait = "wait"
	// StepCheck re-reads before a step that removes capacity and stops, naming the change
	// and its field manager, when someone else changed what the plan was made on.
	StepCheck = "check"
	// StepFinish records the operation done.
	StepFinish = "finish"
)

// Step is one step of a Plan.
type Step struct {
	Action string `json:"action"`
	Object string `json:"object"`
	Field  string `json:"field,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Precondition is what the API server tests before it applies the write (a
	// resourceVersion, a generation, a JSON-patch test of a field).
	Precondition string `json:"precondition,omitempty"`
	// Detail says what a wait waits for or what a check compares.
	Detail string `json:"detail,omitempty"`

	// do makes the step; a write returns its Change (nil: nothing needed changing).
	do func(ctx context.Context) (*Change, error)
	// listed: the step's change is one of the result's changes (every write; a record
	// step only when the release record is what the verb changes, e.g. a canary weight).
	listed bool
	// samePatch: the step's change is made by the write before it (one patch, several
	// fields): its change is listed once that write is made.
	samePatch bool
	// dry: a server dry run sends the step too (with dryRun=All), so the API server
	// validates it; waits, checks and finishes never run in a dry run.
	dry bool
}

func newPlan(c *Component, rerun string) *Plan { return &Plan{c: c, rerun: rerun} }

func (p *Plan) add(s Step) *Step {
	p.Steps = append(p.Steps, s)
	return &p.Steps[len(p.Steps)-1]
}

// record plans the write of rec (the operation in progress) on the Service, with the
// Service's resourceVersion as precondition. conflict, when set, rewrites the conflict
// error (the verb says what the other run may have been).
func (p *Plan) record(env *Env, rec *Release, op audit.Operation, eventReason string, conflict func(error) error) *Step {
	c := p.c
	target := op.To
	if rec.Operation != nil {
		target = rec.Operation.Verb + " " + rec.Operation.Target
	}
	return p.add(Step{
		Action: StepRecord, Object: "service/" + c.Name(), Field: "metadata.annotations." + ReleaseAnnotation,
		From: describeRelease(mustRelease(c)), To: target, Precondition: "resourceVersion " + c.Service.ResourceVersion, dry: true,
		do: func(ctx context.Context) (*Change, error) {
			p.before, p.recorded = recordBefore(c), true
			err := writeRelease(ctx, env, c, rec, &op, eventReason)
			if err != nil && conflict != nil {
				var ce *ConflictError
				if asConflict(err, &ce) {
					return nil, conflict(err)
				}
			}
			return nil, err
		},
	})
}

// finish plans the record of the operation done; next builds the record from the one
// the run holds then (after its writes).
func (p *Plan) finish(env *Env, what string, started *ReleaseOperation, next func(cur *Release) *Release) {
	c := p.c
	p.add(Step{
		Action: StepFinish, Object: "service/" + c.Name(), Field: "metadata.annotations." + ReleaseAnnotation, To: what,
		Precondition: "resourceVersion as this run last wrote it (re-read and written again while the record still holds this operation)",
		do: func(ctx context.Context) (*Change, error) {
			cur, err := c.Release()
			if err != nil {
				return nil, err
			}
			st := started
			if st == nil {
				st = cur.Operation
			}
			return nil, finishRelease(ctx, env, c, next(cur.clone()), st)
		},
	})
}

// scale plans a replica change of d (a merge patch; nothing to test: the count is set,
// whatever it was).
func (p *Plan) scale(env *Env, d *appsv1.Deployment, replicas int32, verb string) {
	p.add(Step{
		Action: StepWrite, Object: "deployment/" + d.Name, Field: "spec.replicas",
		From: strconv.Itoa(int(desiredReplicas(d))), To: strconv.Itoa(int(replicas)), Precondition: scaleUpPrecondition, listed: true, dry: true,
		do: func(ctx context.Context) (*Change, error) { return scaleDeployment(ctx, env, d, replicas, verb) },
	})
}

// scaleUpPrecondition is the precondition of a replica change that removes no capacity.
const scaleUpPrecondition = "none: a merge patch sets the count, whatever it was (a step that removes capacity re-reads and tests the generation)"

// cut plans the scale-down of a step that removes capacity: *d is the Deployment as the
// check before it re-read it (as planned in a dry run), and the patch tests its generation.
func (p *Plan) cut(env *Env, d **appsv1.Deployment, replicas int32, verb, reason string) {
	planned := *d
	p.add(Step{
		Action: StepWrite, Object: "deployment/" + planned.Name, Field: "spec.replicas",
		From: strconv.Itoa(int(desiredReplicas(planned))), To: strconv.Itoa(int(replicas)),
		Precondition: "metadata.generation as the check before it re-read it", listed: true, dry: true,
		do: func(ctx context.Context) (*Change, error) { return scaleGuarded(ctx, env, *d, replicas, verb, reason) },
	})
}

// wait plans a wait for what the write before it promised.
func (p *Plan) wait(object, detail string, do func(ctx context.Context) error) {
	p.add(Step{Action: StepWait, Object: object, Detail: detail, do: func(ctx context.Context) (*Change, error) { return nil, do(ctx) }})
}

// check plans a re-read before a step that removes capacity.
func (p *Plan) check(object, detail string, do func(ctx context.Context) error) {
	p.add(Step{Action: StepCheck, Object: object, Detail: detail, do: func(ctx context.Context) (*Change, error) { return nil, do(ctx) }})
}

// delay plans a pause of d (the scale-down delay of blue-green promote) that ends early,
// with an error saying what stays, when ctx ends.
func (p *Plan) delay(env *Env, object string, d time.Duration, why, progress string, interrupted func(error) error) {
	p.wait(object, fmt.Sprintf("%s (%s)", d.Round(time.Second), why), func(ctx context.Context) error {
		env.report("%s", progress)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return interrupted(ctx.Err())
		case <-t.C:
			return nil
		}
	})
}

// apply runs a plan. Every result carries its plan. In a dry run the plan is the answer:
// its writes are the result's changes, and a server dry run sends its record and writes
// with dryRun=All so that the API server validates them (waits, checks and the finish do
// not run). Otherwise the steps run in order: before each one the run's context is
// checked, so an interrupt stops between steps and says what was done and how to go on;
// when the API server refuses the first workload write after the record outright
// (forbidden, invalid, conflict…), the record is taken back, so that status and the next
// verb never see an operation that did not happen.
func (e *Env) apply(ctx context.Context, res *Result, p *Plan) error {
	res.Planned = append(res.Planned, p.Steps...)
	if !e.Writer.Live() {
		for i := range p.Steps {
			s := &p.Steps[i]
			if s.listed {
				res.Changes = append(res.Changes, Change{Object: s.Object, Field: s.Field, From: s.From, To: s.To})
			}
			if s.dry && s.do != nil && !e.Writer.Client() {
				if _, err := s.do(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	}
	wrote := false
	for i := range p.Steps {
		s := &p.Steps[i]
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before step %d (%s %s): %s; %s: %w", i+1, s.Action, s.Object, appliedSoFar(res), p.rerun, err)
		}
		if s.do == nil {
			// Made by the step before it (one patch of several fields; a switch's
			// patches, verification and smoke tests are one call).
			wrote = wrote || s.Action == StepWrite
			if s.samePatch {
				addChange(res, &Change{Object: s.Object, Field: s.Field, From: s.From, To: s.To})
			}
			continue
		}
		ch, err := s.do(ctx)
		if err != nil {
			p.failed = s.Action
			if s.Action == StepWrite && p.recorded && !wrote {
				var restored bool
				if restored, err = takeBackOnRefusal(ctx, e, p.c, p.before, err, p.rerun); restored {
					// Nothing of the plan happened, its record included.
					p.dropRecordChanges(res)
				}
			}
			return err
		}
		if s.Action == StepWrite {
			wrote = true
		}
		if ch == nil && s.listed && s.Action == StepRecord {
			ch = &Change{Object: s.Object, Field: s.Field, From: s.From, To: s.To}
		}
		addChange(res, ch)
	}
	return nil
}

// mustRelease is the component's record for a plan's text (an unreadable one has failed
// the verb before it planned).
func mustRelease(c *Component) *Release {
	r, err := c.Release()
	if err != nil {
		return nil
	}
	return r
}

// dropRecordChanges removes the changes of the plan's record steps from res (taken back).
func (p *Plan) dropRecordChanges(res *Result) {
	kept := res.Changes[:0]
	for _, ch := range res.Changes {
		drop := false
		for _, s := range p.Steps {
			drop = drop || s.Action == StepRecord && s.Object == ch.Object && s.Field == ch.Field
		}
		if !drop {
			kept = append(kept, ch)
		}
	}
	res.Changes = kept
	res.Changed = len(kept) > 0 && res.DryRun == ""
}

// StepText is one step for people: "write deployment/web-blue spec.replicas 3→0 (if …)".
func StepText(s Step) string {
	out := s.Action + " " + s.Object
	if s.Field != "" {
		out += " " + s.Field
	}
	switch {
	case s.From != "":
		out += " " + s.From + "→" + s.To
	case s.To != "":
		out += " = " + s.To
	}
	if s.Detail != "" {
		out += ": " + s.Detail
	}
	if s.Precondition != "" {
		out += " (if " + s.Precondition + ")"
	}
	return out
}
