package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// Exit codes, as PRODUCT.md promises them.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitProblems    = 3
	ExitInterrupted = 130
)

// exitError carries the process exit code of an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a bad-usage error: exit 2, raised before any API call.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// problemsFound is the exit-3 result of diagnose and preflight: the report was printed,
// and it contains findings at or above --fail-on.
func problemsFound(format string, args ...any) error {
	return &exitError{code: ExitProblems, err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by the root command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return ExitError
}

// asUsage marks err as bad usage (exit 2).
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	var e *exitError
	if errors.As(err, &e) {
		return err
	}
	return &exitError{code: ExitUsage, err: err}
}

// ErrorLine renders an error returned by the root command as the one line main prints
// after "error: ": client-go's multi-line messages are cut to what names the problem,
// control characters are escaped, and connection failures get the fix a user needs.
func ErrorLine(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		var kept []string
		for _, line := range strings.Split(msg, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || boilerplate(line) {
				continue
			}
			kept = append(kept, line)
		}
		msg = strings.Join(kept, "; ")
	}
	if hint := connectionHint(err); hint != "" {
		msg += " (" + hint + ")"
	} else if strings.Contains(msg, "getting credentials: exec: executable") {
		msg += " (install the kubeconfig user's credential plugin, or fix its exec command: kubectl config view --minify)"
	}
	return term.OneLine(msg)
}

// boilerplate reports whether a line of a client-go message only points at documentation:
// the exec credential plugin error explains what credential plugins are in three lines.
func boilerplate(line string) bool {
	return strings.HasPrefix(line, "It looks like you are trying to use a client-go credential plugin") ||
		strings.HasPrefix(line, "To learn more about this feature, consult the documentation") ||
		strings.HasPrefix(line, "https://kubernetes.io/docs/reference/access-authn-authz/authentication")
}

// connectionHint names the fix for an API server that could not be reached.
func connectionHint(err error) string {
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return ""
	}
	var netErr net.Error
	switch {
	case urlErr.Timeout() || errors.Is(err, context.DeadlineExceeded):
		return "the API server did not answer within --request-timeout; check that the cluster is up: kubectl cluster-info"
	case errors.As(urlErr.Err, &netErr), errors.Is(err, syscall.ECONNREFUSED):
		return "the API server is unreachable; check that the cluster is up and --context/--kubeconfig point at it: kubectl cluster-info"
	}
	return ""
}
