package plugin

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// waveFixture is a kubeconfig with a context whose server forbids everything (locked) and
// two whose servers answer nothing a release verb needs (x, y), each with its own counter.
func waveFixture(t *testing.T) (string, map[string]*atomic.Int64) {
	t.Helper()
	counts := map[string]*atomic.Int64{"locked": {}, "xx": {}, "yy": {}}
	kc := writeFleetKubeconfig(t, map[string]string{
		"locked": fleetServer(t, "n", true, counts["locked"]).URL,
		"xx":     fleetServer(t, "n", false, counts["xx"]).URL,
		"yy":     fleetServer(t, "n", false, counts["yy"]).URL,
	})
	return kc, counts
}

func TestWaveStopsAtTheFirstFailedContext(t *testing.T) {
	kc, counts := waveFixture(t)
	out, stderr, code := runFleetCmd(t, "switch", "green", "web", "--kubeconfig", kc, "--contexts", "locked,xx,yy")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
	if !hasFields(out, "locked", "1", "failed", "exit", "1:") || !hasFields(out, "xx", "2", "not", "started", "-") || !hasFields(out, "yy", "3", "not", "started") {
		t.Errorf("outcome table:\n%s", out)
	}
	if !strings.Contains(stderr, "wave 1 stopped the release") || !strings.Contains(stderr, "not started: xx, yy") {
		t.Errorf("stderr: %s", stderr)
	}
	if counts["xx"].Load() != 0 || counts["yy"].Load() != 0 {
		t.Errorf("contexts of later waves were contacted: x %d, y %d requests", counts["xx"].Load(), counts["yy"].Load())
	}
}

func TestWaveOfTwoRunsBothThenStops(t *testing.T) {
	kc, counts := waveFixture(t)
	out, stderr, code := runFleetCmd(t, "rollback", "web", "--kubeconfig", kc, "--contexts", "xx,locked,yy", "--wave-size", "2", "-o", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	var res FleetResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	states := map[string]string{}
	for _, it := range res.Items {
		states[it.Context] = it.State + "/" + string(rune('0'+it.Wave))
	}
	if res.Verb != "rollback" || states["xx"] != "failed/1" || states["locked"] != "failed/1" || states["yy"] != "not started/2" {
		t.Errorf("verb %q states %v", res.Verb, states)
	}
	if counts["yy"].Load() != 0 {
		t.Errorf("y was contacted")
	}
}

func TestWaveUsageErrorsMakeNoRequest(t *testing.T) {
	kc, counts := waveFixture(t)
	for _, args := range [][]string{
		{"--contexts", "xx", "--wave-size", "0"},
		{"--wave-size", "2"},
		{"--contexts", "xx,zz"},
		{"--contexts", "xx", "--context", "xx"},
	} {
		_, stderr, code := runFleetCmd(t, append([]string{"switch", "green", "web", "--kubeconfig", kc}, args...)...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
	// promote asks before it acts: across contexts it needs --yes (a dry run does not).
	if _, stderr, code := runFleetCmd(t, "promote", "web", "--kubeconfig", kc, "--contexts", "xx"); code != ExitUsage || !strings.Contains(stderr, "give --yes") {
		t.Errorf("promote --contexts without --yes: exit %d (%s)", code, stderr)
	}
	for name, c := range counts {
		if c.Load() != 0 {
			t.Errorf("%s: %d requests made by usage errors", name, c.Load())
		}
	}
	// A dry run asks nothing, so it needs no --yes.
	if _, stderr, code := runFleetCmd(t, "promote", "web", "--kubeconfig", kc, "--contexts", "xx", "--dry-run"); code == ExitUsage {
		t.Errorf("promote --contexts --dry-run: a usage error (%s)", stderr)
	}
}

func TestWaveVerbsHaveTheFlags(t *testing.T) {
	root := NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	for path := range waveVerbs() {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd.Flags().Lookup("contexts") == nil || cmd.Flags().Lookup("wave-size") == nil {
			t.Errorf("%s: no wave flags (%v)", path, err)
		}
	}
}

// hasFields reports whether a line of out starts with the given whitespace-separated cells.
func hasFields(out string, cells ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= len(cells) && strings.Join(f[:len(cells)], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

// The flags the user gave reach every context's copy of the verb: a dry run stays a dry run.
func TestFleetReplaysTheVerbFlags(t *testing.T) {
	streams := genericiooptions.NewTestIOStreamsDiscard()
	root := NewRootCmd(streams)
	cmd, _, err := root.Find([]string{"switch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags([]string{"--dry-run=server", "--reason", "r 1", "--contexts", "a,b", "--wave-size", "2", "-n", "shop"}); err != nil {
		t.Fatal(err)
	}
	sub := newSwitchCmd(nil, streams)
	(&cobra.Command{Use: "feastflow"}).AddCommand(sub)
	if err := replayFlags(cmd, sub); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"dry-run": "server", "reason": "r 1"} {
		if got := sub.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s on the copy = %q, want %q", name, got, want)
		}
	}
}
