// Package e2e holds the end-to-end tests of kubectl feastflow: the plugin binary run through
// the real kubectl against a real local cluster. See package harness for the helpers; each
// test starts with h := harness.For(t).
package e2e

import (
	"os"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// TestMain starts the run's cluster on first use and stops it after the last test.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
