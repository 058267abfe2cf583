package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/kubeconfig"
)

// Exit codes, as "kubelect help" documents them.
const (
	exitOK      = 0 // done
	exitError   = 1 // a runtime error: the API server, the lock, the network
	exitUsage   = 2 // a bad command line: unknown flag, missing --name, bad timings
	exitTimeout = 3 // transfer: the new leader did not show within --timeout
)

// app is the command with its surroundings, which tests replace.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	hostname       func() (string, error)
	// loadConfig returns how to reach the API server; tests point it at
	// the in-process API server instead of a kubeconfig.
	loadConfig func(kubeconfig.Options) (*k8sapi.Config, error)
	now        func() time.Time
	listen     func(network, addr string) (net.Listener, error)

	// The signals kubelect catches (nil: none).
	notify     func(c chan<- os.Signal, sig ...os.Signal)
	stopNotify func(c chan<- os.Signal)
	// hups receives the SIGHUPs that a command which passes them on gets
	// (see command.hup); set by run.
	hups chan os.Signal

	// For run: CMD's standard input and the environment it inherits; the
	// clock of the elector and of the kill timer (nil: the real one); the
	// program that runs "kubelect guard" (nil: this very program).
	stdin      io.Reader
	environ    func() []string
	clock      election.Clock
	executable func() (string, error)
	// wrapLock, when set, wraps the lock of run's elector (tests: a lock
	// that does not tell its resourceVersions).
	wrapLock func(rl.Interface) rl.Interface
}

func newApp() *app {
	return &app{
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		getenv:     os.Getenv,
		hostname:   os.Hostname,
		loadConfig: kubeconfig.InClusterOrLoad,
		now:        time.Now,
		listen:     net.Listen,
		stdin:      os.Stdin,
		environ:    os.Environ,
		notify:     signal.Notify,
		stopNotify: signal.Stop,
	}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	help    string // the text of "kubelect NAME --help" before the flags
	run     func(a *app, ctx context.Context, fs *flag.FlagSet, args []string) error
	// hup: SIGHUP is caught and passed to the command on app.hups, rather
	// than ending kubelect.
	hup bool
}

// stopSignal is the cause of the context's end when kubelect got SIGTERM
// or SIGINT, so that run passes that very signal on to CMD.
type stopSignal struct{ sig syscall.Signal }

func (s *stopSignal) Error() string { return "got " + s.sig.String() }

// catchSignals is kubelect's one signal path: SIGTERM and SIGINT end the
// returned context with a *stopSignal cause, and stay caught until release
// is called, so that a second signal does not kill kubelect while it stops
// CMD and releases the lock. With hup, SIGHUP goes to a.hups.
func (a *app) catchSignals(ctx context.Context, hup bool) (_ context.Context, release func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if a.notify == nil {
		return ctx, func() { cancel(nil) }
	}
	sigs := make(chan os.Signal, 4)
	caught := []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	if hup {
		a.hups = make(chan os.Signal, 4)
		caught = append(caught, syscall.SIGHUP)
	}
	a.notify(sigs, caught...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					select {
					case a.hups <- s:
					default:
					}
					continue
				}
				ss, _ := s.(syscall.Signal)
				cancel(&stopSignal{ss})
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		close(done)
		if a.stopNotify != nil {
			a.stopNotify(sigs)
		}
		cancel(nil)
	}
}

var commands []*command // set by init in common.go, in the order help lists them

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// codedError carries an exit code other than 1 for a runtime error.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// run runs the command line args (without the program name) and returns the
// exit code.
func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.printHelp(a.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			c := findCommand(args[1])
			if c == nil {
				fmt.Fprintf(a.stderr, "kubelect help: unknown command %q; run 'kubelect help'\n", args[1])
				return exitUsage
			}
			a.printCommandHelp(a.stdout, c)
			return exitOK
		}
		a.printHelp(a.stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(a.stdout, "kubelect", version())
		return exitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(a.stderr, "kubelect: unknown command %q; run 'kubelect help'\n", name)
		return exitUsage
	}
	fs := flag.NewFlagSet("kubelect "+c.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {}
	ctx, release := a.catchSignals(ctx, c.hup)
	err := c.run(a, ctx, fs, args[1:])
	release()
	var ue *usageError
	var ce *codedError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		a.printCommandHelp(a.stdout, c)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "kubelect %s: %s\n", c.name, ue.msg)
		fmt.Fprintf(a.stderr, "Run 'kubelect %s --help' for usage.\n", c.name)
		return exitUsage
	case errors.Is(err, errFlagParse):
		// flag has printed the error.
		fmt.Fprintf(a.stderr, "Run 'kubelect %s --help' for usage.\n", c.name)
		return exitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(a.stderr, "kubelect %s: %v\n", c.name, ce.err)
		return ce.code
	default:
		fmt.Fprintf(a.stderr, "kubelect %s: %v\n", c.name, err)
		return exitError
	}
}

var errFlagParse = errors.New("bad flags")

// parse parses args into fs and refuses positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlagParse
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (flags come as --name=value)", fs.Arg(0))
	}
	return nil
}

// buildVersion, when set at link time (-ldflags "-X
// main.buildVersion=v1.2.3"), is the version "kubelect version" prints.
var buildVersion string

// version is buildVersion, else the kubelect module's version from the
// build information: a release tag for "go install ...@vX.Y.Z", else
// "(devel)" with the VCS revision and time where Go recorded them; then the
// Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if buildVersion != "" {
		v = buildVersion
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && v == "(devel)" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + dirty
		if at != "" {
			v += " " + at
		}
	}
	return v + " " + bi.GoVersion
}

const mainHelp = `kubelect: Kubernetes leader election for any program.

Usage:
  kubelect COMMAND [flags]

Commands:
%s
  help [COMMAND]  this text, or a command's flags and examples
  version         print the version

Every command takes the lock flags (--name, --namespace, --lock-kind), the
timings (--lease-duration, --renew-deadline, --retry-period), the identity
(--identity), the API server flags (--kubeconfig, --context) and the log
flags (--log-format, --log-level). Run "kubelect help COMMAND" for them.

Reaching the API server: in a pod, the pod's service account (unless
--kubeconfig, $KUBECONFIG or --context names a kubeconfig); elsewhere,
--kubeconfig, else $KUBECONFIG, else ~/.kube/config, as kubectl reads them.
The namespace defaults to the kubeconfig context's, or the pod's.

Logs are written to standard error (text, or JSON with --log-format=json);
results to standard output.

Exit codes:
  0  success
  1  runtime error: the API server could not be reached or refused, the lock
     could not be read, a credential plugin failed
  2  usage error: unknown command or flag, a missing or invalid flag value,
     timings that cannot work, a lock kind the command cannot use
  3  kubelect transfer: the new leader did not show within --timeout (the
     request stays in place until a candidate clears it)
  kubelect run exits with CMD's exit code (128+N for signal N) when CMD
  exited, 126 or 127 when CMD could not be started or found: see
  "kubelect help run"

Examples:
  kubelect status -n my-namespace --name my-controller -w
  kubelect run -n my-namespace --name my-job -- /usr/local/bin/my-job
`

func (a *app) printHelp(w io.Writer) {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, mainHelp, strings.TrimSuffix(b.String(), "\n"))
}

func (a *app) printCommandHelp(w io.Writer, c *command) {
	fs := flag.NewFlagSet("kubelect "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// Register the flags by running the command on --help, which parses
	// nothing else.
	_ = c.run(a, context.Background(), fs, []string{"--help"})
	fmt.Fprint(w, c.help)
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}
