// Command demo runs a small leader election and shows takeovers.
//
// With no flags it starts the in-process API server (k8sapi/testapiserver) on
// loopback HTTPS and three candidates in this process, each with its own
// REST client. It waits for a leader, then stops the leader twice:
//
//   - a planned handover: the leader's context is cancelled and it releases
//     the lock (ReleaseOnCancel), so a follower takes over at its next try;
//   - a crash: the leader's connection to the API server is cut, so it can
//     neither renew nor release; a follower takes over once the lease has
//     expired by its own clock.
//
// It prints how long each takeover took and exits 0.
//
// Flags point it at a real cluster instead: -in-cluster (service-account
// files), or -host, -token-file and -ca-file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	inCluster           bool
	host, token, caFile string
	namespace, lockName string
	lockKind            string
	candidates          int
	lease, renew, retry time.Duration
	verbose             bool
}

func run() error {
	var o options
	flag.BoolVar(&o.inCluster, "in-cluster", false, "use the pod's service-account config (KUBERNETES_SERVICE_HOST and the token, CA and namespace files)")
	flag.StringVar(&o.host, "host", "", "API server URL of a real cluster, such as https://127.0.0.1:6443 (default: the embedded in-process server)")
	flag.StringVar(&o.token, "token-file", "", "bearer token file for -host")
	flag.StringVar(&o.caFile, "ca-file", "", "cluster CA certificate file for -host")
	flag.StringVar(&o.namespace, "namespace", "", "namespace of the lock (default: the pod's namespace with -in-cluster, else \"default\")")
	flag.StringVar(&o.lockName, "lock-name", "kubelect-demo", "name of the lock object")
	flag.StringVar(&o.lockKind, "lock", rl.LeasesResourceLock, "lock kind: leases, endpoints, configmaps, endpointsleases or configmapsleases")
	flag.IntVar(&o.candidates, "candidates", 3, "number of candidates (at least 2)")
	flag.DurationVar(&o.lease, "lease-duration", 4*time.Second, "LeaseDuration")
	flag.DurationVar(&o.renew, "renew-deadline", 2*time.Second, "RenewDeadline")
	flag.DurationVar(&o.retry, "retry-period", 500*time.Millisecond, "RetryPeriod")
	flag.BoolVar(&o.verbose, "v", false, "log the electors' decisions")
	flag.Parse()
	if o.candidates < 2 {
		return errors.New("-candidates must be at least 2: the demo stops leaders")
	}

	cfg, where, cleanup, err := apiConfig(&o)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Printf("API server: %s; lock: %s %s/%s; %d candidates; lease %v, renew deadline %v, retry %v\n",
		where, o.lockKind, o.namespace, o.lockName, o.candidates, o.lease, o.renew, o.retry)

	logLevel := slog.LevelError
	if o.verbose {
		logLevel = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	started := make(chan leadership, o.candidates*2)
	var cands []*candidate
	for i := 0; i < o.candidates; i++ {
		c, err := startCandidate(ctx, cfg, &o, fmt.Sprintf("demo-%d-%d", os.Getpid(), i), logger, started)
		if err != nil {
			return err
		}
		cands = append(cands, c)
	}
	defer func() {
		for _, c := range cands {
			c.stop()
		}
	}()

	begin := time.Now()
	first, err := next(ctx, started)
	if err != nil {
		return fmt.Errorf("waiting for the first leader: %w", err)
	}
	fmt.Printf("%-9s %s leads (term %d) after %v\n", "elected:", first.id, first.term, round(first.at.Sub(begin)))

	// A planned handover: cancel the leader; it releases the lock.
	leader := byID(cands, first.id)
	stopAt := time.Now()
	leader.stop()
	second, err := next(ctx, started)
	if err != nil {
		return fmt.Errorf("waiting for a leader after the handover: %w", err)
	}
	fmt.Printf("%-9s %s stopped with release; %s leads (term %d) %v later\n", "handover:",
		first.id, second.id, second.term, round(second.at.Sub(stopAt)))

	// A crash: cut the leader off from the API server, then stop it. It can
	// neither renew nor release; the others wait for the lease to expire.
	leader = byID(cands, second.id)
	leader.cut.Store(true)
	stopAt = time.Now()
	leader.stop()
	third, err := next(ctx, started)
	if err != nil {
		return fmt.Errorf("waiting for a leader after the crash: %w", err)
	}
	fmt.Printf("%-9s %s crashed; %s leads (term %d) %v later (lease duration %v)\n", "failover:",
		second.id, third.id, third.term, round(third.at.Sub(stopAt)), o.lease)
	return nil
}

// leadership is one OnStartedLeading call.
type leadership struct {
	id   string
	term int
	at   time.Time
}

func next(ctx context.Context, started <-chan leadership) (leadership, error) {
	select {
	case l := <-started:
		return l, nil
	case <-ctx.Done():
		return leadership{}, ctx.Err()
	}
}

// candidate is one elector with its own client, as one replica would have.
type candidate struct {
	id     string
	cut    atomic.Bool // set: every request fails, as if the process were gone
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (c *candidate) stop() {
	c.once.Do(func() {
		c.cancel()
		<-c.done
	})
}

func startCandidate(ctx context.Context, base k8sapi.Config, o *options, id string, logger *slog.Logger, started chan<- leadership) (*candidate, error) {
	c := &candidate{id: id, done: make(chan struct{})}
	cfg := base
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return &cuttable{next: rt, cut: &c.cut} }
	client, err := k8sapi.New(cfg)
	if err != nil {
		return nil, err
	}
	lock, err := rl.New(o.lockKind, o.namespace, o.lockName, client, rl.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, err
	}
	var le *election.LeaderElector
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.lease,
		RenewDeadline:   o.renew,
		RetryPeriod:     o.retry,
		ReleaseOnCancel: true,
		Name:            id,
		Logger:          logger,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				term, _ := le.Term()
				started <- leadership{id: id, term: term, at: time.Now()}
				<-stop
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, c.cancel = context.WithCancel(ctx)
	go func() {
		defer close(c.done)
		if err := le.RunContext(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("elector ended", "candidate", id, "err", err)
		}
	}()
	return c, nil
}

func byID(cands []*candidate, id string) *candidate {
	for _, c := range cands {
		if c.id == id {
			return c
		}
	}
	panic("demo: no candidate " + id)
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
