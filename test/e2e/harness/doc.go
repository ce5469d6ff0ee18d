// Package harness runs end-to-end tests of kubectl feastflow against a real local cluster
// (see internal/localcluster): one cluster per `go test` run, started on first use and
// stopped when the test binary ends, and the plugin run through the real kubectl.
//
// A test package wires it once:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
//
// and each test takes a handle with For:
//
//	func TestSwitchKeepsEndpoints(t *testing.T) {
//		h := harness.For(t)
//		ns := h.ApplyExample("feastflow")           // a private copy of examples/feastflow
//		h.WaitForRollout(ns, "feastflow-backend-blue")
//		rec := h.RecordEndpoints(ns, "feastflow-backend")
//		h.MustKubectl("scale", "-n", ns, "deploy/feastflow-backend-green", "--replicas=2")
//		h.WaitForRollout(ns, "feastflow-backend-green")
//		switched := time.Now()
//		r := h.Feastflow("switch", "green", "-n", ns)
//		if r.ExitCode != 0 {
//			t.Fatalf("switch: %s", r.Stderr)
//		}
//		rec.WaitUntil("only green endpoints", func(ready []harness.Endpoint) bool {
//			return len(ready) == 2 && rec.LabelValues(ready, "version")["green"] == 2
//		})
//		if n := rec.MinReady(); n < 2 {
//			t.Errorf("ready endpoints dropped to %d", n)
//		}
//		if got := rec.ValuesSince(switched.Add(time.Second), "version"); len(got) != 1 || !got["green"] {
//			t.Errorf("colors served after the switch: %v", got)
//		}
//	}
//
// Environment:
//
//	FEASTFLOW_KUBECONFIG       use this cluster instead of starting one (it is never stopped)
//	FEASTFLOW_PLUGIN           the kubectl-feastflow binary to test (default: go build ./cmd/kubectl-feastflow)
//	FEASTFLOW_BIN              the cluster binaries (default: <module>/.cache/bin, see make cluster-bins)
//	FEASTFLOW_POD_READY_DELAY  readiness delay of every pod in the started cluster, e.g. 500ms
//	FEASTFLOW_KEEP_CLUSTER=1   leave the started cluster running and print its kubeconfig
//
// Relative paths in these variables are taken from the module root.
//
// Waits are built on watches with a deadline (WaitFor); tests never sleep.
package harness
