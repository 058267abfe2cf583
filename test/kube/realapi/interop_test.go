package realapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cgle "k8s.io/client-go/tools/leaderelection"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// member is one candidate of a mixed fleet: this library's or client-go's.
type member struct {
	id       string
	isLeader func() bool
	cut      atomic.Bool
	leading  atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	startAt  atomic.Pointer[time.Time]
	stopAt   atomic.Pointer[time.Time] // when client-go ended its leadership (its context's end)
}

func (m *member) started() { now := time.Now(); m.startAt.Store(&now) }

func (m *member) stopped() { now := time.Now(); m.stopAt.Store(&now) }

func (m *member) stop() { m.cancel(); <-m.done }

func ours(t *testing.T, name, id string) *member {
	m := &member{id: id, done: make(chan struct{})}
	client := inClusterClient(t, func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, &m.cut) })
	lock, err := rl.New(rl.LeasesResourceLock, cluster.Namespace, name, client, rl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry, ReleaseOnCancel: true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{OnStartedLeading: func(<-chan struct{}) { m.started() }, OnStoppedLeading: func() {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.isLeader = le.IsLeader
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); _ = le.RunContext(ctx) }()
	return m
}

func clientGo(t *testing.T, name, id string) *member {
	return clientGoOn(t, cluster, name, id, false)
}

// clientGoOn is a client-go v0.37.2 candidate on the Lease name of cluster
// c; coordinated sets its Coordinated option (coordinated leader election:
// it never takes a lease itself, renews one that names it, and stops
// renewing once spec.preferredHolder is set).
func clientGoOn(t *testing.T, c *harness.Cluster, name, id string, coordinated bool) *member {
	m := &member{id: id, done: make(chan struct{})}
	token, err := os.ReadFile(filepath.Join(c.ServiceAccountDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{
		Host: c.Host, BearerToken: string(token),
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile},
		WrapTransport:   func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, &m.cut) },
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := cgrl.New(cgrl.LeasesResourceLock, c.Namespace, name, cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	le, err := cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry, ReleaseOnCancel: true,
		Coordinated: coordinated,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				m.started()
				m.leading.Store(true)
				<-ctx.Done() // client-go cancels it when leadership is lost
				m.leading.Store(false)
				m.stopped()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// client-go's own IsLeader only compares the last record it saw with
	// its identity, so a leader cut off from the server says true forever;
	// what counts is whether it acts, from OnStartedLeading until its
	// context ends.
	m.isLeader = m.leading.Load
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { defer close(m.done); le.Run(ctx) }()
	return m
}

// A fleet of this library's candidates and client-go v0.37.2's on one
// Lease: leadership moves both ways, by release and by expiry, and never
// are two leaders at once.
func TestInteropClientGoLease(t *testing.T) {
	need(t)
	klog.SetLogger(logr.Discard())
	name := uniqueName(t)
	var mu sync.Mutex
	var members []*member
	add := func(m *member) *member { mu.Lock(); members = append(members, m); mu.Unlock(); return m }

	// Monitor: at most one leader at every sample.
	stopMon := make(chan struct{})
	monDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopMon:
				monDone <- nil
				return
			case <-tick.C:
			}
			mu.Lock()
			var leaders []string
			for _, m := range members {
				if m.isLeader() {
					leaders = append(leaders, m.id)
				}
			}
			mu.Unlock()
			if len(leaders) > 1 {
				monDone <- errors.New("two leaders at once: " + leaders[0] + ", " + leaders[1])
				return
			}
		}
	}()
	waitLeads := func(m *member, within time.Duration) time.Duration {
		t.Helper()
		from := time.Now()
		for time.Since(from) < within {
			if at := m.startAt.Load(); at != nil && m.isLeader() {
				return at.Sub(from)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("%s does not lead within %v", m.id, within)
		return 0
	}

	a := add(clientGo(t, name, "client-go-a"))
	waitLeads(a, 10*time.Second)
	b := add(ours(t, name, "kubelect-b"))
	time.Sleep(2 * retry) // b follows

	a.stop()
	t.Logf("client-go -> kubelect by release: %v", waitLeads(b, 10*time.Second).Round(time.Millisecond))

	c := add(clientGo(t, name, "client-go-c"))
	time.Sleep(2 * retry)
	b.stop()
	t.Logf("kubelect -> client-go by release: %v", waitLeads(c, 10*time.Second).Round(time.Millisecond))

	d := add(ours(t, name, "kubelect-d"))
	time.Sleep(2 * retry)
	c.cut.Store(true)
	t.Logf("client-go -> kubelect by expiry: %v", waitLeads(d, 3*lease).Round(time.Millisecond))

	e := add(clientGo(t, name, "client-go-e"))
	time.Sleep(2 * retry)
	d.cut.Store(true)
	t.Logf("kubelect -> client-go by expiry: %v", waitLeads(e, 3*lease).Round(time.Millisecond))

	close(stopMon)
	if err := <-monDone; err != nil {
		t.Error(err)
	}
	for _, m := range []*member{c, d, e} {
		m.stop()
	}
}
