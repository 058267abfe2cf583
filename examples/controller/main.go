// Command controller is a leader-elected Go program as it runs in a
// Deployment (deploy/go-program): every replica stands for a Lease lock,
// and only the leader does the work, here a placeholder reconcile loop
// that logs its fencing token every -work-interval.
//
// It reaches the API server with the pod's service account
// (k8sapi.InClusterConfig), takes its identity from $POD_NAME and its
// namespace from $POD_NAMESPACE (both from the downward API; the
// namespace falls back to the service account's), and serves on -listen:
//
//	GET /healthz  liveness (LivenessHandler): 503 when the renew loop or
//	              the leader's work is stuck
//	GET /readyz   readiness (ReadinessHandler): 503 when every try to reach
//	              the lock has failed for -ready-tolerance
//	GET /leader   200 on the leader, 503 on the others (LeaderHandler)
//
// On SIGTERM it stops the work, releases the lock so that another replica
// takes over at once, and exits 0.
//
// The Role it needs: get, create, update and watch on its Lease; nothing
// else (it records no events).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
)

// options are the command's settings once flags and environment are read.
type options struct {
	lockName       string
	namespace      string
	identity       string
	listen         string
	lease, renew   time.Duration
	retry          time.Duration
	workInterval   time.Duration
	readyTolerance time.Duration
}

// parseOptions reads the flags in args, with defaults from getenv.
func parseOptions(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.lockName, "lock-name", "controller-example", "the Lease's name")
	fs.StringVar(&o.namespace, "namespace", getenv("POD_NAMESPACE"), "the Lease's namespace (default $POD_NAMESPACE, else the service account's)")
	fs.StringVar(&o.identity, "identity", getenv("POD_NAME"), "this replica's identity (default $POD_NAME)")
	fs.StringVar(&o.listen, "listen", ":8080", "the address to serve /healthz, /readyz and /leader on")
	fs.DurationVar(&o.lease, "lease-duration", election.DefaultLeaseDuration, "how long a lease runs after its last renewal")
	fs.DurationVar(&o.renew, "renew-deadline", election.DefaultRenewDeadline, "how long the leader tries to renew before it stops leading")
	fs.DurationVar(&o.retry, "retry-period", election.DefaultRetryPeriod, "time between two tries to acquire or renew")
	fs.DurationVar(&o.workInterval, "work-interval", 5*time.Second, "time between two rounds of the leader's work")
	fs.DurationVar(&o.readyTolerance, "ready-tolerance", time.Minute, "how long every try may fail before /readyz answers 503")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.identity == "":
		return o, errors.New("no identity: set $POD_NAME (the downward API's metadata.name) or -identity")
	case o.workInterval <= 0 || o.readyTolerance <= 0:
		return o, errors.New("-work-interval and -ready-tolerance must be positive")
	}
	return o, nil
}

func main() {
	o, err := parseOptions(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := k8sapi.InClusterConfig()
	if err != nil {
		log.Error("API server config", "err", err)
		os.Exit(1)
	}
	if o.namespace == "" {
		o.namespace = cfg.Namespace
	}
	cfg.Logger = log
	client, err := k8sapi.New(*cfg)
	if err != nil {
		log.Error("API client", "err", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o, client, ln, log); err != nil {
		log.Error("stopped", "err", err)
		os.Exit(1)
	}
}

// run stands for the lock and serves the health endpoints on ln until ctx
// ends; it returns once the lock is released (or could not be) and the
// server has stopped.
func run(ctx context.Context, o options, client *k8sapi.Client, ln net.Listener, log *slog.Logger) error {
	lock, err := rl.New(rl.LeasesResourceLock, o.namespace, o.lockName, client, rl.ResourceLockConfig{Identity: o.identity})
	if err != nil {
		ln.Close()
		return err
	}
	var le *election.LeaderElector
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: o.lease,
		RenewDeadline: o.renew,
		RetryPeriod:   o.retry,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				// The fencing token goes on every write that must not
				// come from two leaders; without one (a server whose
				// resourceVersions are not integers) the work logs why.
				token, err := le.FencingToken()
				if err != nil {
					log.Warn("no fencing token", "err", err)
				}
				work(stop, token, o.workInterval, log)
			},
			OnStoppedLeading: func() { log.Info("stopped leading") },
			OnNewLeader:      func(id string) { log.Info("leader", "identity", id) },
		},
		// The work returns at once when stop closes, so the default
		// ReleaseGrace (RenewDeadline) is never used up in practice.
		ReleaseOnCancel: true,
		Name:            o.lockName,
		Logger:          log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	// A few RetryPeriods: the work must return within that once stop closes.
	mux.Handle("GET /healthz", le.LivenessHandler(3*o.retry))
	mux.Handle("GET /readyz", le.ReadinessHandler(o.readyTolerance))
	mux.Handle("GET /leader", le.LeaderHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("standing", "lock", o.namespace+"/"+o.lockName, "identity", o.identity, "listen", ln.Addr().String())

	// A server that fails ends the run too: ctx is cancelled, so Stand
	// releases the lock before run returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stood := make(chan error, 1)
	go func() { stood <- le.Stand(ctx) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		cancel()
	}
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	_ = srv.Shutdown(shutdown)
	<-stood // Stand returns once the lock is released (or could not be)
	if serveErr != nil {
		return fmt.Errorf("HTTP server: %w", serveErr)
	}
	return nil
}

// work is the leader's placeholder: one reconcile round every interval,
// logged with the fencing token to put on its writes, until stop closes.
func work(stop <-chan struct{}, token fencing.Token, interval time.Duration, log *slog.Logger) {
	log.Info("started leading", "fencingToken", token)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			log.Info("leadership ended: work stopped", "fencingToken", token)
			return
		case <-t.C:
			log.Info("reconcile", "fencingToken", token)
		}
	}
}
