package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
)

type abortOptions struct {
	getter  genericclioptions.RESTClientGetter
	streams genericiooptions.IOStreams
	out     outputFlag
	write   writeFlags
	keys    keyFlags

	component string
	writer    *audit.Writer
}

func newAbortCmd(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &abortOptions{getter: getter, streams: streams}
	cmd := &cobra.Command{
		Use:   "abort [COMPONENT]",
		Short: "Undo a release in progress: blue-green idle color to 0 before a switch; canary to 0, stable back to full",
		Long: `Undo a release in progress.

blue-green: before a switch, scale the newly deployed idle color back to 0 (traffic never moved).
After a switch, use rollback instead.
canary: scale stable back to full capacity first, then the canary to 0.

Asks y/N on a terminal, needs --yes elsewhere.`,
		Example:           `  kubectl feastflow abort feastflow-backend --yes`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeServices(getter),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.component = oneArg(args)
			if err := o.out.validate(); err != nil {
				return err
			}
			w, err := o.write.writer()
			if err != nil {
				return err
			}
			o.writer = w
			return o.run(cmd.Context())
		},
	}
	o.write.add(cmd, 10*time.Minute)
	o.write.addWindow(cmd)
	o.write.addYes(cmd)
	o.out.add(cmd)
	o.keys.add(cmd)
	return cmd
}

func (o *abortOptions) run(ctx context.Context) error {
	s, err := newReleaseSession(ctx, o.getter, o.streams, o.writer)
	if err != nil {
		return err
	}
	c, err := s.component(ctx, o.component, o.keys.keys(), strategy.BlueGreen, strategy.Canary, strategy.StatefulSetStrategy)
	if err != nil {
		return err
	}
	ctx, cancel := o.write.withTimeout(ctx)
	defer cancel()
	opts := strategy.AbortOptions{Confirm: confirmer(o.streams, &o.write), Timeout: o.write.timeout}
	var res *strategy.Result
	if strategy.IsWorkload(c) {
		res, err = strategy.AbortStatefulSet(ctx, s.env, c, opts)
	} else {
		res, err = strategy.Abort(ctx, s.env, c, opts)
	}
	if res != nil && err == nil {
		if perr := printResult(&o.out, o.streams.Out, res); perr != nil {
			return perr
		}
	}
	return releaseError(err)
}
