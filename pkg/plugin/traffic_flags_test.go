package plugin

import (
	"strings"
	"testing"
)

// Bad traffic-check flags are usage errors: exit 2, one line, no request.
func TestTrafficFlagsUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"smoke path without slash", []string{"switch", "green", "web", "--smoke", "health"}, `invalid --smoke "health"`},
		{"smoke and no-smoke", []string{"switch", "green", "web", "--smoke", "/h", "--no-smoke"}, "--smoke or --no-smoke"},
		{"zero smoke timeout", []string{"promote", "web", "--smoke-timeout", "0s"}, "invalid --smoke-timeout"},
		{"analysis and no-analysis", []string{"canary-step", "web", "--analysis", "--no-analysis"}, "--analysis or --no-analysis"},
		{"error increase above 100", []string{"canary-step", "web", "--max-error-increase", "101"}, "invalid --max-error-increase"},
		{"negative min requests", []string{"canary-step", "web", "--min-requests=-1"}, "invalid --min-requests"},
		{"empty metric", []string{"canary-step", "web", "--requests-metric", ""}, "must not be empty"},
		{"probe without a service", []string{"diagnose", "pod/web-1", "--probe", "/h"}, "--probe needs a Service"},
		{"probe path without slash", []string{"diagnose", "svc/web", "--probe", "h"}, `invalid --probe "h"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t)
			r := run(t, testFlags(t, srv.URL), tt.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, ExitUsage, tt.want)
			}
			if n := srv.requests.Load(); n != 0 {
				t.Errorf("%d API requests sent for a usage error", n)
			}
		})
	}
}
