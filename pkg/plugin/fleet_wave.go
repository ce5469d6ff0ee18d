package plugin

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// waveVerbs are the release verbs that take --contexts and --wave-size: across contexts
// they run in waves, the next wave only after every context of the last one verified.
func waveVerbs() map[string]verbBuilder {
	return map[string]verbBuilder{
		"switch":      newSwitchCmd,
		"deploy":      newDeployCmd,
		"canary-step": newCanaryStepCmd,
		"promote":     newPromoteCmd,
		"rollback":    newRollbackCmd,
	}
}

// Outcome of one context in a wave run (FleetItem.State).
const (
	// WaveDone: the verb ran and its own verification passed (or, with --dry-run, it planned).
	WaveDone = "done"
	// WaveFailed: the verb failed in this context (refused, forbidden, verification failed).
	WaveFailed = "failed"
	// WaveNotStarted: an earlier wave failed (or the run was interrupted) before this one.
	WaveNotStarted = "not started"
)

// wrapWave adds --contexts and --wave-size to a release verb (see enableFleet). Without
// them the verb runs as before.
func wrapWave(cmd *cobra.Command, build verbBuilder, getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) {
	f := &fleetFlags{}
	var waveSize int
	cmd.Flags().StringSliceVar(&f.contexts, "contexts", nil, "Run in these kubeconfig contexts (comma-separated) in waves, in this order: the next wave starts only when every context of the last one verified")
	cmd.Flags().IntVar(&waveSize, "wave-size", 1, "With --contexts: how many contexts each wave runs at once")
	_ = cmd.RegisterFlagCompletionFunc("contexts", completeContexts)
	single := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if !f.enabled() {
			if c.Flags().Changed("wave-size") {
				return usageErrorf("--wave-size applies to --contexts only")
			}
			return single(c, args)
		}
		if waveSize < 1 {
			return usageErrorf("invalid --wave-size %d: must be at least 1", waveSize)
		}
		if err := needsYes(c); err != nil {
			return err
		}
		f.maxParallel = waveSize
		names, err := f.resolve(c, getter)
		if err != nil {
			return err
		}
		format, err := fleetFormat(c)
		if err != nil {
			return err
		}
		fl := &fleet{build: build, getter: getter, streams: streams, parent: c, args: args, format: format, parallel: waveSize}
		return fl.runWaves(c.Context(), names)
	}
}

// runWaves runs the verb in waves of f.parallel contexts, in the order given. Each context
// runs the verb's own command (its runner, its resolver, its recorded state, its own
// verification: a switch returns only after the EndpointSlices list the target's pods).
// The next wave starts only when every context of this one succeeded; at the first failure
// the remaining contexts are not started. Re-running the same command continues: a context
// already at the target is a no-op for its verb because its recorded state says so.
func (f *fleet) runWaves(ctx context.Context, names []string) error {
	runs := make([]*fleetRun, len(names))
	for i, n := range names {
		runs[i] = &fleetRun{name: n, out: &fleetCapture{}, wave: i/f.parallel + 1}
	}
	stopped := 0 // the wave that failed, if any
	for start := 0; start < len(runs) && stopped == 0 && ctx.Err() == nil; start += f.parallel {
		wave := runs[start:min(start+f.parallel, len(runs))]
		eachContext(ctx, wave, f.parallel, func(ctx context.Context, r *fleetRun) {
			r.started = true
			r.err = f.runOne(ctx, r)
		})
		for _, r := range wave {
			if r.err != nil || !r.started {
				stopped = r.wave
			}
		}
	}
	if err := f.print(runs); err != nil {
		return err
	}
	return waveError(ctx, runs, stopped)
}

// waveState is a context's outcome in a wave run.
func waveState(r *fleetRun) string {
	switch {
	case !r.started:
		return WaveNotStarted
	case r.err != nil:
		return WaveFailed
	}
	return WaveDone
}

// waveError is nil when every context succeeded; else one line that says which wave
// stopped, which contexts failed (with their errors), which are done and which were not
// started, with the worst exit code of the contexts (130 when interrupted).
func waveError(ctx context.Context, runs []*fleetRun, stopped int) error {
	by := map[string][]string{}
	for _, r := range runs {
		st := waveState(r)
		by[st] = append(by[st], r.name)
	}
	worst, failed := failures(runs)
	if worst == ExitOK && len(by[WaveNotStarted]) == 0 && ctx.Err() == nil {
		return nil
	}
	list := func(st string) string {
		if len(by[st]) == 0 {
			return "none"
		}
		return strings.Join(by[st], ", ")
	}
	if stopped == 0 && len(by[WaveNotStarted]) > 0 {
		for _, r := range runs {
			if !r.started {
				stopped = r.wave
				break
			}
		}
	}
	head := fmt.Sprintf("wave %d stopped the release", stopped)
	if ctx.Err() != nil {
		head = fmt.Sprintf("interrupted in wave %d (%v)", stopped, ctx.Err())
		worst = ExitInterrupted
	}
	if len(failed) > 0 {
		head += ": " + strings.Join(failed, "; ")
	}
	msg := fmt.Sprintf("%s; done: %s; not started: %s (re-run the same command to continue)", head, list(WaveDone), list(WaveNotStarted))
	return &exitError{code: worst, err: fmt.Errorf("%s", msg)}
}

// needsYes refuses, before any request, a live wave run of a verb that asks before it acts
// (promote) without --yes: no context has a terminal to answer, so each would refuse.
func needsYes(c *cobra.Command) error {
	yes := c.Flags().Lookup("yes")
	if yes == nil || yes.Value.String() == "true" {
		return nil
	}
	if dr := c.Flags().Lookup("dry-run"); dr != nil && dr.Value.String() != "none" && dr.Value.String() != "" {
		return nil
	}
	return usageErrorf("%s asks before it acts and a run across contexts cannot ask in each: give --yes (or --dry-run to see what it would do)", c.Name())
}
