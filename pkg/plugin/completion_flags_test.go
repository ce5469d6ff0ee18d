package plugin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGlobalFlagCompletion(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/api/v1/namespaces" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"kind":"NamespaceList","apiVersion":"v1","items":[{"metadata":{"name":"payments"}},{"metadata":{"name":"kube-system"}}]}`))
	}))
	defer api.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "status", "-n", ""}, "kube-system\npayments\n:4\n"},
		{[]string{"__complete", "maintenance", "drain", "--namespace", ""}, "kube-system\npayments\n:4\n"},
		{[]string{"__complete", "status", "--context", ""}, "test\n:4\n"},
		{[]string{"__complete", "diagnose", "--cluster", ""}, "test\n:4\n"},
		{[]string{"__complete", "diagnose", "--user", ""}, "alice\n:4\n"},
	} {
		r := run(t, testFlags(t, api.URL), tc.args...)
		if got := r.stdout; got != tc.want {
			t.Errorf("%s: got %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
