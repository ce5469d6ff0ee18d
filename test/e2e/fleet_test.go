package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// fleetApp is a rolling component (Service web + Deployment web); image sets its image.
func fleetApp(ns, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %[1]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: %[2]s
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: %[1]s
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, ns, image)
}

// TestFleetStatusAndDiagnose runs status and diagnose across three real clusters and a
// fourth context that may read nothing: one table with a CONTEXT column, the forbidden
// context reported without hiding the others, the exit code the worst of the contexts.
func TestFleetStatusAndDiagnose(t *testing.T) {
	h := harness.For(t)
	extra := h.ExtraClusters(2, 1)
	ns := h.NewNamespace()
	kubeconfigs := []string{h.Env.Kubeconfig, extra[0].Kubeconfig, extra[1].Kubeconfig}
	images := []string{"registry.example/web:1.0", "registry.example/web:1.0", "registry.example/web:notfound"}
	for i, kc := range kubeconfigs {
		if r := h.KubectlStdin(fleetApp(ns, images[i]), "--kubeconfig", kc, "apply", "-f", "-"); r.ExitCode != 0 {
			t.Fatalf("apply in cluster %d: %s%s", i, r.Stdout, r.Stderr)
		}
	}
	for _, kc := range kubeconfigs[:2] {
		h.MustKubectl("--kubeconfig", kc, "rollout", "status", "deploy/web", "-n", ns, "--timeout", "2m")
	}
	kc := h.WriteKubeconfig(
		harness.KubeconfigContext{Name: "east", From: kubeconfigs[0], Namespace: ns},
		harness.KubeconfigContext{Name: "west", From: kubeconfigs[1], Namespace: ns},
		harness.KubeconfigContext{Name: "south", From: kubeconfigs[2], Namespace: ns},
		harness.KubeconfigContext{Name: "locked", From: kubeconfigs[0], Namespace: ns, As: "e2e-fleet-nobody"},
	)

	r := h.FeastflowWith(kc, "status", "--contexts", "east,west,south,locked")
	if r.ExitCode != 1 {
		t.Fatalf("status: exit %d, want 1 (the locked context is forbidden)\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	lines := strings.Split(r.Stdout, "\n")
	if !strings.HasPrefix(lines[0], "[east] ") && !strings.HasPrefix(lines[0], "CONTEXT") {
		t.Errorf("status output starts with %q", lines[0])
	}
	for _, c := range []string{"east", "west", "south"} {
		if !hasRow(r.Stdout, c, "web", "rolling") {
			t.Errorf("status: no component row for %s:\n%s", c, r.Stdout)
		}
	}
	if !hasRow(r.Stdout, "locked", "exit", "1:") || !strings.Contains(r.Stdout, "forbidden") {
		t.Errorf("status: the locked context is not reported as forbidden:\n%s", r.Stdout)
	}
	if strings.Count(r.Stdout, "CONTEXT   COMPONENT") != 1 {
		t.Errorf("status: want one component table across contexts:\n%s", r.Stdout)
	}

	r = h.FeastflowWith(kc, "diagnose", "--all-contexts", "--max-parallel", "2", "-o", "json")
	var res struct {
		Kind  string
		Items []struct {
			Context  string
			ExitCode int
			Error    string
			Result   json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("diagnose -o json: %v\n%s%s", err, r.Stdout, r.Stderr)
	}
	codes := map[string]int{}
	for _, it := range res.Items {
		codes[it.Context] = it.ExitCode
		if it.Context == "south" && !strings.Contains(string(it.Result), "notfound") {
			t.Errorf("diagnose south: the missing image is not reported: %s", it.Result)
		}
	}
	// What a diagnosis that may read nothing exits with is diagnose's own policy (issue 11:
	// forbidden is never healthy); the fleet's part is to report it and to exit with the worst.
	if res.Kind != "FleetResult" || len(res.Items) != 4 || codes["east"] != 0 || codes["west"] != 0 || codes["south"] != 3 {
		t.Errorf("diagnose: kind %s, exit codes %v; want east/west 0, south 3\n%s", res.Kind, codes, r.Stderr)
	}
	worst := 3
	if codes["locked"] == 1 {
		worst = 1
	}
	if r.ExitCode != worst {
		t.Errorf("diagnose: exit %d, want %d (the worst of %v)", r.ExitCode, worst, codes)
	}

	// Without the forbidden context the worst is the problem found in south.
	r = h.FeastflowWith(kc, "diagnose", "--contexts", "east,west,south")
	if r.ExitCode != 3 || !hasRow(r.Stdout, "south", "1", "outage", "error") {
		t.Errorf("diagnose east,west,south: exit %d, want 3 with south's finding in the table\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// hasRow reports whether a line of out starts with the given cells (whitespace-separated).
func hasRow(out string, cells ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < len(cells) {
			continue
		}
		match := true
		for i, c := range cells {
			if f[i] != c {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
