package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// renderAnalyses prints the last canary analysis recorded on each canary component: the
// verdict, when, both tracks' numbers and why it did not pass.
func renderAnalyses(w io.Writer, rep *strategy.StatusReport, now time.Time) error {
	var lines []string
	for _, c := range rep.Components {
		if c.Canary == nil || c.Canary.Analysis == nil {
			continue
		}
		a := c.Canary.Analysis
		line := fmt.Sprintf("  %s: %s", c.Name, a.Describe())
		if !a.At.IsZero() {
			line += " (" + term.Age(now, a.At) + " ago)"
		}
		if len(a.Reasons) > 0 {
			line += ": " + strings.Join(a.Reasons, "; ")
		}
		lines = append(lines, term.Escape(line))
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nCanary analysis (last recorded):\n%s\n", strings.Join(lines, "\n"))
	return err
}
