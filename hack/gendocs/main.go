// Command gendocs writes the command reference of kubectl feastflow into a directory
// (make docs: docs/commands), or with -check fails when the directory differs from it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/feastflow/kubectl-feastflow/pkg/reference"
)

func main() {
	check := flag.Bool("check", false, "only check that DIR holds the current reference")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: gendocs [-check] DIR") }
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if *check {
		stale, err := reference.Check(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
		if len(stale) > 0 {
			fmt.Fprintf(os.Stderr, "gendocs: %s is not the reference of the commands (%s): run make docs\n", dir, strings.Join(stale, ", "))
			os.Exit(1)
		}
		return
	}
	if err := reference.Write(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
