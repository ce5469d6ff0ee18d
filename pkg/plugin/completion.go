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
		names := make([]string, 0, len(list.Items))
		for _, s := range list.Items {
			names = append(names, s.Name)
		}
		return names, nil
	})
}

// completeNodes lists the cluster's nodes.
func completeNodes(getter genericclioptions.RESTClientGetter) cobra.CompletionFunc {
	return complete(getter, func(ctx context.Context, c *clients) ([]string, error) {
		list, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(list.Items))
		for _, n := range list.Items {
			names = append(names, n.Name)
		}
		return names, nil
	})
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
		for _, d := range list.Items {
			if v := d.Spec.Template.Labels[key]; v != "" && !seen[v] {
				seen[v] = true
				values = append(values, v)
			}
		}
		return values, nil
	})
}
