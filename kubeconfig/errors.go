package kubeconfig

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNoConfig is wrapped by the error of Load when there is no
	// kubeconfig file to read (KUBECONFIG lists none that exists, or it is
	// unset and ~/.kube/config does not exist), and by InClusterOrLoad's
	// when, besides, the program does not run in a pod.
	ErrNoConfig = errors.New("kubeconfig: no configuration")

	// ErrContextNotFound is wrapped by the error of Load when no context
	// is chosen (no current-context, no Options.Context) or the chosen one
	// is not defined in the files.
	ErrContextNotFound = errors.New("kubeconfig: context not found")

	// ErrInvalidConfig is wrapped by the error of Load when a file is not
	// a valid kubeconfig (bad YAML, a name defined twice, a context that
	// names a cluster or user that is not defined, bad base64, two
	// settings that exclude each other) or names a file that cannot be
	// read.
	ErrInvalidConfig = errors.New("kubeconfig: invalid configuration")

	// ErrUnsupported is wrapped by the error of Load when the chosen
	// context uses what this package does not do: insecure-skip-tls-verify,
	// a legacy auth-provider, basic auth (username and password),
	// impersonation, a proxy-url or a v1alpha1 exec plugin. The error says
	// what to use instead.
	ErrUnsupported = errors.New("kubeconfig: not supported")

	// ErrExecPlugin is matched (errors.Is) by every error of an exec
	// credential plugin: one that cannot start, fails, or prints no
	// valid credential. errors.As with *ExecError gives the details.
	ErrExecPlugin = errors.New("kubeconfig: exec credential plugin failed")
)

// ExecError is the error of an exec credential plugin. It never holds
// what the plugin printed on its standard output, where the credential
// is; Stderr is the end of what it printed on its standard error, with
// any token this package knows of redacted.
type ExecError struct {
	// User is the kubeconfig user whose plugin failed.
	User string
	// Command is the plugin's command, as the kubeconfig names it
	// (resolved against the file's folder when it is a relative path).
	Command string
	// Stderr is at most the last 4 KiB of the plugin's standard error.
	Stderr string
	// InstallHint is the kubeconfig's installHint, when the command was
	// not found.
	InstallHint string
	// Err is the cause: an *exec.Error (the command was not found), an
	// *exec.ExitError (it failed), a context error (it was cut off), or
	// what is wrong with its output.
	Err error
}

func (e *ExecError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kubeconfig: user %q: exec plugin %s: %v", e.User, e.Command, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "; its stderr: %s", s)
	}
	if e.InstallHint != "" {
		fmt.Fprintf(&b, "; %s", strings.TrimSpace(e.InstallHint))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ExecError) Unwrap() error { return e.Err }

// Is reports whether target is ErrExecPlugin.
func (e *ExecError) Is(target error) bool { return target == ErrExecPlugin }
