package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The bench script parses, and rejects a bad SCALE or PODS_PER_NODE with exit code 2 before
// it builds or starts anything.
func TestScaleScriptParsesAndRejectsBadInput(t *testing.T) {
	if out, err := exec.Command("bash", "-n", "../scale.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n bench/scale.sh: %v\n%s", err, out)
	}
	for _, env := range []string{"SCALE=lots", "PODS_PER_NODE=0", "PODS_PER_NODE=x"} {
		cmd := exec.Command("bash", "../scale.sh")
		cmd.Env = append(cmd.Environ(), env)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), strings.SplitN(env, "=", 2)[0]) {
			t.Errorf("%s: exit %v, output %q; want exit 2 naming the variable", env, err, out)
		}
	}
}

func TestPlanProportions(t *testing.T) {
	comps := plan(10000)
	if len(comps) != 667 {
		t.Fatalf("10k pods: %d components, want 667", len(comps))
	}
	pods, broken := 0, map[string]int{}
	for _, c := range comps {
		pods += int(c.replicas)
		if c.broken != "" {
			broken[c.broken]++
		}
	}
	if pods != 10000 || comps[len(comps)-1].ns != "scale-013" {
		t.Errorf("pods %d, last namespace %s", pods, comps[len(comps)-1].ns)
	}
	for _, w := range brokenWays {
		if broken[w] < 6 {
			t.Errorf("broken %s: %d components", w, broken[w])
		}
	}
}
