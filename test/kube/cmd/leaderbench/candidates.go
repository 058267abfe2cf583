package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cgle "k8s.io/client-go/tools/leaderelection"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// settings are one trial's durations.
type settings struct{ lease, renew, retry time.Duration }

// meter is a candidate's transport: it counts requests, remembers when the
// last successful renewal was sent, and can be cut like a killed process.
type meter struct {
	next     http.RoundTripper
	cut      atomic.Bool
	requests atomic.Int64 // all, watches included
	puts     atomic.Int64
	gets     atomic.Int64 // not counting watches
	lastPut  atomic.Int64 // UnixNano when the last 2xx PUT was sent
}

func (m *meter) RoundTrip(req *http.Request) (*http.Response, error) {
	if m.cut.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("leaderbench: connection cut")
	}
	m.requests.Add(1)
	switch {
	case req.Method == http.MethodPut:
		m.puts.Add(1)
	case req.Method == http.MethodGet && req.URL.Query().Get("watch") == "":
		m.gets.Add(1)
	}
	sent := time.Now()
	resp, err := m.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && resp.StatusCode < 300 {
		m.lastPut.Store(sent.UnixNano())
	}
	return resp, err
}

// candidate is one elector of either implementation.
type candidate struct {
	id      string
	meter   *meter
	leading atomic.Bool
	started atomic.Int64 // UnixNano of OnStartedLeading
	cancel  context.CancelFunc
	done    chan struct{}
}

func (c *candidate) stop() { c.cancel(); <-c.done }

func (c *candidate) begin() {
	c.started.Store(time.Now().UnixNano())
	c.leading.Store(true)
}

// impl starts a candidate of one implementation on the Lease name.
type impl struct {
	name  string
	start func(cl *harness.Cluster, s settings, lease, id string) (*candidate, error)
}

var impls = []impl{{"kubelect", startOurs}, {"client-go v0.37.2", startClientGo}}

func startOurs(cl *harness.Cluster, s settings, lease, id string) (*candidate, error) {
	c := &candidate{id: id, meter: &meter{}, done: make(chan struct{})}
	cfg, err := k8sapi.InClusterConfigFromDir(cl.ServiceAccountDir)
	if err != nil {
		return nil, err
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { c.meter.next = rt; return c.meter }
	cfg.WarningHandler = func(string) {}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		return nil, err
	}
	lock, err := rl.New(rl.LeasesResourceLock, cl.Namespace, lease, client, rl.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, err
	}
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: s.lease, RenewDeadline: s.renew, RetryPeriod: s.retry, ReleaseOnCancel: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) { c.begin(); <-stop; c.leading.Store(false) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); _ = le.RunContext(ctx) }()
	return c, nil
}

func startClientGo(cl *harness.Cluster, s settings, lease, id string) (*candidate, error) {
	c := &candidate{id: id, meter: &meter{}, done: make(chan struct{})}
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host:            cl.Host,
		BearerTokenFile: filepath.Join(cl.ServiceAccountDir, "token"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: cl.CAFile},
		WrapTransport:   func(rt http.RoundTripper) http.RoundTripper { c.meter.next = rt; return c.meter },
	})
	if err != nil {
		return nil, err
	}
	lock, err := cgrl.New(cgrl.LeasesResourceLock, cl.Namespace, lease, cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, err
	}
	le, err := cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: s.lease, RenewDeadline: s.renew, RetryPeriod: s.retry, ReleaseOnCancel: true,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { c.begin(); <-ctx.Done(); c.leading.Store(false) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); le.Run(ctx) }()
	return c, nil
}

// fleet starts n candidates of im on a fresh Lease.
func fleet(cl *harness.Cluster, im impl, s settings, lease string, n int) ([]*candidate, error) {
	var cands []*candidate
	for i := 0; i < n; i++ {
		c, err := im.start(cl, s, lease, lease+"-"+string(rune('a'+i)))
		if err != nil {
			stopAll(cands)
			return nil, err
		}
		cands = append(cands, c)
	}
	return cands, nil
}

func stopAll(cands []*candidate) {
	for _, c := range cands {
		c.stop()
	}
}

// waitLeader waits for a candidate other than not to lead.
func waitLeader(cands []*candidate, not *candidate, within time.Duration) (*candidate, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, c := range cands {
			if c != not && c.leading.Load() {
				return c, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return nil, errors.New("leaderbench: no new leader in time")
}
