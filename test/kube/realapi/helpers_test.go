package realapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// Short settings so that trials take seconds.
const (
	lease = 4 * time.Second
	renew = 2 * time.Second
	retry = 500 * time.Millisecond
	// poll is the longest wait between two tries of a follower.
	poll = time.Duration(float64(retry) * (1 + election.JitterFactor))
)

// inClusterClient is a client from the pod-like service-account directory,
// exactly as a program in a pod makes one.
func inClusterClient(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *k8sapi.Client {
	t.Helper()
	cfg, err := k8sapi.InClusterConfigFromDir(cluster.ServiceAccountDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WrapTransport = wrap
	cfg.WarningHandler = func(string) {}
	c, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// candidate is one elector with a transport that a test can cut.
type candidate struct {
	id     string
	cut    atomic.Bool
	le     *election.LeaderElector
	cancel context.CancelFunc
	done   chan struct{}
}

// fleet is several candidates on one lock, with a monitor that samples
// IsLeader and fails the test if two ever lead at once.
type fleet struct {
	t     *testing.T
	cands []*candidate

	mu      sync.Mutex
	started []string // guarded by mu: identities in OnStartedLeading order
	startAt []time.Time
	maxSeen int // guarded by mu: most leaders seen at one sample

	stopMonitor chan struct{}
	monitorDone chan struct{}
}

func newFleet(t *testing.T, kind, name string, n int) *fleet {
	t.Helper()
	f := &fleet{t: t, stopMonitor: make(chan struct{}), monitorDone: make(chan struct{})}
	for i := 0; i < n; i++ {
		f.add(kind, name, fmt.Sprintf("%s-%d", name, i))
	}
	go f.monitor()
	t.Cleanup(f.stop)
	return f
}

func (f *fleet) add(kind, name, id string) *candidate {
	c := &candidate{id: id, done: make(chan struct{})}
	client := inClusterClient(f.t, func(rt http.RoundTripper) http.RoundTripper { return cuttable{rt, &c.cut} })
	lock, err := rl.New(kind, cluster.Namespace, name, client, rl.ResourceLockConfig{Identity: id})
	if err != nil {
		f.t.Fatal(err)
	}
	c.le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
		ReleaseOnCancel: true, Name: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(<-chan struct{}) {
				f.mu.Lock()
				f.started = append(f.started, id)
				f.startAt = append(f.startAt, time.Now())
				f.mu.Unlock()
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		err := c.le.RunContext(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, election.ErrLeadershipLost) {
			f.t.Errorf("%s: %v", id, err)
		}
	}()
	f.cands = append(f.cands, c)
	return c
}

func (f *fleet) monitor() {
	defer close(f.monitorDone)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.stopMonitor:
			return
		case <-tick.C:
		}
		n := 0
		for _, c := range f.cands {
			if c.le.IsLeader() {
				n++
			}
		}
		f.mu.Lock()
		f.maxSeen = max(f.maxSeen, n)
		f.mu.Unlock()
	}
}

func (f *fleet) stop() {
	select {
	case <-f.stopMonitor:
		return
	default:
	}
	close(f.stopMonitor)
	<-f.monitorDone
	for _, c := range f.cands {
		c.cancel()
		<-c.done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxSeen > 1 {
		f.t.Errorf("%d candidates led at once", f.maxSeen)
	}
}

// waitLeader waits up to d for a leader other than not; it returns the
// leader and when its OnStartedLeading ran.
func (f *fleet) waitLeader(not string, d time.Duration) (*candidate, time.Time) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for i := len(f.started) - 1; i >= 0; i-- {
			if f.started[i] != not {
				for _, c := range f.cands {
					if c.id == f.started[i] && c.le.IsLeader() {
						at := f.startAt[i]
						f.mu.Unlock()
						return c, at
					}
				}
			}
		}
		f.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	f.t.Fatalf("no leader (other than %q) within %v", not, d)
	return nil, time.Time{}
}

// cuttable fails every request while cut is set, as if the network were
// gone.
type cuttable struct {
	next http.RoundTripper
	cut  *atomic.Bool
}

func (c cuttable) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("test: connection cut")
	}
	return c.next.RoundTrip(req)
}

// uniqueName is a fresh object name for one test.
func uniqueName(t *testing.T) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + fmt.Sprintf("-%d", time.Now().UnixNano()%1e6)
}

// serviceAccountClient makes a ServiceAccount with a Role of rules and
// returns a client that uses its token, and the token.
func serviceAccountClient(t *testing.T, name string, rules []harness.Rule) (*k8sapi.Client, string) {
	t.Helper()
	token, err := cluster.CreateServiceAccount(context.Background(), cluster.Namespace, name, rules)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := k8sapi.InClusterConfigFromDir(cluster.ServiceAccountDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.BearerTokenFile, cfg.BearerToken = "", token
	client, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client, token
}
