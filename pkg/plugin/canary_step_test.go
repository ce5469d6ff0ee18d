package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

// Bad input to the rollout verbs exits 2 with one line and sends no request.
func TestRolloutVerbsUsageExit2WithoutRequests(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"canary-step", "web", "--weight", "-1"}, "invalid weight -1: must be between 0 and 100"},
		{[]string{"canary-step", "web", "--weight", "101"}, "invalid weight 101"},
		{[]string{"canary-step", "web", "--weight", "abc"}, `invalid argument "abc" for "--weight" flag`},
		{[]string{"canary-step", "web", "--steps", "10,50,25"}, "steps must increase (25 after 50)"},
		{[]string{"canary-step", "web", "--steps", "0,50"}, "0 is not between 1 and 100"},
		{[]string{"canary-step", "web", "--weight", "10", "--steps", "10,20"}, "give --weight or --steps, not both"},
		{[]string{"canary-step", "a", "b"}, "accepts at most 1 arg(s)"},
		{[]string{"scale", "web"}, "--replicas is required"},
		{[]string{"scale", "web", "--replicas", "-3"}, "invalid --replicas -3"},
		{[]string{"autoscale", "web", "--cpu-percent", "70"}, "--max is required"},
		{[]string{"autoscale", "web", "--max", "5"}, "no metric: give --cpu-percent and/or --memory-percent"},
		{[]string{"autoscale", "web", "--min", "6", "--max", "5", "--cpu-percent", "70"}, "invalid --max 5: must be at least --min (6)"},
		{[]string{"restart", "web", "--all"}, "give a COMPONENT or --all, not both"},
		{[]string{"pause", "web", "--dry-run=maybe"}, `invalid --dry-run value "maybe"`},
		{[]string{"history", "web", "-o", "wide"}, `unknown output format "wide"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			api := newAPIServer(t)
			r := run(t, testFlags(t, api.URL), tt.args...)
			if r.code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", r.code, ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) || !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("stderr %q, want %q", r.stderr, tt.want)
			}
			if n := api.requests.Load(); n != 0 {
				t.Errorf("%d requests before the usage error", n)
			}
		})
	}
}

func TestRolloutHelpSaysKubectlFeastflow(t *testing.T) {
	for _, verb := range []string{"canary-step", "scale", "autoscale", "history", "pause", "resume", "restart"} {
		r := run(t, testFlags(t, "https://127.0.0.1:1"), verb, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "kubectl feastflow "+verb) || strings.Contains(r.stdout, "kubectl-feastflow") {
			t.Errorf("%s --help: exit %d\n%s", verb, r.code, r.stdout)
		}
	}
}

func TestHumanCanaryStep(t *testing.T) {
	res := &strategy.CanaryStepResult{
		Result: strategy.Result{Changed: true, Message: "web moved from 10 % to 25 %: 3 canary, 7 stable", Changes: []strategy.Change{
			{Object: "deployment/web-canary", Field: "spec.replicas", From: "1", To: "3"},
			{Object: "deployment/web-stable", Field: "spec.replicas", From: "9", To: "7"},
		}},
		Gate: &strategy.HealthGate{Passed: true, Pods: 1, Ready: 1},
	}
	var b bytes.Buffer
	if err := humanCanaryStep(&b, res); err != nil {
		t.Fatal(err)
	}
	want := `OBJECT                  FIELD           FROM   CHANGED
deployment/web-canary   spec.replicas   1      3
deployment/web-stable   spec.replicas   9      7
web moved from 10 % to 25 %: 3 canary, 7 stable
health gate passed: 1/1 canary pods ready, 0 restarts since the last step
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestRenderHistory(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	res := &strategy.HistoryResult{Deployments: []strategy.DeploymentHistory{{
		Deployment: "api", Current: 2, Revisions: []strategy.Revision{
			{Revision: 1, Images: []strategy.ContainerImage{{Container: "app", Image: "api:1"}}, Created: now.Add(-2 * time.Hour), Replicas: 0},
			{Revision: 2, Images: []strategy.ContainerImage{{Container: "app", Image: "api:2"}}, ChangeCause: "kubectl feastflow deploy api --image api:2", Created: now.Add(-5 * time.Minute), Replicas: 2, Current: true},
		},
	}}}
	var b bytes.Buffer
	if err := renderHistory(&b, res, now); err != nil {
		t.Fatal(err)
	}
	want := `DEPLOYMENT   REVISION   IMAGES   CHANGE-CAUSE                                 AGE    REPLICAS   CURRENT
api          1          api:1    <none>                                       120m   0          no
api          2          api:2    kubectl feastflow deploy api --image api:2   5m     2          yes
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestRenderRestart(t *testing.T) {
	changed := time.Date(2026, 11, 26, 9, 50, 0, 0, time.UTC)
	started := changed.Add(-time.Hour)
	res := &strategy.RestartResult{
		Restarted: []strategy.RestartDeployment{{Component: "api", Deployment: "api", Because: []strategy.ConfigChange{{Kind: "ConfigMap", Name: "cfg", By: strategy.ByTime, Changed: changed, PodStarted: &started, Tolerance: "2s"}}}, {Component: "web", Deployment: "web", Because: []strategy.ConfigChange{{Kind: "Secret", Name: "tls", By: strategy.ByResourceVersion, Recorded: "41", Current: "57"}}}},
		Skipped:   []strategy.RestartDeployment{{Component: "db", Deployment: "db", Reason: "its pods started after the last change of every ConfigMap and Secret it references"}},
		Result:    strategy.Result{Message: "restarted deployment/api"},
	}
	var b bytes.Buffer
	if err := renderRestart(&b, res); err != nil {
		t.Fatal(err)
	}
	want := `DEPLOYMENT   COMPONENT   ACTION      WHY
api          api         restarted   configmap/cfg changed 2026-11-26T09:50:00Z, pods started 2026-11-26T08:50:00Z (compared by time, tolerance 2s: no versions recorded on the template)
web          web         restarted   secret/tls changed (resourceVersion 57, recorded 41)
db           db          skipped     its pods started after the last change of every ConfigMap and Secret it references
restarted deployment/api
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
