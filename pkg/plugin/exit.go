package plugin

import (
	"errors"
	"fmt"
)

// Exit codes, as PRODUCT.md promises them.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitProblems    = 3
	ExitInterrupted = 130
)

// ExitError carries the process exit code of an error.
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
