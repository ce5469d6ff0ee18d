package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Blue-green releases on examples/feastflow: the backend Service selects version=blue;
// feastflow-backend-blue (2 replicas) and feastflow-backend-green (0) are its colors.

const (
	bgSvc   = "feastflow-backend"
	bgBlue  = "feastflow-backend-blue"
	bgGreen = "feastflow-backend-green"
)

// bgSetup applies the example with a readiness delay on the backend's pods (so that a
// switch to a color whose pods are not yet ready would show as lost endpoints) and waits
// for blue.
func bgSetup(t *testing.T, h *harness.H) string {
	t.Helper()
	ns := h.ApplyExample("feastflow")
	for _, d := range []string{bgBlue, bgGreen} {
		h.MustKubectl("-n", ns, "patch", "deploy", d, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"annotations":{"sim.feastflow.dev/ready-delay":"1s"}}}}}`)
	}
	h.WaitForRollout(ns, bgBlue)
	h.WaitForRollout(ns, bgGreen)
	return ns
}

// rv is the resourceVersion of an object (kubectl get -o jsonpath).
func rv(h *harness.H, ns, kind, name string) string {
	return h.MustKubectl("-n", ns, "get", kind, name, "-o", "jsonpath={.metadata.resourceVersion}")
}

func selectorColor(h *harness.H, ns string) string {
	return h.MustKubectl("-n", ns, "get", "svc", bgSvc, "-o", "jsonpath={.spec.selector.version}")
}

// ff runs the plugin and fails the test unless it exits with want.
func ff(t *testing.T, h *harness.H, want int, args ...string) harness.Result {
	t.Helper()
	r := h.Feastflow(args...)
	if r.ExitCode != want {
		t.Fatalf("kubectl feastflow %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.ExitCode, want, r.Stdout, r.Stderr)
	}
	return r
}

// unchanged runs a verb again and asserts it wrote nothing: the Service's and both
// Deployments' resourceVersions stay.
func unchanged(t *testing.T, h *harness.H, ns string, args ...string) {
	t.Helper()
	before := []string{rv(h, ns, "svc", bgSvc), rv(h, ns, "deploy", bgBlue), rv(h, ns, "deploy", bgGreen)}
	ff(t, h, 0, append(args, "-n", ns)...)
	after := []string{rv(h, ns, "svc", bgSvc), rv(h, ns, "deploy", bgBlue), rv(h, ns, "deploy", bgGreen)}
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Errorf("re-running %v changed objects: resourceVersions %v → %v", args, before, after)
	}
}

func TestBlueGreenRelease(t *testing.T) {
	h := harness.For(t)
	ns := bgSetup(t, h)
	rec := h.RecordEndpoints(ns, bgSvc)

	ff(t, h, 0, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:1.5.0")
	if c := selectorColor(h, ns); c != "blue" {
		t.Fatalf("deploy moved traffic to %s", c)
	}
	unchanged(t, h, ns, "deploy", bgSvc, "--image", "ghcr.io/feastflow/backend:1.5.0")

	r := ff(t, h, 0, "switch", "green", bgSvc, "-n", ns, "--reason", "release 1.5.0")
	switchedGreen := time.Now()
	if !strings.Contains(r.Stdout, "endpoints verified") {
		t.Errorf("switch output: %s", r.Stdout)
	}
	unchanged(t, h, ns, "switch", "green", bgSvc)

	ff(t, h, 0, "promote", bgSvc, "-n", ns, "--scale-down-delay", "1s", "--yes")
	if n := h.MustKubectl("-n", ns, "get", "deploy", bgBlue, "-o", "jsonpath={.spec.replicas}"); n != "0" {
		t.Errorf("promote left blue at %s replicas", n)
	}
	unchanged(t, h, ns, "promote", bgSvc, "--yes")

	ff(t, h, 0, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:1.6.0")
	beforeBlue := time.Now()
	ff(t, h, 0, "switch", "blue", bgSvc, "-n", ns)
	switchedBlue := time.Now()
	beforeRollback := time.Now()
	ff(t, h, 0, "rollback", bgSvc, "-n", ns)
	rolledBack := time.Now()
	if c := selectorColor(h, ns); c != "green" {
		t.Fatalf("rollback left the service on %s", c)
	}
	unchanged(t, h, ns, "rollback", bgSvc)

	// What clients could reach: never nothing, and after each switch completed, one color.
	if least := rec.MinReady(); least < 1 {
		t.Errorf("the service had %d ready endpoints at some moment:\n%s", least, strings.Join(rec.Colors("version"), "\n"))
	}
	for _, w := range []struct {
		from, to time.Time
		want     string
	}{{switchedGreen, beforeBlue, "green"}, {switchedBlue, beforeRollback, "blue"}, {rolledBack, time.Now(), "green"}} {
		if vals := valuesBetween(rec, w.from, w.to, "version"); len(vals) != 1 || !vals[w.want] {
			t.Errorf("after the switch to %s completed the service served %v:\n%s", w.want, vals, strings.Join(rec.Colors("version"), "\n"))
		}
	}

	var st struct {
		Kind       string `json:"kind"`
		Components []struct {
			Name          string `json:"name"`
			LiveColor     string `json:"liveColor"`
			LastOperation struct {
				Verb string `json:"verb"`
			} `json:"lastOperation"`
		} `json:"components"`
	}
	r = ff(t, h, 0, "status", "-n", ns, "-o", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Kind != "StatusReport" {
		t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
	}
	found := false
	for _, c := range st.Components {
		if c.Name == bgSvc {
			found = c.LiveColor == "green" && c.LastOperation.Verb == "rollback"
		}
	}
	if !found {
		t.Errorf("status does not show the rollback to green: %s", r.Stdout)
	}
}

func TestBlueGreenFailFast(t *testing.T) {
	h := harness.For(t)
	ns := bgSetup(t, h)
	start := time.Now()
	r := ff(t, h, 1, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:doesnotexist", "--timeout", "2m")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("deploy of a missing image took %s to fail", took)
	}
	if !strings.Contains(r.Stderr, "ImagePullBackOff") || !strings.Contains(r.Stderr, "not found or no access") {
		t.Errorf("no diagnosis: %s", r.Stderr)
	}
	// And the broken color is refused by switch, with nothing written.
	before := rv(h, ns, "svc", bgSvc)
	r = ff(t, h, 1, "switch", "green", bgSvc, "-n", ns)
	if !strings.Contains(r.Stderr, "refused, nothing was changed") || rv(h, ns, "svc", bgSvc) != before {
		t.Errorf("switch to a failing color: %s", r.Stderr)
	}
	// --auto-rollback restores the idle color.
	r = ff(t, h, 1, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:crashloop", "--auto-rollback")
	if !strings.Contains(r.Stderr, "CrashLoopBackOff") || !strings.Contains(r.Stderr, "rolled back") {
		t.Errorf("auto-rollback: %s", r.Stderr)
	}
	// Abort scales the failed idle color back to 0, traffic untouched; again: nothing.
	ff(t, h, 0, "abort", bgSvc, "-n", ns, "--yes")
	if n := h.MustKubectl("-n", ns, "get", "deploy", bgGreen, "-o", "jsonpath={.spec.replicas}"); n != "0" || selectorColor(h, ns) != "blue" {
		t.Errorf("abort left green at %s replicas, service on %s", n, selectorColor(h, ns))
	}
	unchanged(t, h, ns, "abort", bgSvc, "--yes")
	// The unknown container is an error (a request was needed to know), listing the containers.
	r = ff(t, h, 1, "deploy", bgSvc, "-n", ns, "--image", "nope=x:1")
	if !strings.Contains(r.Stderr, "backend, db-migrations (init)") {
		t.Errorf("unknown container: %s", r.Stderr)
	}
}

func TestBlueGreenRefusals(t *testing.T) {
	h := harness.For(t)
	ns := bgSetup(t, h)
	refuse := func(t *testing.T, want string, args ...string) {
		t.Helper()
		before := rv(h, ns, "svc", bgSvc)
		r := ff(t, h, 1, append(args, "-n", ns)...)
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("%v: stderr does not say %q:\n%s", args, want, r.Stderr)
		}
		if after := rv(h, ns, "svc", bgSvc); after != before {
			t.Errorf("%v changed the service (resourceVersion %s → %s)", args, before, after)
		}
	}
	t.Run("target not ready", func(t *testing.T) {
		refuse(t, "has 0 replicas", "switch", "green", bgSvc)
	})
	t.Run("unknown color", func(t *testing.T) {
		refuse(t, "colors: blue, green", "switch", "purple", bgSvc)
	})
	t.Run("service without the color key", func(t *testing.T) {
		r := ff(t, h, 1, "switch", "green", "feastflow-frontend", "-n", ns)
		if !strings.Contains(r.Stderr, `no color key "version"`) || !strings.Contains(r.Stderr, "--color-key") {
			t.Errorf("stderr: %s", r.Stderr)
		}
	})
	// From here on green is deployed and ready.
	ff(t, h, 0, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:1.5.0")
	t.Run("window closed", func(t *testing.T) {
		today := time.Now().UTC().Format(time.DateOnly)
		h.MustKubectl("annotate", "ns", ns, "feastflow.dev/freeze="+today+".."+time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly))
		defer h.MustKubectl("annotate", "ns", ns, "feastflow.dev/freeze-")
		refuse(t, "--override-window", "switch", "green", bgSvc)
	})
	t.Run("gitops owned", func(t *testing.T) {
		h.MustKubectl("-n", ns, "annotate", "svc", bgSvc, "argocd.argoproj.io/tracking-id=feastflow:/Service:x/feastflow-backend")
		defer h.MustKubectl("-n", ns, "annotate", "svc", bgSvc, "argocd.argoproj.io/tracking-id-")
		refuse(t, "managed by Argo CD", "switch", "green", bgSvc)
	})
	t.Run("dry runs write nothing", func(t *testing.T) {
		for _, mode := range []string{"client", "server"} {
			before := rv(h, ns, "svc", bgSvc)
			r := ff(t, h, 0, "switch", "green", bgSvc, "-n", ns, "--dry-run="+mode)
			if !strings.Contains(r.Stdout, "WOULD CHANGE") || rv(h, ns, "svc", bgSvc) != before {
				t.Errorf("--dry-run=%s: %s", mode, r.Stdout)
			}
		}
	})
	t.Run("targetPort not on the target pods", func(t *testing.T) {
		h.MustKubectl("-n", ns, "patch", "deploy", bgGreen, "--type=json", "-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/ports/0/name","value":"web"}]`)
		h.WaitForRollout(ns, bgGreen)
		refuse(t, `targets port name "http"`, "switch", "green", bgSvc)
	})
}

func TestBlueGreenConcurrentSwitch(t *testing.T) {
	h := harness.For(t)
	ns := bgSetup(t, h)
	// A third color, so that two switches from blue go to different colors.
	red := strings.ReplaceAll(h.MustKubectl("-n", ns, "get", "deploy", bgGreen, "-o", "json"), "green", "red")
	var obj map[string]any
	if err := json.Unmarshal([]byte(red), &obj); err != nil {
		t.Fatal(err)
	}
	meta := obj["metadata"].(map[string]any)
	obj["metadata"] = map[string]any{"name": meta["name"], "namespace": ns, "labels": meta["labels"]}
	delete(obj, "status")
	b, _ := json.Marshal(obj)
	h.Apply(ns, string(b))
	ff(t, h, 0, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:1.5.0", "--target-color", "green")
	ff(t, h, 0, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:1.5.0", "--target-color", "red")

	conflicts := 0
	for attempt := 0; attempt < 8 && conflicts == 0; attempt++ {
		ff(t, h, 0, "switch", "blue", bgSvc, "-n", ns)
		var wg sync.WaitGroup
		results := make([]harness.Result, 2)
		start := make(chan struct{})
		for i, color := range []string{"green", "red"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = h.Feastflow("switch", color, bgSvc, "-n", ns)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, r := range results {
			switch {
			case r.ExitCode == 0:
				wins++
			case r.ExitCode == 1 && strings.Contains(r.Stderr, "conflict"):
				conflicts++
			default:
				t.Fatalf("unexpected result: exit %d\n%s", r.ExitCode, r.Stderr)
			}
		}
		// Consistent either way: the selector is the color the last recorded switch went to.
		var ann map[string]string
		if err := json.Unmarshal([]byte(h.MustKubectl("-n", ns, "get", "svc", bgSvc, "-o", "jsonpath={.metadata.annotations}")), &ann); err != nil {
			t.Fatal(err)
		}
		var op struct{ From, To string }
		_ = json.Unmarshal([]byte(ann["feastflow.dev/last-operation"]), &op)
		var rec struct{ Live, Previous string }
		_ = json.Unmarshal([]byte(ann["feastflow.dev/release"]), &rec)
		if live := selectorColor(h, ns); op.To != live || rec.Live != live || rec.Previous != op.From {
			t.Fatalf("inconsistent service: selector %s, last operation %+v, release record %+v", live, op, rec)
		}
		if wins+conflicts != 2 || wins < 1 {
			t.Fatalf("attempt %d: %d wins, %d conflicts", attempt, wins, conflicts)
		}
	}
	if conflicts == 0 {
		t.Skip("the two switches never overlapped in 8 attempts; the precondition is covered by TestSwitchConflict")
	}
}

func TestBlueGreenRBAC(t *testing.T) {
	h := harness.For(t)
	ns := bgSetup(t, h)
	ff(t, h, 0, "deploy", bgSvc, "-n", ns, "--image", "ghcr.io/feastflow/backend:1.5.0")
	user := "bob-" + ns
	h.Apply(ns, fmt.Sprintf(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: release-no-patch}
rules:
- {apiGroups: [""], resources: [services, pods], verbs: [get, list, watch]}
- {apiGroups: [apps], resources: [deployments, replicasets], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [events], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: release-no-patch}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %s}]
`, user))
	h.Apply("", fmt.Sprintf(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[1]s-ns}
rules: [{apiGroups: [""], resources: [namespaces], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[1]s-ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[1]s-ns}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %[1]s}]
`, user))
	before := rv(h, ns, "svc", bgSvc)
	r := ff(t, h, 1, "switch", "green", bgSvc, "-n", ns, "--as", user)
	if !strings.Contains(r.Stderr, "patch services") || !strings.Contains(r.Stderr, "nothing was written") {
		t.Errorf("stderr does not name the missing permission: %s", r.Stderr)
	}
	if rv(h, ns, "svc", bgSvc) != before {
		t.Error("the service changed")
	}
}

// valuesBetween is every value of label key on a ready endpoint in the snapshots in effect
// from `from` to `to`.
func valuesBetween(rec *harness.EndpointRecorder, from, to time.Time, key string) map[string]bool {
	out := map[string]bool{}
	snaps := rec.Snapshots()
	for i, s := range snaps {
		end := to
		if i+1 < len(snaps) {
			end = snaps[i+1].At
		}
		if end.Before(from) || s.At.After(to) {
			continue
		}
		for v := range rec.LabelValues(s.Ready, key) {
			out[v] = true
		}
	}
	return out
}
