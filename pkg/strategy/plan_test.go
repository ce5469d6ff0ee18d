package strategy

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// A dry run answers with the plan: the record, the scale-up, the wait, the check before
// the cut, the cut and the finish in order, each write with its change and the cut with
// its precondition; the changes are the plan's writes and nothing is sent.
func TestPlanDryRunIsTheAnswer(t *testing.T) {
	client := fxClient(append(fxCanary(9, 1, nil), fxPods("web-canary", map[string]string{"app": "web", "track": "canary"}, 1, 0)...)...)
	env, _ := fxEnv(client, audit.DryRunClient)
	res, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Planned {
		got = append(got, s.Action+" "+s.Object)
	}
	fxEqual(t, "plan", got, []string{
		"record service/web",
		"write deployment/web-canary",
		"wait deployment/web-canary",
		"check deployment/web-stable",
		"write deployment/web-stable",
		"finish service/web",
	})
	if res.Planned[0].Precondition != "resourceVersion 1" || !strings.Contains(res.Planned[4].Precondition, "metadata.generation") {
		t.Errorf("preconditions: record %q, cut %q", res.Planned[0].Precondition, res.Planned[4].Precondition)
	}
	var changes []string
	for _, ch := range res.Changes {
		changes = append(changes, ch.Object+" "+ch.Field+" "+ch.From+"→"+ch.To)
	}
	fxEqual(t, "changes", changes, []string{
		"service/web metadata.annotations.feastflow.dev/release.weight 10→50",
		"deployment/web-canary spec.replicas 1→5",
		"deployment/web-stable spec.replicas 9→5",
	})
	if res.Changed {
		t.Error("a dry run says changed")
	}
	fxEqual(t, "writes", fxWrites(client), nil)
}

// The API server refuses the first workload write after the record outright (forbidden):
// the record is taken back, so that status and the next verb never see a step that did
// not happen; a refusal after a write landed keeps it.
func TestPlanTakesBackTheRecordWhenTheFirstWriteIsRefused(t *testing.T) {
	client := fxClient(append(fxCanary(9, 1, nil), fxPods("web-canary", map[string]string{"app": "web", "track": "canary"}, 1, 0)...)...)
	client.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web-canary", errors.New("no"))
	})
	env, _ := fxEnv(client, audit.DryRunNone)
	before := fxGetService(t, client, "web").Annotations[ReleaseAnnotation]
	res, err := CanaryStep(t.Context(), env, fxLoad(t, client, "web"), CanaryStepOptions{Weight: 25, Force: true})
	if err == nil || !strings.Contains(err.Error(), "the release record was restored") {
		t.Fatalf("error = %v", err)
	}
	if res == nil || res.Changed || len(res.Planned) == 0 {
		t.Errorf("result = %+v", res)
	}
	if after := fxGetService(t, client, "web").Annotations[ReleaseAnnotation]; after != before {
		t.Errorf("release record not taken back: %q, was %q", after, before)
	}
}

// An interrupt between two steps stops before the next one and says what was done.
func TestPlanStopsBetweenStepsOnInterrupt(t *testing.T) {
	client := fxClient(fxCanary(9, 1, nil)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	c := fxLoad(t, client, "web")
	ctx, cancel := context.WithCancel(t.Context())
	p := newPlan(c, "re-run to finish")
	p.scale(env, c.Canary, 2, "test")
	p.check("deployment/web-stable", "interrupts", func(context.Context) error { cancel(); return nil })
	p.scale(env, c.Stable, 8, "test")
	res := &Result{}
	err := env.apply(ctx, res, p)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before step 3 (write deployment/web-stable)") || !strings.Contains(err.Error(), "deployment/web-canary spec.replicas 1→2") {
		t.Fatalf("error = %v", err)
	}
	fxEqual(t, "writes", fxWrites(client), []string{"patch deployments/web-canary replicas=2"})
}

// One patch of several fields lists each field once it is made.
func TestPlanSamePatchChangesListed(t *testing.T) {
	client := fxClient(fxCanary(9, 1, nil)...)
	env, _ := fxEnv(client, audit.DryRunNone)
	c := fxLoad(t, client, "web")
	p := newPlan(c, "")
	p.add(Step{Action: StepWrite, Object: "deployment/web-stable", Field: "a", To: "1", listed: true, do: func(context.Context) (*Change, error) {
		return &Change{Object: "deployment/web-stable", Field: "a", To: "1"}, nil
	}})
	p.add(Step{Action: StepWrite, Object: "deployment/web-stable", Field: "b", To: "2", listed: true, samePatch: true})
	res := &Result{}
	if err := env.apply(t.Context(), res, p); err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 2 || res.Changes[1].Field != "b" || !res.Changed {
		t.Errorf("changes = %+v", res.Changes)
	}
}
