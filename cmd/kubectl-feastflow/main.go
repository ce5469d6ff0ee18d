// Command kubectl-feastflow is the kubectl plugin `kubectl feastflow`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // deployment windows name time zones; not every machine has zoneinfo

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec credentials and OIDC, as kubectl links them

	"github.com/feastflow/kubectl-feastflow/pkg/plugin"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := plugin.Execute(ctx, plugin.NewRootCmd(streams))
	interrupted := ctx.Err() != nil
	stop()
	code := plugin.ExitCode(err)
	if interrupted {
		code = plugin.ExitInterrupted
	}
	if err != nil {
		msg := plugin.ErrorLine(err)
		if interrupted && errors.Is(err, context.Canceled) {
			msg = "interrupted"
		} else if interrupted {
			msg = "interrupted: " + msg
		}
		fmt.Fprintln(os.Stderr, "error: "+msg)
	}
	os.Exit(code)
}
