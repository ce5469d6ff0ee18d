package plugin

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// probeFlags are diagnose's traffic probe flags.
type probeFlags struct {
	path    string
	timeout time.Duration
}

func (f *probeFlags) add(flags *pflag.FlagSet) {
	flags.StringVar(&f.path, "probe", "", "With svc/NAME or a component: GET this path through the Service proxy and each ready endpoint's pod proxy, reporting refused connections, errors and timeouts per pod (default: the Service's "+traffic.SmokePathAnnotation+" annotation)")
	flags.DurationVar(&f.timeout, "probe-timeout", traffic.DefaultProbeTimeout, "How long each probe GET may take")
}

// validate checks the flags against the scope (no I/O).
func (f *probeFlags) validate(scope troubleshoot.Scope) error {
	if f.path == "" {
		return nil
	}
	if !strings.HasPrefix(f.path, "/") {
		return usageErrorf("invalid --probe %q: a path starting with /", f.path)
	}
	if _, ok := scope.ProbedService(); !ok {
		return usageErrorf("--probe needs a Service: diagnose svc/NAME --probe %s", f.path)
	}
	if f.timeout <= 0 {
		return usageErrorf("invalid --probe-timeout %s: must be positive", f.timeout)
	}
	return nil
}

// options is the probe to ask troubleshoot.Diagnose for: always (the Service's smoke
// annotation may ask for one when the flag does not).
func (f *probeFlags) options() *troubleshoot.ProbeOptions {
	return &troubleshoot.ProbeOptions{Path: f.path, Timeout: f.timeout}
}

// printProbe writes the probe's summary line for people.
func printProbe(w io.Writer, p *troubleshoot.Probe) error {
	ok := len(p.Pods) - len(p.Failed())
	_, err := fmt.Fprintf(w, "\ntraffic probe GET %s: service/%s %s; %d of %d ready endpoints answered 2xx\n",
		term.Escape(p.Path), term.Escape(p.Service), term.Escape(p.Via.Summary()), ok, len(p.Pods))
	return err
}
