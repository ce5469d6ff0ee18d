package plugin

import (
	"context"
	"sort"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Shell completion of names from the cluster. kubectl ≥ 1.26 completes `kubectl feastflow
// <TAB>` by running the kubectl_complete-feastflow helper, which calls `__complete`.

const completionTimeout = 3 * time.Second

type completer func(ctx context.Context, c *clients) ([]string, error)

func complete(getter genericclioptions.RESTClientGetter, list completer) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		c, err := newClients(getter)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		names, err := list(ctx, c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		sort.Strings(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeServices lists the namespace's Services: the components.
func completeServices(getter genericclioptions.RESTClientGetter) cobra.CompletionFunc {
	return complete(getter, func(ctx context.Context, c *clients) ([]string, error) {
		list, err := c.Kube.CoreV1().Services(c.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return itemNames(list.Items), nil
	})
}

// completeNodes lists the cluster's nodes.
func completeNodes(getter genericclioptions.RESTClientGetter) cobra.CompletionFunc {
	return complete(getter, func(ctx context.Context, c *clients) ([]string, error) {
		list, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return itemNames(list.Items), nil
	})
}

// itemNames returns the names of a list's items.
func itemNames[T any, PT interface {
	*T
	GetName() string
}](items []T) []string {
	names := make([]string, 0, len(items))
	for i := range items {
		names = append(names, PT(&items[i]).GetName())
	}
	return names
}

// completeLabelValues lists the values of a pod-template label key over the namespace's
// Deployments (the colors of blue-green components).
func completeLabelValues(getter genericclioptions.RESTClientGetter, key string) cobra.CompletionFunc {
	return complete(getter, func(ctx context.Context, c *clients) ([]string, error) {
		list, err := c.Kube.AppsV1().Deployments(c.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var values []string
		for i := range list.Items {
			if v := list.Items[i].Spec.Template.Labels[key]; v != "" && !seen[v] {
				seen[v] = true
				values = append(values, v)
			}
		}
		return values, nil
	})
}

// completionHelp is the help of the completion command: cobra's default tells users to run
// `feastflow completion bash`, which is not how a kubectl plugin is completed.
const completionHelp = `Print a shell completion script.

kubectl feastflow <TAB> is completed by kubectl's own shell completion (kubectl 1.26 or
later) when the kubectl_complete-feastflow helper, shipped next to the plugin binary in
the release archives, is on PATH:

    source <(kubectl completion bash)     # or zsh, fish, powershell: kubectl's script

Component, color and node names are completed from the cluster of the current context.

The scripts printed by the sub-commands complete a command named feastflow, for a shell
alias such as: alias feastflow='kubectl feastflow'.`

// setCompletionHelp installs cobra's completion command now (cobra adds it lazily on
// Execute) so that its help can say how completion of a kubectl plugin works.
func setCompletionHelp(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Short = "Print a shell completion script (see --help for kubectl's own completion)"
		c.Long = completionHelp
		for _, sh := range c.Commands() {
			sh.Long = "Print the " + sh.Name() + " completion script for a command named feastflow (alias feastflow='kubectl feastflow').\nSee kubectl feastflow completion --help for completing kubectl feastflow itself."
		}
	}
}
