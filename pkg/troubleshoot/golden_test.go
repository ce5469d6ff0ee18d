package troubleshoot

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
)

// Every report the fixtures give (every f.diagnose in this package's tests) is compared
// byte for byte with the one recorded in testdata/golden-reports.json before the analysis
// moved from typed objects to its own records: the change must leave every finding, summary
// and skipped list as it was. `go test ./pkg/troubleshoot -golden-update` records them again
// (only when a finding is meant to change).
var goldenUpdate = flag.Bool("golden-update", false, "record testdata/golden-reports.json from this run")

const goldenFile = "testdata/golden-reports.json"

var golden struct {
	sync.Mutex
	want, got map[string]string
	seen      map[string]int
}

func TestMain(m *testing.M) {
	flag.Parse()
	golden.got, golden.seen = map[string]string{}, map[string]int{}
	if b, err := os.ReadFile(goldenFile); err == nil {
		if err := json.Unmarshal(b, &golden.want); err != nil {
			fmt.Fprintln(os.Stderr, "golden:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if *goldenUpdate && code == 0 {
		keys := make([]string, 0, len(golden.got))
		for k := range golden.got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b, err := json.MarshalIndent(golden.got, "", " ")
		if err == nil {
			err = os.WriteFile(goldenFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "golden:", err)
			code = 1
		}
		fmt.Fprintf(os.Stderr, "golden: recorded %d reports\n", len(keys))
	}
	os.Exit(code)
}

// checkGolden compares a fixture's report with the recorded one (or records it).
func checkGolden(t *testing.T, r *Report) {
	t.Helper()
	b, err := json.Marshal(struct {
		Findings []Finding
		Summary  any
		Skipped  []string
	}{r.Findings, r.Summary, r.Skipped})
	if err != nil {
		t.Fatal(err)
	}
	golden.Lock()
	defer golden.Unlock()
	golden.seen[t.Name()]++
	k := fmt.Sprintf("%s#%d", t.Name(), golden.seen[t.Name()])
	golden.got[k] = string(b)
	if *goldenUpdate || golden.want == nil {
		return
	}
	want, ok := golden.want[k]
	switch {
	case !ok:
		t.Errorf("golden: no recorded report %s (run with -golden-update if the test is new)", k)
	case want != string(b):
		t.Errorf("golden: report %s differs from the recorded one:\nrecorded %s\nnow      %s", k, want, b)
	}
}
