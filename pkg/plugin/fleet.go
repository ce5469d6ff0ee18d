package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/report"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// defaultMaxParallel is how many contexts a fleet run talks to at once (kubectl allctx's
// default concurrency is of the same order): enough to hide one cluster's latency behind
// another's, few enough that a laptop does not open dozens of watches at once.
const defaultMaxParallel = 4

// verbBuilder builds a verb's command for one cluster: the fleet runs a fresh copy of the
// verb per context, each with its own getter (and so its own client and rate limiter) and
// its own streams.
type verbBuilder func(genericclioptions.RESTClientGetter, genericiooptions.IOStreams) *cobra.Command

// fleetVerbs are the reporting verbs that take --contexts/--all-contexts, by command path
// below the root, with the builder of a per-context copy.
func fleetVerbs() map[string]verbBuilder {
	return map[string]verbBuilder{
		"status":    newStatusCmd,
		"history":   newHistoryCmd,
		"diagnose":  newDiagnoseCmd,
		"preflight": newPreflightCmd,
		"maintenance plan": func(g genericclioptions.RESTClientGetter, s genericiooptions.IOStreams) *cobra.Command {
			return newMaintPlanCmd(s, maintEnvFrom(g), nil)
		},
		"maintenance status": func(g genericclioptions.RESTClientGetter, s genericiooptions.IOStreams) *cobra.Command {
			return newMaintStatusCmd(s, maintEnvFrom(g), nil)
		},
	}
}

// fleetIncompatible are flags of a verb that make no sense across several contexts.
var fleetIncompatible = []string{"watch"}

// enableFleet adds --contexts, --all-contexts and --max-parallel to the fleet verbs of the
// tree. Without them a verb runs as before; with them the verb's own run is called once
// per context (see runFleet).
func enableFleet(root *cobra.Command, getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) {
	eachVerb(root, fleetVerbs(), func(cmd *cobra.Command, build verbBuilder) { wrapFleet(cmd, build, getter, streams) })
	eachVerb(root, waveVerbs(), func(cmd *cobra.Command, build verbBuilder) { wrapWave(cmd, build, getter, streams) })
}

// eachVerb calls wrap for each verb of the tree named in verbs (by command path).
func eachVerb(root *cobra.Command, verbs map[string]verbBuilder, wrap func(*cobra.Command, verbBuilder)) {
	for path, build := range verbs {
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd == root || cmd.RunE == nil {
			continue
		}
		wrap(cmd, build)
	}
}

// fleetFlags are the flags every fleet verb gets.
type fleetFlags struct {
	contexts    []string
	all         bool
	maxParallel int
}

func (f *fleetFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.contexts, "contexts", nil, "Run in each of these kubeconfig contexts (comma-separated), in parallel; one report with a CONTEXT column")
	cmd.Flags().BoolVar(&f.all, "all-contexts", false, "Run in every context of the kubeconfig")
	cmd.Flags().IntVar(&f.maxParallel, "max-parallel", defaultMaxParallel, "With --contexts/--all-contexts: how many contexts are talked to at once")
	_ = cmd.RegisterFlagCompletionFunc("contexts", completeContexts)
}

func (f *fleetFlags) enabled() bool { return len(f.contexts) > 0 || f.all }

func wrapFleet(cmd *cobra.Command, build verbBuilder, getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) {
	f := &fleetFlags{}
	f.add(cmd)
	single := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if !f.enabled() {
			if c.Flags().Changed("max-parallel") {
				return usageErrorf("--max-parallel applies to --contexts or --all-contexts only")
			}
			return single(c, args)
		}
		names, err := f.resolve(c, getter)
		if err != nil {
			return err
		}
		format, err := fleetFormat(c)
		if err != nil {
			return err
		}
		fl := &fleet{build: build, getter: getter, streams: streams, parent: c, args: args, format: format, parallel: f.maxParallel}
		return fl.run(c.Context(), names)
	}
}

// resolve validates the fleet flags against the kubeconfig (no API call) and returns the
// contexts in the order given, or sorted for --all-contexts.
func (f *fleetFlags) resolve(c *cobra.Command, getter genericclioptions.RESTClientGetter) ([]string, error) {
	if len(f.contexts) > 0 && f.all {
		return nil, usageErrorf("give --contexts or --all-contexts, not both")
	}
	if c.Flags().Changed("context") {
		return nil, usageErrorf("--context names one context: use --contexts for several, not both")
	}
	if f.maxParallel < 1 {
		return nil, usageErrorf("invalid --max-parallel %d: must be at least 1", f.maxParallel)
	}
	for _, name := range fleetIncompatible {
		if fl := c.Flags().Lookup(name); fl != nil && fl.Changed {
			return nil, usageErrorf("--%s cannot be combined with --contexts or --all-contexts", name)
		}
	}
	raw, err := getter.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, kubeconfigError(err)
	}
	known := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		known = append(known, name)
	}
	sort.Strings(known)
	if f.all {
		if len(known) == 0 {
			return nil, usageErrorf("--all-contexts: the kubeconfig has no context (`kubectl config get-contexts`)")
		}
		return known, nil
	}
	var names, missing []string
	seen := map[string]bool{}
	for _, n := range f.contexts {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, usageErrorf("--contexts has an empty name: give names separated by commas, e.g. --contexts a,b")
		case seen[n]:
			continue
		case raw.Contexts[n] == nil:
			missing = append(missing, n)
		}
		seen[n] = true
		names = append(names, n)
	}
	if len(missing) > 0 {
		return nil, usageErrorf("context %s not found in the kubeconfig; known: %s", quoteNames(missing), strings.Join(known, ", "))
	}
	return names, nil
}

func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// fleetFormat is the verb's -o, checked once here: each context then runs with JSON so that
// the fleet can wrap the results in one list.
func fleetFormat(c *cobra.Command) (string, error) {
	fl := c.Flags().Lookup("output")
	if fl == nil {
		return "", nil
	}
	o := outputFlag{format: fl.Value.String()}
	return o.format, o.validate()
}

// contextGetter is getter with the kubeconfig context overridden: a fresh ConfigFlags that
// keeps every other kubectl flag (--kubeconfig, --as, -n, --request-timeout…), so that each
// context gets its own client and rate limiter.
func contextGetter(getter genericclioptions.RESTClientGetter, name string) genericclioptions.RESTClientGetter {
	cf, ok := getter.(*genericclioptions.ConfigFlags)
	if !ok {
		return getter
	}
	n := genericclioptions.NewConfigFlags(true)
	n.CacheDir, n.KubeConfig = cf.CacheDir, cf.KubeConfig
	n.ClusterName, n.AuthInfoName, n.Namespace, n.APIServer = cf.ClusterName, cf.AuthInfoName, cf.Namespace, cf.APIServer
	n.TLSServerName, n.Insecure, n.CertFile, n.KeyFile, n.CAFile = cf.TLSServerName, cf.Insecure, cf.CertFile, cf.KeyFile, cf.CAFile
	n.BearerToken, n.Impersonate, n.ImpersonateUID, n.ImpersonateGroup = cf.BearerToken, cf.Impersonate, cf.ImpersonateUID, cf.ImpersonateGroup
	n.ImpersonateUserExtra, n.Username, n.Password, n.Timeout = cf.ImpersonateUserExtra, cf.Username, cf.Password, cf.Timeout
	n.DisableCompression, n.ProxyURL, n.WrapConfigFn = cf.DisableCompression, cf.ProxyURL, cf.WrapConfigFn
	n.Context = &name
	return n
}

// FleetItem is the outcome of a verb in one context.
type FleetItem struct {
	Context string `json:"context"`
	// ExitCode is the verb's exit code in this context (0, 1, 3, 130).
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
	// Result is the verb's own -o json report, when it printed one.
	Result json.RawMessage `json:"result,omitempty"`
	// Wave and State are set by the release verbs run in waves (--wave-size): the wave of
	// the context (from 1) and its outcome: done, failed or not started.
	Wave  int    `json:"wave,omitempty"`
	State string `json:"state,omitempty"`
}

// FleetResult is the -o json|yaml report of a verb run across contexts: one item per context.
type FleetResult struct {
	metav1.TypeMeta `json:",inline"`
	Verb            string      `json:"verb"`
	Items           []FleetItem `json:"items"`
}

// fleet runs one verb across contexts.
type fleet struct {
	build    verbBuilder
	getter   genericclioptions.RESTClientGetter
	streams  genericiooptions.IOStreams
	parent   *cobra.Command
	args     []string
	format   string
	parallel int
}

// fleetRun is one context's run: its captured output and its error.
type fleetRun struct {
	name    string
	out     *fleetCapture
	err     error
	started bool
	// wave is the context's wave in a release run in waves (0 for the reporting verbs).
	wave int
}

// run calls the verb once per context, at most f.parallel at a time, then prints one report.
// Each context's failure (unreachable, forbidden, problems found) is its own line: it does
// not hide the others, and the exit code is the worst of them.
func (f *fleet) run(ctx context.Context, names []string) error {
	runs := make([]*fleetRun, len(names))
	for i, n := range names {
		runs[i] = &fleetRun{name: n, out: &fleetCapture{}}
	}
	eachContext(ctx, runs, f.parallel, func(ctx context.Context, r *fleetRun) {
		r.started = true
		r.err = f.runOne(ctx, r)
	})
	for _, r := range runs {
		if !r.started {
			r.err = fmt.Errorf("not started: %w", ctx.Err())
		}
	}
	if err := f.print(runs); err != nil {
		return err
	}
	return fleetError(ctx, runs)
}

// print prints the runs in the chosen output: one FleetResult, or the merged tables.
func (f *fleet) print(runs []*fleetRun) error {
	if f.format != "" {
		return f.printMachine(runs)
	}
	return printFleetHuman(f.streams.Out, runs)
}

// eachContext calls fn for every run, at most parallel at a time; runs not started when ctx
// ends are left alone.
func eachContext(ctx context.Context, runs []*fleetRun, parallel int, fn func(context.Context, *fleetRun)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, r := range runs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(r *fleetRun) {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, r)
		}(r)
	}
	wg.Wait()
}

// runOne builds a fresh copy of the verb for the context, gives it the flags and arguments
// the user gave, and calls its run with the output captured and stderr prefixed.
func (f *fleet) runOne(ctx context.Context, r *fleetRun) error {
	streams := genericiooptions.IOStreams{
		In:     strings.NewReader(""),
		Out:    r.out,
		ErrOut: &prefixWriter{prefix: "[" + term.Escape(r.name) + "] ", w: f.streams.ErrOut, mu: &stderrMu},
	}
	sub, err := f.prepare(r.name, streams)
	if err != nil {
		return err
	}
	sub.SetContext(ctx)
	return sub.RunE(sub, f.args)
}

// stderrMu serialises the prefixed stderr lines of concurrent contexts.
var stderrMu sync.Mutex

// setupMu serialises the building of the per-context copies: pflag and cobra sort and
// cache flag sets lazily when they are read, so reading the real command's flags from
// several goroutines at once is a data race.
var setupMu sync.Mutex

// prepare builds the copy of the verb for one context under a root that shares the real
// root's persistent flags (--color, -v…), so that what the verb reads from its root is what
// the user gave, and replays the user's flags on it.
func (f *fleet) prepare(name string, streams genericiooptions.IOStreams) (*cobra.Command, error) {
	setupMu.Lock()
	defer setupMu.Unlock()
	sub := f.build(contextGetter(f.getter, name), streams)
	root := &cobra.Command{Use: "feastflow"}
	root.PersistentFlags().AddFlagSet(f.parent.Root().PersistentFlags())
	root.AddCommand(sub)
	if err := replayFlags(f.parent, sub); err != nil {
		return nil, err
	}
	if f.format != "" {
		if err := sub.Flags().Set("output", "json"); err != nil {
			return nil, err
		}
	}
	return sub, nil
}

// replayFlags sets on sub every local flag the user set on the parent, except the fleet's.
// (The root's persistent flags are shared, not replayed. LocalFlags().Visit would visit
// nothing: cobra builds that set with AddFlag, which does not mark flags as set in it.)
func replayFlags(parent, sub *cobra.Command) error {
	var err error
	inherited := parent.InheritedFlags()
	parent.Flags().Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "contexts", "all-contexts", "max-parallel", "wave-size":
			return
		}
		if inherited.Lookup(fl.Name) != nil {
			return
		}
		target := sub.Flags().Lookup(fl.Name)
		if target == nil || err != nil {
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			if tv, ok := target.Value.(pflag.SliceValue); ok {
				err = tv.Replace(sv.GetSlice())
				target.Changed = true
				return
			}
		}
		err = sub.Flags().Set(fl.Name, fl.Value.String())
	})
	return err
}

func (f *fleet) printMachine(runs []*fleetRun) error {
	var path []string
	for c := f.parent; c.HasParent(); c = c.Parent() {
		path = append([]string{c.Name()}, path...)
	}
	res := FleetResult{TypeMeta: report.TypeMeta("FleetResult"), Verb: strings.Join(path, " "), Items: make([]FleetItem, 0, len(runs))}
	for _, r := range runs {
		it := FleetItem{Context: r.name, ExitCode: ExitCode(r.err)}
		if r.wave > 0 {
			it.Wave, it.State = r.wave, waveState(r)
		}
		if r.err != nil {
			it.Error = ErrorLine(r.err)
		}
		if out := bytes.TrimSpace(r.out.buf.Bytes()); len(out) > 0 && json.Valid(out) {
			it.Result = json.RawMessage(out)
		}
		res.Items = append(res.Items, it)
	}
	return (&outputFlag{format: f.format}).print(f.streams.Out, res, nil)
}

// exitRank orders exit codes from best to worst: problems found is better than an error
// (the verb saw the cluster), an error better than an interruption.
func exitRank(code int) int {
	switch code {
	case ExitOK:
		return 0
	case ExitProblems:
		return 1
	case ExitUsage:
		return 2
	case ExitError:
		return 3
	}
	return 4
}

// fleetError is nil when every context succeeded, else one line naming each context that
// did not, with the worst exit code.
func fleetError(ctx context.Context, runs []*fleetRun) error {
	worst, parts := failures(runs)
	if worst == ExitOK {
		return nil
	}
	err := fmt.Errorf("%d of %d contexts did not succeed: %s", len(parts), len(runs), strings.Join(parts, "; "))
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
		worst = ExitInterrupted
	}
	return &exitError{code: worst, err: err}
}

// failures returns the worst exit code of the runs and one "context X: error" per failed run.
func failures(runs []*fleetRun) (int, []string) {
	worst := ExitOK
	var parts []string
	for _, r := range runs {
		if r.err == nil {
			continue
		}
		code := ExitCode(r.err)
		if exitRank(code) > exitRank(worst) {
			worst = code
		}
		parts = append(parts, fmt.Sprintf("context %s: %s", r.name, truncate(ErrorLine(r.err), 240)))
	}
	return worst, parts
}

// prefixWriter writes whole lines to w, each with the prefix; a partial line waits for its end.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := p.buf[:i+1]
		p.mu.Lock()
		_, err := io.WriteString(p.w, p.prefix+string(line))
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
		if err != nil {
			return len(b), err
		}
	}
}

func completeContexts(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	f := c.Root().PersistentFlags()
	kubeconfig, _ := f.GetString("kubeconfig")
	cf := genericclioptions.NewConfigFlags(true)
	cf.KubeConfig = &kubeconfig
	raw, err := cf.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}
