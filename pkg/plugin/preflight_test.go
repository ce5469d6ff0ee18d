package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

func runPreflight(t *testing.T, clients troubleshootClientsFunc, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &preflightOptions{streams: streams, clients: clients, now: func() time.Time { return diagNow }, color: func() bool { return false }}
	cmd := newPreflightCmdWith(o, nil)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func TestPreflightCmd(t *testing.T) {
	// The web Deployment has no probes, no requests, one replica and an unpinned image:
	// FAIL lines, exit 3. The fixture denies creating Events.
	objs := append(healthyShop(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}})
	out, errOut, code := runPreflight(t, troubleshootFixture(t, objs...), "web")
	if code != ExitProblems {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"STATUS   CHECK       OBJECT           MESSAGE\n",
		"PASS     cluster     <none>           cluster reachable, Kubernetes",
		"FAIL     rbac        <none>           not allowed in namespace shop: create events\n",
		"FAIL     probes      deployment/web   no readinessProbe on container app",
		"WARN     replicas    deployment/web   1 replica: a drain or a crash is downtime",
		"  fix:     rbac: bind the feastflow-release Role",
		"           deployment/web replicas: kubectl feastflow scale web --replicas 2 -n shop",
		"not ready: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, "preflight check(s) at or above error") {
		t.Errorf("stderr = %q", errOut)
	}
	if strings.Contains(out+errOut, plantedSecret) {
		t.Error("a Secret value reached the output")
	}
}

func TestPreflightCmdJSON(t *testing.T) {
	objs := append(healthyShop(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	out, _, code := runPreflight(t, troubleshootFixture(t, objs...), "-o", "json")
	if code != ExitProblems { // rbac denied by the fake
		t.Fatalf("code %d", code)
	}
	var r troubleshoot.PreflightReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if r.Kind != "PreflightReport" || r.Namespace != "shop" || r.Summary.Fail != 1 {
		t.Errorf("report = %+v", r)
	}
}

func TestPreflightCmdUsageAndNotFound(t *testing.T) {
	for _, args := range [][]string{{"preflight", "a", "b"}, {"diagnose", "a", "b"}, {"preflight", "--fail-on", "x"}} {
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		root := newRootCmd(genericclioptions.NewConfigFlags(true), streams)
		root.SetArgs(append(args, "--kubeconfig", "/nonexistent"))
		if err := Execute(context.Background(), root); ExitCode(err) != ExitUsage {
			t.Errorf("%v: %v (exit %d), want a usage error", args, err, ExitCode(err))
		}
	}
	if _, errOut, code := runPreflight(t, troubleshootFixture(t, healthyShop()...), "nope"); code != ExitError || !strings.Contains(errOut, `Service "nope" not found in namespace shop`) {
		t.Errorf("unknown component: code %d, stderr %q", code, errOut)
	}
}
