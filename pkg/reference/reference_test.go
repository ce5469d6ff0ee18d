package reference

import (
	"path/filepath"
	"strings"
	"testing"
)

// checkedIn is the reference in the repository, which the README links.
var checkedIn = filepath.Join("..", "..", "docs", "commands")

// TestCheckedInReferenceIsCurrent fails when a command's help changed and docs/commands was
// not regenerated.
func TestCheckedInReferenceIsCurrent(t *testing.T) {
	stale, err := Check(checkedIn)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("docs/commands is not the reference of the commands: %s differ; run make docs and commit the result", strings.Join(stale, ", "))
	}
}

func TestPagesNameTheCommandAsUsersTypeIt(t *testing.T) {
	pages, err := Pages()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kubectl_feastflow.md", "kubectl_feastflow_switch.md", "kubectl_feastflow_maintenance_drain.md", Index} {
		if _, ok := pages[name]; !ok {
			t.Errorf("no page %s", name)
		}
	}
	drain := string(pages["kubectl_feastflow_maintenance_drain.md"])
	if !strings.HasPrefix(drain, "## kubectl feastflow maintenance drain\n") || !strings.Contains(drain, "\nkubectl feastflow maintenance drain ") {
		t.Errorf("the drain page does not say kubectl feastflow maintenance drain:\n%s", drain)
	}
	for name, page := range pages {
		for _, line := range strings.Split(string(page), "\n") {
			// Usage and titles: the plugin is invoked as kubectl feastflow.
			if (strings.HasPrefix(line, "#") || strings.HasPrefix(line, "kubectl")) && strings.Contains(line, "kubectl-feastflow") {
				t.Errorf("%s: %q says kubectl-feastflow", name, line)
			}
		}
		if strings.Contains(string(page), "Auto generated") {
			t.Errorf("%s carries a generation date: the reference must change only with the commands", name)
		}
	}
}
