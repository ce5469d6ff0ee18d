// Package reference writes the command reference of kubectl feastflow (docs/commands) with
// cobra's markdown generator, from the same command tree the binary runs, and checks a
// checked-in copy against it. It is imported by hack/gendocs and its test, never by the
// plugin binary.
package reference

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/plugin"
)

// Index is the file that lists every page, linked from the README.
const Index = "README.md"

// Pages renders the reference: file name → markdown. Page names follow the command path
// (kubectl_feastflow_maintenance_drain.md), as kubectl's own reference does.
func Pages() (map[string][]byte, error) {
	root := plugin.NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	pages := map[string][]byte{}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		c.DisableAutoGenTag = true // no generation date: the reference changes only with the commands
		portableDefaults(c.NonInheritedFlags())
		portableDefaults(c.InheritedFlags())
		var b bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &b, linkHandler); err != nil {
			return fmt.Errorf("%s: %w", c.CommandPath(), err)
		}
		name := fileName(c)
		pages[name] = b.Bytes()
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	pages[Index] = index(root)
	return pages, nil
}

func fileName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

func linkHandler(name string) string { return name }

// portableDefaults shows defaults that depend on the machine (kubectl's --cache-dir is under
// $HOME) as kubectl's reference does, so that the reference is the same on every machine.
func portableDefaults(fs *pflag.FlagSet) {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if rest, ok := strings.CutPrefix(f.DefValue, home); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			f.DefValue = "$HOME" + rest
		}
	})
}

// index is the table of contents: every command with its one-line description.
func index(root *cobra.Command) []byte {
	var b bytes.Buffer
	b.WriteString("# kubectl feastflow command reference\n\n")
	b.WriteString("Generated from the commands' own help by `make docs` (cobra's markdown generator);\n")
	b.WriteString("`make test` fails when this reference and the binary disagree.\n\n")
	b.WriteString("| command | what it does |\n|---|---|\n")
	var add func(c *cobra.Command)
	add = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		fmt.Fprintf(&b, "| [%s](%s) | %s |\n", c.CommandPath(), fileName(c), strings.ReplaceAll(c.Short, "|", `\|`))
		for _, sub := range c.Commands() {
			add(sub)
		}
	}
	add(root)
	return b.Bytes()
}

// Write replaces the markdown files in dir with the reference.
func Write(dir string) error {
	pages, err := Pages()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := pages[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, data := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Check compares dir with the reference and returns the names of the files that differ,
// are missing or should not be there.
func Check(dir string) ([]string, error) {
	pages, err := Pages()
	if err != nil {
		return nil, err
	}
	var stale []string
	for name, want := range pages {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			stale = append(stale, name)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if _, ok := pages[filepath.Base(f)]; !ok {
			stale = append(stale, filepath.Base(f))
		}
	}
	slices.Sort(stale)
	return stale, nil
}
