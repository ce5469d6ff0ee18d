package plugin

import (
	"bytes"
	"testing"
	"time"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

func TestRenderAnalyses(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	rep := &strategy.StatusReport{Components: []strategy.ComponentStatus{
		{Name: "web"},
		{Name: "pay\x1b[31m", Canary: &strategy.CanaryWeight{Analysis: &traffic.AnalysisResult{
			Service: "pay", WindowSeconds: 30, Verdict: traffic.VerdictFailed, At: now.Add(-90 * time.Second),
			Canary: traffic.TrackResult{Requests: 100, ErrorPercent: 5}, Stable: traffic.TrackResult{Requests: 300},
			Reasons: []string{"error ratio 5 % on the canary vs 0 % on stable"},
		}}},
	}}
	var b bytes.Buffer
	if err := renderAnalyses(&b, rep, now); err != nil {
		t.Fatal(err)
	}
	want := "\nCanary analysis (last recorded):\n  pay\\x1b[31m: canary analysis failed over 30s: canary 100 requests, 5 % errors, p95 -; stable 300 requests, 0 % errors, p95 - (90s ago): error ratio 5 % on the canary vs 0 % on stable\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}
