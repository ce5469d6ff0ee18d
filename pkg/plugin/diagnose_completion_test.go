package plugin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// completionServer answers the LISTs completion makes: Services (typed) and, as metadata,
// Deployments and Nodes.
func completionServer(t *testing.T) genericclioptions.RESTClientGetter {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces/shop/services":
			fmt.Fprint(w, `{"kind":"ServiceList","apiVersion":"v1","items":[{"metadata":{"name":"api"}},{"metadata":{"name":"web"}}]}`)
		case "/apis/apps/v1/namespaces/shop/deployments":
			fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","items":[{"metadata":{"name":"web"}},{"metadata":{"name":"api"}}]}`)
		case "/api/v1/nodes":
			fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","items":[{"metadata":{"name":"node-1"}}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q}}]\ncontexts: [{name: c, context: {cluster: c, namespace: shop}}]\ncurrent-context: c\nusers: []\n", srv.URL)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kc
	return flags
}

func TestCompleteDiagnoseEveryForm(t *testing.T) {
	complete := completeDiagnose(completionServer(t))
	for _, tc := range []struct {
		args       []string
		toComplete string
		want       string
	}{
		{nil, "", "pod deploy svc node sts ds job cronjob ing hpa pdb pvc api web"},
		{nil, "deploy/", "deploy/api deploy/web"},
		{nil, "no/", "no/node-1"},
		{[]string{"deploy"}, "", "api web"},
		{[]string{"deploy", "web"}, "", "api"},
		{[]string{"svc/api"}, "", "pod/ deploy/ svc/ node/ sts/ ds/ job/ cronjob/ ing/ hpa/ pdb/ pvc/"},
		{[]string{"svc/api"}, "deploy/", "deploy/api deploy/web"},
		{[]string{"nosuchtype"}, "", ""},
	} {
		got, dir := complete(&cobra.Command{}, tc.args, tc.toComplete)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("complete(%v, %q) = %v, want %q", tc.args, tc.toComplete, got, tc.want)
		}
		if dir&cobra.ShellCompDirectiveNoFileComp == 0 {
			t.Errorf("complete(%v, %q): files offered", tc.args, tc.toComplete)
		}
	}
}
