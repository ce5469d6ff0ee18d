// Command startup measures the wall time and peak memory (max RSS) of short commands, run
// interleaved so that machine noise hits every case alike, and prints each case's ratio to
// a baseline. bench/startup.sh runs it for kubectl feastflow against kubectl; it needs
// nothing but Go (hyperfine, when installed, is only a cross-check).
//
// usage: go run ./bench/startup -n 30 -baseline kubectl \
//
//	-case 'kubectl=/usr/bin/kubectl version --client' -case 'plugin=bin/kubectl-feastflow version'
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type benchCase struct {
	name string
	argv []string
	wall []time.Duration
	rss  []int64 // KiB
}

type caseFlag []*benchCase

func (c *caseFlag) String() string { return fmt.Sprint(len(*c)) }

func (c *caseFlag) Set(v string) error {
	name, cmdline, ok := strings.Cut(v, "=")
	argv := strings.Fields(cmdline)
	if !ok || name == "" || len(argv) == 0 {
		return fmt.Errorf("want NAME=COMMAND ARGS..., got %q", v)
	}
	*c = append(*c, &benchCase{name: name, argv: argv})
	return nil
}

func main() {
	var cases caseFlag
	n := flag.Int("n", 30, "runs of each case")
	warmup := flag.Int("warmup", 3, "unmeasured runs of each case first (page cache)")
	baseline := flag.String("baseline", "", "the case the ratios are relative to (default: the first)")
	flag.Var(&cases, "case", "NAME=COMMAND ARGS... (repeatable)")
	flag.Parse()
	if len(cases) == 0 {
		fmt.Fprintln(os.Stderr, "startup: no -case given")
		os.Exit(2)
	}
	if err := measure(cases, *n, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
	base := cases[0]
	for _, c := range cases {
		if c.name == *baseline {
			base = c
		}
	}
	report(os.Stdout, cases, base)
}

// measure runs every case n times, interleaved: a, b, c, a, b, c, ...
func measure(cases []*benchCase, n, warmup int) error {
	for i := -warmup; i < n; i++ {
		for _, c := range cases {
			wall, rss, err := runOnce(c.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if i >= 0 {
				c.wall = append(c.wall, wall)
				c.rss = append(c.rss, rss)
			}
		}
	}
	return nil
}

func runOnce(argv []string) (time.Duration, int64, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	wall := time.Since(start)
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss // KiB on Linux; kept across exec, so kubectl's own peak counts for plugins
	}
	return wall, rss, nil
}

func median[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(w io.Writer, cases []*benchCase, base *benchCase) {
	tw := tabwriter.NewWriter(w, 4, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CASE\tRUNS\tMEDIAN WALL\tMIN WALL\tMEDIAN MAX RSS\tWALL RATIO\tRSS RATIO\tCOMMAND\n")
	bw, br := median(base.wall), median(base.rss)
	for _, c := range cases {
		mw, mr := median(c.wall), median(c.rss)
		fmt.Fprintf(tw, "%s\t%d\t%.1f ms\t%.1f ms\t%.1f MiB\t%.2fx\t%.2fx\t%s\n", c.name, len(c.wall),
			ms(mw), ms(slices.Min(c.wall)), float64(mr)/1024, float64(mw)/float64(bw), float64(mr)/float64(br), strings.Join(c.argv, " "))
	}
	_ = tw.Flush()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
