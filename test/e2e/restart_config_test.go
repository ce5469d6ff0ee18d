package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// Three components with names and config the suite has seen nowhere else: "ledger" reads
// ConfigMap "tariffs" through envFrom, "invoicer" reads a key of "tariffs" and Secret
// "smtp-login", "archiver" mounts ConfigMap "retention" as a volume.
const rcManifests = `
apiVersion: v1
kind: ConfigMap
metadata: {name: tariffs}
data: {VAT: "19"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: retention}
data: {DAYS: "30"}
---
apiVersion: v1
kind: Secret
metadata: {name: smtp-login}
stringData: {password: s3cr3t-never-printed}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger}
spec:
  replicas: 2
  selector: {matchLabels: {svc: ledger}}
  template:
    metadata: {labels: {svc: ledger}}
    spec:
      containers:
      - name: main
        image: registry.example/ledger:3
        envFrom: [{configMapRef: {name: tariffs}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: invoicer}
spec:
  replicas: 1
  selector: {matchLabels: {svc: invoicer}}
  template:
    metadata: {labels: {svc: invoicer}}
    spec:
      containers:
      - name: main
        image: registry.example/invoicer:7
        env:
        - {name: VAT, valueFrom: {configMapKeyRef: {name: tariffs, key: VAT}}}
        - {name: SMTP_PASSWORD, valueFrom: {secretKeyRef: {name: smtp-login, key: password}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: archiver}
spec:
  replicas: 1
  selector: {matchLabels: {svc: archiver}}
  template:
    metadata: {labels: {svc: archiver}}
    spec:
      containers:
      - name: main
        image: registry.example/archiver:1
        volumeMounts: [{name: cfg, mountPath: /etc/retention}]
      volumes: [{name: cfg, configMap: {name: retention}}]
---
apiVersion: v1
kind: Service
metadata: {name: ledger}
spec: {selector: {svc: ledger}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: invoicer}
spec: {selector: {svc: invoicer}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: archiver}
spec: {selector: {svc: archiver}, ports: [{port: 80}]}
`

// restart --changed-config decides by the resourceVersions each deploy and restart records
// on the pod template, not by clocks: right after a restart (no waiting, no sleep) it
// changes nothing; after an edit of a ConfigMap or a Secret it restarts exactly the
// Deployments that reference it, and a re-run changes nothing again.
func TestRestartChangedConfigByVersion(t *testing.T) {
	h := harness.For(t)
	ns := h.NewNamespace()
	h.Apply(ns, rcManifests)
	deps := []string{"archiver", "invoicer", "ledger"}
	for _, d := range deps {
		h.WaitForRollout(ns, d)
	}
	generations := func() map[string]string {
		out := map[string]string{}
		for _, d := range deps {
			out[d] = h.MustKubectl("-n", ns, "get", "deploy", d, "-o", "jsonpath={.metadata.generation}")
		}
		return out
	}
	// restarted runs restart --all --changed-config -o json and returns the Deployments
	// restarted, checking that the generations of exactly those moved.
	restarted := func(what string) []string {
		t.Helper()
		before := generations()
		r := cnRun(t, h, 0, "restart", "--all", "--changed-config", "-n", ns, "-o", "json")
		var res struct {
			Changed   bool `json:"changed"`
			Restarted []struct {
				Deployment string `json:"deployment"`
				Because    []struct {
					Name, By string
				} `json:"because"`
			} `json:"restarted"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, r.Stdout)
		}
		var names []string
		for _, d := range res.Restarted {
			names = append(names, d.Deployment)
			for _, b := range d.Because {
				if b.By != "resourceVersion" {
					t.Errorf("%s: %s found stale by %s, want by resourceVersion:\n%s", what, d.Deployment, b.By, r.Stdout)
				}
			}
		}
		sort.Strings(names)
		after := generations()
		for _, d := range deps {
			moved := after[d] != before[d]
			if moved != contains(names, d) {
				t.Errorf("%s: deployment %s generation %s → %s, reported restarted: %v", what, d, before[d], after[d], names)
			}
		}
		if strings.Contains(r.Stdout+r.Stderr, "s3cr3t-never-printed") {
			t.Errorf("%s: the Secret's value was printed", what)
		}
		return names
	}

	// A restart records the versions; --changed-config right after it has nothing to do,
	// within the same second as the restart's pods start.
	cnRun(t, h, 0, "restart", "--all", "-n", ns, "--reason", "baseline")
	if got := restarted("right after a restart"); len(got) != 0 {
		t.Errorf("right after a restart, restarted %v", got)
	}
	ann := h.MustKubectl("-n", ns, "get", "deploy", "invoicer", "-o", `jsonpath={.spec.template.metadata.annotations.feastflow\.dev/config-versions}`)
	if !strings.Contains(ann, "configmap/tariffs=") || !strings.Contains(ann, "secret/smtp-login=") {
		t.Errorf("invoicer's template records %q", ann)
	}

	h.MustKubectl("-n", ns, "patch", "configmap", "tariffs", "--type=merge", "-p", `{"data":{"VAT":"21"}}`)
	if got := fmt.Sprint(restarted("after a ConfigMap edit")); got != "[invoicer ledger]" {
		t.Errorf("after editing configmap/tariffs, restarted %s, want [invoicer ledger]", got)
	}
	if got := restarted("re-run"); len(got) != 0 {
		t.Errorf("re-run restarted %v", got)
	}

	h.MustKubectl("-n", ns, "patch", "secret", "smtp-login", "--type=merge", "-p", `{"stringData":{"password":"rotated"}}`)
	if got := fmt.Sprint(restarted("after a Secret edit")); got != "[invoicer]" {
		t.Errorf("after editing secret/smtp-login, restarted %s, want [invoicer]", got)
	}

	// A second writer: kubectl rollout restart does not touch the record, which stays
	// true; a deploy by the plugin records the versions too.
	h.MustKubectl("-n", ns, "rollout", "restart", "deploy/archiver")
	cnRun(t, h, 0, "deploy", "ledger", "--image", "registry.example/ledger:4", "-n", ns)
	h.MustKubectl("-n", ns, "patch", "configmap", "retention", "--type=merge", "-p", `{"data":{"DAYS":"90"}}`)
	if got := fmt.Sprint(restarted("after a second writer and a deploy")); got != "[archiver]" {
		t.Errorf("after editing configmap/retention, restarted %s, want [archiver]", got)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
