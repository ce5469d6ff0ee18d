package plugin

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
)

// runnerObjects is cmdObjects plus a canary component "cart" (9 stable, 1 canary) and a
// Service "orphan" that reaches no Deployment.
func runnerObjects(mutate ...func(runtime.Object)) []runtime.Object {
	stable := cmdDeployment("cart-stable", map[string]string{"app": "cart", "track": "stable"}, 9)
	canary := cmdDeployment("cart-canary", map[string]string{"app": "cart", "track": "canary"}, 1)
	objs := append(cmdObjects(),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "cart"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "gone"}}},
		stable, canary,
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cart-canary-1", Namespace: "shop", Labels: canary.Spec.Template.Labels}, Spec: canary.Spec.Template.Spec,
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}},
	)
	for _, o := range objs {
		// The switch tests the Service's resourceVersion; the fake keeps the one it is given.
		o.(metav1.Object).SetResourceVersion("7")
		for _, m := range mutate {
			m(o)
		}
	}
	return objs
}

// releaseWrites counts the requests that would change something.
func releaseWrites(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			if a.GetResource().Resource != "events" && a.GetResource().Resource != "selfsubjectreviews" {
				n++
			}
		}
	}
	return n
}

// TestReleaseVerbsExitCodes is the contract of the one resolver and runner, verb by verb:
// an unknown component and a component of another strategy are errors (exit 1, a request
// was needed to know) that list the candidates, and change nothing; bad flags are usage
// errors (exit 2) sent before any request.
func TestReleaseVerbsExitCodes(t *testing.T) {
	const all = "api (blue-green), cart (canary), web (rolling)"
	tests := []struct {
		verb string
		// unknown, wrong and usage are the arguments of each case; wrong is nil for verbs
		// that work on every strategy and accept any component.
		unknown, wrong, usage []string
		// wrongWant is a candidate list the wrong-strategy message must contain.
		wrongWant string
	}{
		{verb: "status", unknown: []string{"status", "nope"}, usage: []string{"status", "-o", "xml"}},
		{verb: "deploy", unknown: []string{"deploy", "nope", "--image", "x:2"}, wrong: []string{"deploy", "orphan", "--image", "x:2"}, wrongWant: "release components in shop: " + all, usage: []string{"deploy", "api", "--image", "x:2", "--replicas", "0"}},
		{verb: "switch", unknown: []string{"switch", "green", "nope"}, wrong: []string{"switch", "green", "web"}, wrongWant: "blue-green components in shop: api (blue-green)", usage: []string{"switch", "green", "api", "--verify-timeout", "0s"}},
		{verb: "promote", unknown: []string{"promote", "nope", "--yes"}, wrong: []string{"promote", "web", "--yes"}, wrongWant: "blue-green or canary or statefulset components in shop: api (blue-green), cart (canary)", usage: []string{"promote", "api", "--scale-down-delay", "-1s"}},
		{verb: "abort", unknown: []string{"abort", "nope", "--yes"}, wrong: []string{"abort", "web", "--yes"}, wrongWant: "blue-green or canary or statefulset components in shop: api (blue-green), cart (canary)", usage: []string{"abort", "api", "--dry-run=maybe"}},
		{verb: "rollback", unknown: []string{"rollback", "nope"}, wrong: []string{"rollback", "orphan"}, wrongWant: "rolling or recreate or blue-green or canary or statefulset or daemonset components in shop: " + all, usage: []string{"rollback", "web", "--to-revision", "-1"}},
		{verb: "canary-step", unknown: []string{"canary-step", "nope"}, wrong: []string{"canary-step", "web"}, wrongWant: "canary or statefulset or daemonset components in shop: cart (canary)", usage: []string{"canary-step", "cart", "--weight", "101"}},
		{verb: "pause", unknown: []string{"pause", "nope"}, wrong: []string{"pause", "orphan"}, wrongWant: "release components in shop: " + all, usage: []string{"pause", "web", "--timeout", "-1s"}},
		{verb: "resume", unknown: []string{"resume", "nope"}, wrong: []string{"resume", "orphan"}, wrongWant: "release components in shop: " + all, usage: []string{"resume", "web", "-o", "wide"}},
		{verb: "history", unknown: []string{"history", "nope"}, usage: []string{"history", "web", "-o", "wide"}},
		{verb: "scale", unknown: []string{"scale", "nope", "--replicas", "2"}, wrong: []string{"scale", "orphan", "--replicas", "2"}, wrongWant: "release components in shop: " + all, usage: []string{"scale", "web", "--replicas", "-1"}},
		{verb: "autoscale", unknown: []string{"autoscale", "nope", "--max", "3", "--cpu-percent", "50"}, wrong: []string{"autoscale", "orphan", "--max", "3", "--cpu-percent", "50"}, wrongWant: "release components in shop: " + all, usage: []string{"autoscale", "web", "--min", "5", "--max", "3", "--cpu-percent", "50"}},
		{verb: "restart", unknown: []string{"restart", "nope"}, wrong: []string{"restart", "orphan"}, wrongWant: "release components in shop: " + all, usage: []string{"restart", "web", "--all"}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.verb] = true
		t.Run(tt.verb+"/unknown component", func(t *testing.T) {
			out, stderr, code, cs := runRelease(t, runnerObjects(), tt.unknown...)
			if code != ExitError || releaseWrites(cs) != 0 || out != "" {
				t.Fatalf("exit %d, %d writes, stdout %q: %s", code, releaseWrites(cs), out, stderr)
			}
			if !strings.Contains(stderr, `component "nope" not found`) || !strings.Contains(stderr, all) {
				t.Errorf("stderr does not name the component and list the candidates (%s): %s", all, stderr)
			}
		})
		if tt.wrong != nil {
			t.Run(tt.verb+"/wrong strategy", func(t *testing.T) {
				out, stderr, code, cs := runRelease(t, runnerObjects(), tt.wrong...)
				if code != ExitError || releaseWrites(cs) != 0 || out != "" {
					t.Fatalf("exit %d, %d writes, stdout %q: %s", code, releaseWrites(cs), out, stderr)
				}
				if !strings.Contains(stderr, tt.wrongWant) {
					t.Errorf("stderr lacks the candidates %q: %s", tt.wrongWant, stderr)
				}
			})
		}
		t.Run(tt.verb+"/bad flag", func(t *testing.T) {
			_, stderr, code, cs := runRelease(t, runnerObjects(), tt.usage...)
			if code != ExitUsage || len(cs.Actions()) != 0 {
				t.Fatalf("exit %d, %d requests: %s", code, len(cs.Actions()), stderr)
			}
		})
	}
	for _, verb := range releaseVerbs(t) {
		if !covered[verb] {
			t.Errorf("release verb %s is not in the table", verb)
		}
	}
}

// releaseVerbs are the commands of the release group.
func releaseVerbs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, c := range NewRootCmd(genericiooptions.NewTestIOStreamsDiscard()).Commands() {
		if c.GroupID == groupRelease {
			out = append(out, c.Name())
		}
	}
	if len(out) < 13 {
		t.Fatalf("only %d release verbs: %v", len(out), out)
	}
	return out
}

// An unknown color or container is an error too (exit 1), listing the candidates.
func TestUnknownColorAndContainerExit1(t *testing.T) {
	_, stderr, code, cs := runRelease(t, runnerObjects(), "switch", "purple", "api")
	if code != ExitError || releaseWrites(cs) != 0 || !strings.Contains(stderr, "colors: blue, green") {
		t.Errorf("unknown color: exit %d: %s", code, stderr)
	}
	_, stderr, code, cs = runRelease(t, runnerObjects(), "deploy", "api", "--image", "nope=img:2")
	if code != ExitError || releaseWrites(cs) != 0 || !strings.Contains(stderr, "its containers are app") {
		t.Errorf("unknown container: exit %d: %s", code, stderr)
	}
}

// Every write verb's dry run prints JSON with "changed": false and the changes it would
// make, and sends no write.
func TestReleaseVerbsDryRunJSON(t *testing.T) {
	previousGreen := func(o runtime.Object) {
		if s, ok := o.(*corev1.Service); ok && s.Name == "api" {
			s.Annotations = map[string]string{"feastflow.dev/previous-color": "green"}
		}
	}
	pausedWeb := func(o runtime.Object) {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == "web" {
			d.Spec.Paused = true
		}
	}
	tests := []struct {
		args   []string
		mutate []func(runtime.Object)
		kind   string
	}{
		{args: []string{"deploy", "web", "--image", "web:2"}, kind: "DeployResult"},
		{args: []string{"deploy", "api", "--image", "api:2"}, kind: "DeployResult"},
		{args: []string{"switch", "green", "api"}, kind: "SwitchResult"},
		{args: []string{"promote", "api"}, kind: "PromoteResult"},
		{args: []string{"abort", "api"}, kind: "AbortResult"},
		{args: []string{"abort", "cart"}, kind: "AbortResult"},
		{args: []string{"rollback", "api"}, mutate: []func(runtime.Object){previousGreen}, kind: "RollbackResult"},
		{args: []string{"canary-step", "cart", "--weight", "50"}, kind: "CanaryStepResult"},
		{args: []string{"pause", "web"}, kind: "PauseResult"},
		{args: []string{"resume", "web"}, mutate: []func(runtime.Object){pausedWeb}, kind: "ResumeResult"},
		{args: []string{"scale", "web", "--replicas", "3"}, kind: "ScaleResult"},
		{args: []string{"autoscale", "web", "--max", "3", "--cpu-percent", "50"}, kind: "AutoscaleResult"},
		{args: []string{"restart", "web"}, kind: "RestartResult"},
	}
	covered := map[string]bool{"status": true, "history": true} // read-only: no dry run
	// The verbs whose writes are planned from one snapshot (strategy.Plan).
	planned := map[string]bool{"deploy": true, "switch": true, "promote": true, "abort": true, "rollback": true, "canary-step": true, "scale": true, "pause": true, "resume": true, "autoscale": true, "restart": true}
	for _, tt := range tests {
		covered[tt.args[0]] = true
		for _, mode := range []string{"client", "server"} {
			t.Run(strings.Join(tt.args, " ")+" --dry-run="+mode, func(t *testing.T) {
				args := append(append([]string{}, tt.args...), "--dry-run="+mode, "-o", "json")
				out, stderr, code, cs := runRelease(t, runnerObjects(tt.mutate...), args...)
				if code != 0 {
					t.Fatalf("exit %d: %s\n%s", code, stderr, out)
				}
				var res struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
					DryRun     string `json:"dryRun"`
					Changed    *bool  `json:"changed"`
					Changes    []struct {
						Object, Field, From, To string
					} `json:"changes"`
					Planned []struct {
						Action, Object, Field, From, To, Precondition, Detail string
					} `json:"planned"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, out)
				}
				if res.Kind != tt.kind || res.APIVersion != "feastflow.dev/v1alpha1" || res.DryRun != mode {
					t.Errorf("kind %q apiVersion %q dryRun %q, want %s, %s", res.Kind, res.APIVersion, res.DryRun, tt.kind, mode)
				}
				if res.Changed == nil || *res.Changed {
					t.Errorf(`"changed" must be false in a dry run:\n%s`, out)
				}
				if len(res.Changes) == 0 || res.Changes[0].Object == "" {
					t.Errorf(`"changes" must list what would change:\n%s`, out)
				}
				if planned[tt.args[0]] {
					writes := 0
					for _, st := range res.Planned {
						if st.Action == "write" {
							writes++
						}
					}
					if writes == 0 {
						t.Errorf(`"planned" must list the writes in order:\n%s`, out)
					}
				}
				if !strings.HasPrefix(res.Message, "dry run ("+mode+")") {
					t.Errorf("message %q does not say it is a dry run", res.Message)
				}
				if mode == "client" && releaseWrites(cs) != 0 {
					t.Errorf("client dry run sent %d writes", releaseWrites(cs))
				}
			})
		}
	}
	for _, verb := range releaseVerbs(t) {
		if !covered[verb] {
			t.Errorf("release verb %s has no dry-run case", verb)
		}
	}
}
