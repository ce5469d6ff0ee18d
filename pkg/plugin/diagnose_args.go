package plugin

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/metadata"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// parseDiagnoseArgs reads kubectl's grammar: nothing (the namespace), TYPE (every object of
// it), TYPE NAME..., TYPE/NAME... (several), or one bare COMPONENT name. Everything is
// checked before any request: a misspelt TYPE is bad usage with the nearest name.
func parseDiagnoseArgs(args []string, selector string) (troubleshoot.Scope, error) {
	var s troubleshoot.Scope
	if selector != "" {
		if _, err := labels.Parse(selector); err != nil {
			return s, usageErrorf("invalid --selector %q: %v", selector, err)
		}
		s.Selector = selector
	}
	if len(args) == 0 {
		return s, nil
	}
	if strings.Contains(args[0], "/") {
		for _, a := range args {
			typ, name, ok := strings.Cut(a, "/")
			if !ok {
				return s, usageErrorf("cannot mix TYPE/NAME and bare names: use %s/NAME or put the TYPE first (diagnose TYPE NAME...)", a)
			}
			if name == "" || strings.Contains(name, "/") {
				return s, usageErrorf("invalid argument %q: use TYPE/NAME, e.g. pod/web-1", a)
			}
			kind, err := parseKind(typ)
			if err != nil {
				return s, err
			}
			s.Targets = append(s.Targets, troubleshoot.Target{Kind: kind, Name: name})
		}
		if selector != "" {
			return s, usageErrorf("give names or --selector, not both (as kubectl get does)")
		}
		return s, nil
	}
	kind, ok := troubleshoot.ParseKind(args[0])
	if !ok {
		if len(args) > 1 || troubleshoot.LooksLikeKind(args[0]) {
			_, err := parseKind(args[0])
			return s, err
		}
		if selector != "" {
			return s, usageErrorf("a COMPONENT and --selector do not combine: use TYPE -l %s", selector)
		}
		return troubleshoot.Scope{Kind: troubleshoot.ScopeComponent, Name: args[0]}, nil
	}
	if len(args) == 1 {
		s.Targets = []troubleshoot.Target{{Kind: kind}}
		return s, nil
	}
	if selector != "" {
		return s, usageErrorf("give names or --selector, not both (as kubectl get does)")
	}
	for _, name := range args[1:] {
		if strings.Contains(name, "/") {
			return s, usageErrorf("invalid name %q after TYPE %s: use %s NAME... or TYPE/NAME...", name, args[0], args[0])
		}
		s.Targets = append(s.Targets, troubleshoot.Target{Kind: kind, Name: name})
	}
	return s, nil
}

func parseKind(typ string) (troubleshoot.ScopeKind, error) {
	if kind, ok := troubleshoot.ParseKind(typ); ok {
		return kind, nil
	}
	hint := ""
	if near := troubleshoot.SuggestKind(typ); near != "" {
		hint = " (did you mean " + near + "?)"
	}
	return "", usageErrorf("cannot diagnose resource type %q%s: use one of %s, or a component (Service) name", typ, hint, strings.Join(troubleshoot.KindNames(), ", "))
}

// completeDiagnose completes every form: TYPE names and components first, names of a
// TYPE after it, TYPE/NAME when the word has a slash.
func completeDiagnose(getter genericclioptions.RESTClientGetter) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if typ, _, ok := strings.Cut(toComplete, "/"); ok {
			kind, known := troubleshoot.ParseKind(typ)
			if !known || (len(args) > 0 && !strings.Contains(args[0], "/")) {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			names, dir := complete(getter, kindLister(kind))(cmd, args, toComplete)
			out := make([]cobra.Completion, 0, len(names))
			for _, n := range names {
				out = append(out, typ+"/"+n)
			}
			return out, dir
		}
		switch {
		case len(args) == 0:
			comps, dir := completeServices(getter)(cmd, args, toComplete)
			out := append([]cobra.Completion{}, troubleshoot.KindNames()...)
			return append(out, comps...), dir
		case strings.Contains(args[0], "/"):
			out := make([]cobra.Completion, 0, len(troubleshoot.KindNames()))
			for _, k := range troubleshoot.KindNames() {
				out = append(out, k+"/")
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		kind, ok := troubleshoot.ParseKind(args[0])
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, dir := complete(getter, kindLister(kind))(cmd, args, toComplete)
		var out []cobra.Completion
		for _, n := range names {
			if !contains(args[1:], n) {
				out = append(out, n)
			}
		}
		return out, dir
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// kindLister lists the names of one kind in the namespace (nodes: the cluster) through the
// metadata client: names only, one request.
func kindLister(kind troubleshoot.ScopeKind) completer {
	return func(ctx context.Context, c *clients) ([]string, error) {
		meta, err := metadata.NewForConfig(c.Config)
		if err != nil {
			return nil, err
		}
		gvr, namespaced := troubleshoot.KindResource(kind)
		ri := meta.Resource(gvr)
		var l *metav1.PartialObjectMetadataList
		if namespaced {
			l, err = ri.Namespace(c.Namespace).List(ctx, metav1.ListOptions{})
		} else {
			l, err = ri.List(ctx, metav1.ListOptions{})
		}
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(l.Items))
		for i := range l.Items {
			names = append(names, l.Items[i].Name)
		}
		return names, nil
	}
}
