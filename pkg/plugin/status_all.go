package plugin

import (
	"context"
	"fmt"
	"io"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

// runAll is `status -A`: every namespace with components, from one paged LIST per kind.
func (o *statusOptions) runAll(ctx context.Context, c *clients) error {
	all, err := strategy.LoadStatusAll(ctx, c.Kube)
	if err != nil {
		return err
	}
	list, err := strategy.BuildStatusAll(all, o.keys.keys(), o.now())
	if err != nil {
		return err
	}
	return o.out.print(o.streams.Out, list, func(w io.Writer) error { return renderStatusList(w, list, o) })
}

// renderStatusList prints each namespace's report as `status -n NS` would, one after the
// other, and a closing count.
func renderStatusList(w io.Writer, list *strategy.StatusList, o *statusOptions) error {
	for i := range list.Items {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := renderStatus(w, &list.Items[i], o.now()); err != nil {
			return err
		}
	}
	components := 0
	for i := range list.Items {
		components += len(list.Items[i].Components)
	}
	if len(list.Items) > 0 {
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, "%d components in %d of %d namespaces.\n", components, len(list.Items), list.Namespaces)
	return err
}
