package plugin

import (
	"context"
	"sort"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// registerGlobalFlagCompletions completes kubectl's global flags as kubectl does: -n with
// the namespaces of the cluster, --context, --cluster and --user with the kubeconfig's names
// (from the kubeconfig the other flags on the line select).
func registerGlobalFlagCompletions(root *cobra.Command, getter genericclioptions.RESTClientGetter) {
	flags := root.PersistentFlags()
	if flags.Lookup("namespace") != nil {
		_ = root.RegisterFlagCompletionFunc("namespace", complete(getter, func(ctx context.Context, c *clients) ([]string, error) {
			list, err := c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return itemNames(list.Items), nil
		}))
	}
	kubeconfigNames := map[string]func(*clientcmdapi.Config) []string{
		"context": func(c *clientcmdapi.Config) []string { return keys(c.Contexts) },
		"cluster": func(c *clientcmdapi.Config) []string { return keys(c.Clusters) },
		"user":    func(c *clientcmdapi.Config) []string { return keys(c.AuthInfos) },
	}
	for flag, names := range kubeconfigNames {
		if flags.Lookup(flag) == nil {
			continue
		}
		_ = root.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			raw, err := getter.ToRawKubeConfigLoader().RawConfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return names(&raw), cobra.ShellCompDirectiveNoFileComp
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
