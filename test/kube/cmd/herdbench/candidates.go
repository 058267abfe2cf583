package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
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

// settings are the elector's durations.
type settings struct{ lease, renew, retry time.Duration }

// recorder keeps every request of a fleet's transports.
type recorder struct {
	mu   sync.Mutex
	recs []record
}

func (r *recorder) add(rec record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

// snapshot returns the records so far (the slice is only appended to).
func (r *recorder) snapshot() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recs[:len(r.recs):len(r.recs)]
}

// meter is one candidate's transport, under the client's auth layer and
// above its own connection pool: it records each request and can be cut,
// as a SIGKILL cuts a process off.
type meter struct {
	cand    int
	rec     *recorder
	next    http.RoundTripper
	cut     atomic.Bool
	lastPut atomic.Int64 // UnixNano when the last 2xx PUT was sent
	sent    atomic.Int64 // requests sent
}

func (m *meter) RoundTrip(req *http.Request) (*http.Response, error) {
	if m.cut.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("herdbench: connection cut")
	}
	v := vOther
	switch req.Method {
	case http.MethodGet:
		v = vGET
		if w := req.URL.Query().Get("watch"); w == "true" || w == "1" {
			v = vWATCH
		}
	case http.MethodPut:
		v = vPUT
	case http.MethodPost:
		v = vPOST
	}
	sent := time.Now().UnixNano()
	m.sent.Add(1)
	resp, err := m.next.RoundTrip(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
		if v == vPUT && code < 300 {
			m.lastPut.Store(sent)
		}
	}
	m.rec.add(record{cand: m.cand, at: sent, verb: v, code: code})
	return resp, err
}

// closeIdle closes the candidate's idle connections, as a dead process's
// would be closed.
func (m *meter) closeIdle() {
	if c, ok := m.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// candidate is one elector, with a client of its own.
type candidate struct {
	num     int
	id      string
	meter   *meter
	leading atomic.Bool
	started atomic.Int64 // UnixNano of OnStartedLeading
	cancel  context.CancelFunc
	done    chan struct{}
}

func (c *candidate) begin() {
	c.started.Store(time.Now().UnixNano())
	c.leading.Store(true)
}

// kill cuts the candidate off (no release can reach the server) and stops it.
func (c *candidate) kill() {
	c.meter.cut.Store(true)
	c.cancel()
}

// wait waits for the elector to return, then closes its connections.
func (c *candidate) wait(within time.Duration) error {
	select {
	case <-c.done:
		c.meter.closeIdle()
		return nil
	case <-time.After(within):
		return fmt.Errorf("herdbench: %s did not return within %v", c.id, within)
	}
}

// impl starts candidates of one implementation.
type impl struct {
	name  string
	short string
	start func(cl *harness.Cluster, s settings, lease string, c *candidate) error
}

var impls = []impl{
	{"kubelect", "kubelect", startKubelect},
	{"client-go v0.37.2", "client-go", startClientGo},
}

// startKubelect runs this library's elector with a k8sapi.Client of its
// own: k8sapi.New builds a transport per client, so one connection each.
func startKubelect(cl *harness.Cluster, s settings, lease string, c *candidate) error {
	cfg, err := k8sapi.InClusterConfigFromDir(cl.ServiceAccountDir)
	if err != nil {
		return err
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { c.meter.next = rt; return c.meter }
	cfg.WarningHandler = func(string) {}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := k8sapi.New(*cfg)
	if err != nil {
		return err
	}
	lock, err := rl.New(rl.LeasesResourceLock, cl.Namespace, lease, client, rl.ResourceLockConfig{Identity: c.id})
	if err != nil {
		return err
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
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); _ = le.RunContext(ctx) }()
	return nil
}

// startClientGo runs client-go's elector with a clientset of its own. A
// non-nil Proxy makes client-go's TLS transport cache skip the config
// (it cannot compare functions), so each clientset builds its own
// transport and connection, as separate pods would have; without it every
// clientset in the process would share one.
func startClientGo(cl *harness.Cluster, s settings, lease string, c *candidate) error {
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host:            cl.Host,
		BearerTokenFile: filepath.Join(cl.ServiceAccountDir, "token"),
		TLSClientConfig: rest.TLSClientConfig{CAFile: cl.CAFile},
		Proxy:           http.ProxyFromEnvironment,
		WrapTransport:   func(rt http.RoundTripper) http.RoundTripper { c.meter.next = rt; return c.meter },
	})
	if err != nil {
		return err
	}
	lock, err := cgrl.New(cgrl.LeasesResourceLock, cl.Namespace, lease, cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: c.id})
	if err != nil {
		return err
	}
	le, err := cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: s.lease, RenewDeadline: s.renew, RetryPeriod: s.retry, ReleaseOnCancel: true,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { c.begin(); <-ctx.Done(); c.leading.Store(false) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); le.Run(ctx) }()
	return nil
}

// fleet is the candidates of one implementation on one Lease.
type fleet struct {
	cl    *harness.Cluster
	im    impl
	s     settings
	lease string
	rec   *recorder
	mu    sync.Mutex
	all   []*candidate // every candidate ever started, by number
	live  []*candidate
}

// add starts one more candidate.
func (f *fleet) add() (*candidate, error) {
	f.mu.Lock()
	num := len(f.all)
	c := &candidate{num: num, id: fmt.Sprintf("%s-%03d", f.im.short, num), done: make(chan struct{})}
	c.meter = &meter{cand: num, rec: f.rec}
	f.all = append(f.all, c)
	f.mu.Unlock()
	if err := f.im.start(f.cl, f.s, f.lease, c); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.live = append(f.live, c)
	f.mu.Unlock()
	return c, nil
}

// remove takes c out of the live set.
func (f *fleet) remove(c *candidate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.live {
		if x == c {
			f.live = append(f.live[:i], f.live[i+1:]...)
			return
		}
	}
}

func (f *fleet) members() []*candidate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*candidate(nil), f.live...)
}

// stop stops every live candidate (with release) and waits for them.
func (f *fleet) stop() {
	live := f.members()
	for _, c := range live {
		c.cancel()
	}
	for _, c := range live {
		_ = c.wait(30 * time.Second)
	}
}

// leader waits for a live candidate other than not to lead.
func (f *fleet) leader(not *candidate, within time.Duration) (*candidate, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, c := range f.members() {
			if c != not && c.leading.Load() {
				return c, nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return nil, fmt.Errorf("herdbench: %s: no new leader within %v", f.im.name, within)
}

// waitSent waits until every live candidate has sent at least one request.
func (f *fleet) waitSent(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		missing := 0
		for _, c := range f.members() {
			if c.meter.sent.Load() == 0 {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("herdbench: %d candidates sent nothing within %v", missing, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
