package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Rolling releases on examples/feastflow's frontend: one Deployment behind its Service.

const rlName = "feastflow-frontend"

func rlImage(t *testing.T, h *harness.H, ns string) string {
	t.Helper()
	return h.MustKubectl("-n", ns, "get", "deploy", rlName, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
}

// A bad image fails deploy within seconds of the pod failing, with the cause; with
// --auto-rollback the previous image is back and available.
func TestRollingDeployFailFast(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, rlName)
	cnRun(t, h, 0, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:1.5.0", "-n", ns)

	start := time.Now()
	r := cnRun(t, h, 1, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:notfound", "-n", ns)
	took := time.Since(start)
	if !strings.Contains(r.Stderr, "ImagePullBackOff") || !strings.Contains(r.Stderr, "frontend:notfound") {
		t.Errorf("deploy of a missing image:\n%s", r.Stderr)
	}
	// kwok fails the pull as soon as the pod is scheduled: the whole command, pod creation
	// included, must fit in the 5 s budget.
	if took > 5*time.Second {
		t.Errorf("deploy took %s to report the failed pull", took)
	}
	// Back to a good image, then the same failure with --auto-rollback.
	cnRun(t, h, 0, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:1.5.0", "-n", ns)
	r = cnRun(t, h, 1, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:crashloop", "--auto-rollback", "-n", ns)
	if !strings.Contains(r.Stderr, "CrashLoopBackOff") || !strings.Contains(r.Stderr, "rolled deployment feastflow-frontend back to revision") {
		t.Errorf("deploy --auto-rollback:\n%s", r.Stderr)
	}
	if img := rlImage(t, h, ns); img != "ghcr.io/feastflow/frontend:1.5.0" {
		t.Errorf("image after auto-rollback: %s", img)
	}
	h.WaitForRollout(ns, rlName)
}

var rlHistoryLine = regexp.MustCompile(`^(\d+)\s+(.*)$`)

// history and rollback --to-revision agree with kubectl rollout history; rollback of a
// paused Deployment is refused with kubectl's reason.
func TestRollingHistoryAndRollback(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, rlName)
	for _, v := range []string{"2.0.0", "2.1.0"} {
		cnRun(t, h, 0, "deploy", rlName, "--image", "ghcr.io/feastflow/frontend:"+v, "-n", ns)
	}
	kubectlHistory := func() map[string]string {
		out := h.MustKubectl("-n", ns, "rollout", "history", "deploy/"+rlName)
		got := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if m := rlHistoryLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				got[m[1]] = strings.TrimSpace(m[2])
			}
		}
		return got
	}
	ourHistory := func() (map[string]string, map[string]string) {
		r := cnRun(t, h, 0, "history", rlName, "-o", "json", "-n", ns)
		var res strategy.HistoryResult
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || len(res.Deployments) != 1 {
			t.Fatalf("history -o json: %v\n%s", err, r.Stdout)
		}
		causes, images := map[string]string{}, map[string]string{}
		for _, rev := range res.Deployments[0].Revisions {
			cause := rev.ChangeCause
			if cause == "" {
				cause = "<none>"
			}
			causes[fmt.Sprint(rev.Revision)] = cause
			images[fmt.Sprint(rev.Revision)] = rev.Images[0].Image
		}
		return causes, images
	}
	causes, images := ourHistory()
	if fmt.Sprint(causes) != fmt.Sprint(kubectlHistory()) {
		t.Errorf("history %v, kubectl rollout history %v", causes, kubectlHistory())
	}
	if images["1"] != "ghcr.io/feastflow/frontend:1.4.0" || images["3"] != "ghcr.io/feastflow/frontend:2.1.0" {
		t.Errorf("history images: %v", images)
	}

	cnRun(t, h, 0, "rollback", rlName, "--to-revision", "1", "-n", ns)
	if img := rlImage(t, h, ns); img != "ghcr.io/feastflow/frontend:1.4.0" {
		t.Errorf("image after rollback --to-revision 1: %s", img)
	}
	causes, _ = ourHistory()
	if fmt.Sprint(causes) != fmt.Sprint(kubectlHistory()) {
		t.Errorf("after rollback: history %v, kubectl rollout history %v", causes, kubectlHistory())
	}
	// Re-running it is a no-op (kubectl would say revision 1 is not found: it is revision 4
	// now), and so is rolling back to revision 4 itself. Neither writes.
	before := cnRV(h, ns, "deploy", rlName)
	r0 := cnRun(t, h, 0, "rollback", rlName, "--to-revision", "1", "-n", ns)
	if !strings.Contains(r0.Stdout, "already runs revision 1 (renumbered 4") {
		t.Errorf("re-run of rollback --to-revision 1:\n%s", r0.Stdout)
	}
	r := cnRun(t, h, 0, "rollback", rlName, "--to-revision", "4", "-n", ns)
	if !strings.Contains(r.Stdout, "current template already matches revision 4") || cnRV(h, ns, "deploy", rlName) != before {
		t.Errorf("rollback to the current revision:\n%s", r.Stdout)
	}

	cnRun(t, h, 0, "pause", rlName, "-n", ns)
	r = cnRun(t, h, 1, "rollback", rlName, "-n", ns)
	if !strings.Contains(r.Stderr, "you cannot rollback a paused deployment; resume it first") {
		t.Errorf("rollback of a paused deployment:\n%s", r.Stderr)
	}
	r = cnRun(t, h, 1, "restart", rlName, "-n", ns)
	if !strings.Contains(r.Stderr, "can't restart paused deployment") {
		t.Errorf("restart of a paused deployment:\n%s", r.Stderr)
	}
	cnRun(t, h, 0, "resume", rlName, "-n", ns)
	cnRun(t, h, 0, "rollback", rlName, "-n", ns)
	if img := rlImage(t, h, ns); img != "ghcr.io/feastflow/frontend:2.1.0" {
		t.Errorf("image after rollback to the previous revision: %s", img)
	}
}
