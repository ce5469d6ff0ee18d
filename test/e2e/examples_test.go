package e2e

import (
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

func TestExampleFeastflowBecomesReady(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	pvc := h.WaitForPVCBound(ns, "postgres-data")
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "standard" {
		t.Errorf("claim bound through class %v, want the default class standard", pvc.Spec.StorageClassName)
	}
	for _, d := range []string{"postgres", "feastflow-backend-blue", "feastflow-backend-green", "feastflow-frontend"} {
		h.WaitForRollout(ns, d)
	}
	h.WaitForPodsReady(ns, "", 5) // postgres 1, backend-blue 2, frontend 2
	rec := h.RecordEndpoints(ns, "feastflow-backend")
	rec.WaitUntil("2 blue endpoints", func(ready []harness.Endpoint) bool {
		return rec.LabelValues(ready, "version")["blue"] == 2 && len(ready) == 2
	})
	h.MustKubectl("get", "ingress/feastflow", "poddisruptionbudget/feastflow-backend", "-n", ns)
}

func TestExampleCanaryBecomesReady(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow-canary")
	h.WaitForRollout(ns, "feastflow-backend-stable")
	h.WaitForRollout(ns, "feastflow-backend-canary")
	h.WaitForPodsReady(ns, "app=feastflow-backend", 10)
	rec := h.RecordEndpoints(ns, "feastflow-backend")
	rec.WaitUntil("9 stable and 1 canary endpoints", func(ready []harness.Endpoint) bool {
		v := rec.LabelValues(ready, "track")
		return v["stable"] == 9 && v["canary"] == 1
	})
}

// TestClusterEndpointRecorder checks the recorder itself on a hand-made blue-green switch
// (a selector patch, no plugin): the ready set never shrinks below the live color's replicas
// and, once switched, only green serves.
func TestClusterEndpointRecorder(t *testing.T) {
	h := harness.For(t)
	ns := h.ApplyExample("feastflow")
	h.WaitForRollout(ns, "feastflow-backend-blue")
	h.MustKubectl("scale", "-n", ns, "deployment/feastflow-backend-green", "--replicas=2")
	h.WaitForRollout(ns, "feastflow-backend-green")
	rec := h.RecordEndpoints(ns, "feastflow-backend")
	rec.WaitUntil("2 blue endpoints", func(ready []harness.Endpoint) bool { return len(ready) == 2 })

	h.MustKubectl("patch", "-n", ns, "service/feastflow-backend", "-p", `{"spec":{"selector":{"version":"green"}}}`)
	rec.WaitUntil("only green endpoints", func(ready []harness.Endpoint) bool {
		v := rec.LabelValues(ready, "version")
		return v["green"] == 2 && len(ready) == 2
	})
	switched := rec.Snapshots()[len(rec.Snapshots())-1].At
	if got := rec.ValuesSince(switched, "version"); len(got) != 1 || !got["green"] {
		t.Errorf("colors after the switch: %v", got)
	}
	if n := rec.MinReady(); n < 1 {
		t.Errorf("ready endpoints dropped to %d during the switch; history %v", n, rec.Colors("version"))
	}
	t.Logf("endpoint history: %v", rec.Colors("version"))
}
