package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/kubeconfig"
)

func init() {
	commands = []*command{runCommand, serveCommand, statusCommand, transferCommand}
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	lockKind  string
	namespace string
	name      string
	identity  string

	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration

	kubeconfig string
	context    string

	logFormat string
	logLevel  string
}

var lockKinds = []string{
	rl.LeasesResourceLock, rl.EndpointsLeasesResourceLock, rl.ConfigMapsLeasesResourceLock,
	rl.EndpointsResourceLock, rl.ConfigMapsResourceLock,
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.lockKind, "lock-kind", rl.LeasesResourceLock, "the lock object's kind: "+strings.Join(lockKinds, ", "))
	fs.StringVar(&c.namespace, "namespace", "", "the lock's namespace (default: the kubeconfig context's, or the pod's)")
	fs.StringVar(&c.namespace, "n", "", "short for --namespace")
	fs.StringVar(&c.name, "name", "", "the lock object's name (required)")
	fs.StringVar(&c.identity, "identity", "", "this candidate's identity (default: $POD_NAME, else the host name)")
	fs.DurationVar(&c.leaseDuration, "lease-duration", election.DefaultLeaseDuration, "how long a lease runs after its last renewal")
	fs.DurationVar(&c.renewDeadline, "renew-deadline", election.DefaultRenewDeadline, "how long a leader tries to renew before it stops leading")
	fs.DurationVar(&c.retryPeriod, "retry-period", election.DefaultRetryPeriod, "time between two tries to acquire or renew, and between two reads when polling")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "a kubeconfig file (default: $KUBECONFIG, else the pod's service account in a pod, else ~/.kube/config)")
	fs.StringVar(&c.context, "context", "", "the kubeconfig context to use (default: the current context)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format on standard error: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// check validates the flags that need no API server.
func (c *commonFlags) check() error {
	var problems []string
	if c.name == "" {
		problems = append(problems, "--name is required")
	}
	known := false
	for _, k := range lockKinds {
		known = known || c.lockKind == k
	}
	if !known {
		problems = append(problems, fmt.Sprintf("--lock-kind %q is not one of %s", c.lockKind, strings.Join(lockKinds, ", ")))
	}
	switch {
	case c.leaseDuration <= 0 || c.renewDeadline <= 0 || c.retryPeriod <= 0:
		problems = append(problems, "--lease-duration, --renew-deadline and --retry-period must be positive")
	case c.leaseDuration > election.MaxLeaseDuration:
		problems = append(problems, fmt.Sprintf("--lease-duration %s is longer than %s", c.leaseDuration, election.MaxLeaseDuration))
	case c.leaseDuration <= c.renewDeadline:
		problems = append(problems, fmt.Sprintf("--lease-duration %s must be longer than --renew-deadline %s", c.leaseDuration, c.renewDeadline))
	case float64(c.renewDeadline) <= election.JitterFactor*float64(c.retryPeriod):
		problems = append(problems, fmt.Sprintf("--renew-deadline %s must be longer than %g × --retry-period %s", c.renewDeadline, election.JitterFactor, c.retryPeriod))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		problems = append(problems, fmt.Sprintf("--log-format %q is not text or json", c.logFormat))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		problems = append(problems, fmt.Sprintf("--log-level %q is not debug, info, warn or error", c.logLevel))
	}
	if len(problems) > 0 {
		return usagef("%s", strings.Join(problems, "; "))
	}
	return nil
}

// env is what a command works with once its flags are checked.
type env struct {
	log       *slog.Logger
	client    *k8sapi.Client
	namespace string
	identity  string
	lockDesc  string // "kind namespace/name"
}

func (a *app) logger(c *commonFlags) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// setup checks the flags, and builds the logger and the API client.
func (a *app) setup(c *commonFlags) (*env, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	e := &env{log: a.logger(c)}
	cfg, err := a.loadConfig(kubeconfig.Options{Path: c.kubeconfig, Context: c.context, ExecStderr: a.stderr})
	if err != nil {
		return nil, fmt.Errorf("API server config: %w", err)
	}
	cfg.Logger = e.log
	e.namespace = c.namespace
	if e.namespace == "" {
		e.namespace = cfg.Namespace
	}
	if e.namespace == "" {
		e.namespace = kubeconfig.DefaultNamespace
	}
	e.identity = c.identity
	if e.identity == "" {
		e.identity = a.getenv("POD_NAME")
	}
	if e.identity == "" {
		h, err := a.hostname()
		if err != nil || h == "" {
			return nil, usagef("no --identity, no $POD_NAME and no host name (%v): give --identity", err)
		}
		e.identity = h
	}
	e.client, err = k8sapi.New(*cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	e.lockDesc = fmt.Sprintf("%s %s/%s", c.lockKind, e.namespace, c.name)
	return e, nil
}

// lock builds a lock of c's kind for e's identity.
func (e *env) lock(c *commonFlags) (rl.Interface, error) {
	lock, err := rl.New(c.lockKind, e.namespace, c.name, e.client, rl.ResourceLockConfig{Identity: e.identity})
	if errors.Is(err, rl.ErrInvalidLock) {
		return nil, usagef("%v", err)
	}
	return lock, err
}

// observer builds an observer of the lock with a lock of its own.
func (e *env) observer(c *commonFlags, onChange func(election.Observation)) (*election.Observer, error) {
	lock, err := e.lock(c)
	if err != nil {
		return nil, err
	}
	return election.NewObserver(election.ObserverConfig{
		Lock:          lock,
		RetryPeriod:   c.retryPeriod,
		LeaseDuration: c.leaseDuration,
		OnChange:      onChange,
		Logger:        e.log,
	})
}
