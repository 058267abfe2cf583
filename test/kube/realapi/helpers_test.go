package realapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
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
	client := inClusterClient(f.t, func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, &c.cut) })
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

// clientOf is a client of cluster c that authenticates with the token file
// of c's service-account directory, as a pod's client does (without the
// environment variables, so that it works for any cluster).
func clientOf(t *testing.T, c *harness.Cluster) *k8sapi.Client {
	t.Helper()
	client, err := k8sapi.New(k8sapi.Config{Host: c.Host, CAFile: c.CAFile,
		BearerTokenFile: filepath.Join(c.ServiceAccountDir, "token"), WarningHandler: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// adminOf is a cluster-admin client of c: someone else than the electors,
// such as an operator with kubectl or a transfer tool.
func adminOf(t *testing.T, c *harness.Cluster) *k8sapi.Client {
	t.Helper()
	client, err := k8sapi.New(k8sapi.Config{Host: c.Host, CAFile: c.CAFile, BearerToken: c.AdminToken,
		WarningHandler: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// term is one leadership of a candidate: from the call of its
// OnStartedLeading until that call returned (it returns as soon as stop
// is closed).
type term struct {
	id         string
	start, end time.Time // end is zero while the callback runs
}

// ledger records the terms of a group of candidates, from their own
// callbacks.
type ledger struct {
	mu    sync.Mutex
	terms []term // guarded by mu: in the order they started
}

// callbacks are the callbacks of candidate id: each term is recorded.
func (l *ledger) callbacks(id string) election.LeaderCallbacks {
	return election.LeaderCallbacks{
		OnStartedLeading: func(stop <-chan struct{}) {
			l.mu.Lock()
			i := len(l.terms)
			l.terms = append(l.terms, term{id: id, start: time.Now()})
			l.mu.Unlock()
			<-stop
			l.mu.Lock()
			l.terms[i].end = time.Now()
			l.mu.Unlock()
		},
		OnStoppedLeading: func() {},
	}
}

// leaders are the identities in the order they started leading.
func (l *ledger) leaders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for _, tm := range l.terms {
		ids = append(ids, tm.id)
	}
	return ids
}

// waitLeads waits up to d for a term of id that started after after, and
// returns it.
func (l *ledger) waitLeads(t *testing.T, id string, after time.Time, d time.Duration) term {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, tm := range l.terms {
			if tm.id == id && tm.start.After(after) {
				l.mu.Unlock()
				return tm
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s does not lead within %v; terms: %v", id, d, l.leaders())
	return term{}
}

// end is when the term of id that started at start ended; zero while it
// runs.
func (l *ledger) end(id string, start time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tm := range l.terms {
		if tm.id == id && tm.start.Equal(start) {
			return tm.end
		}
	}
	return time.Time{}
}

// checkOneAtATime fails t if two terms overlap: each term must have ended
// (its OnStartedLeading returned) before the next one started.
func (l *ledger) checkOneAtATime(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 1; i < len(l.terms); i++ {
		prev, cur := l.terms[i-1], l.terms[i]
		if prev.end.IsZero() || cur.start.Before(prev.end) {
			t.Errorf("%s started leading at %s while %s led (from %s, ended %s)", cur.id, cur.start.Format("15:04:05.000"),
				prev.id, prev.start.Format("15:04:05.000"), prev.end.Format("15:04:05.000"))
		}
	}
}

// runner is one elector running RunContext or Stand.
type runner struct {
	id     string
	le     *election.LeaderElector
	cancel context.CancelFunc
	done   chan struct{}
	err    error // what RunContext or Stand returned; set before done closes
}

// run starts an elector with identity id on a lock of kind namespace/name
// through client, recording its terms in l; stand makes it run Stand
// instead of RunContext. It stops with the test.
func run(t *testing.T, client *k8sapi.Client, kind, namespace, name, id string, l *ledger, stand bool, cfg rl.ResourceLockConfig) *runner {
	t.Helper()
	cfg.Identity = id
	lock, err := rl.New(kind, namespace, name, client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{id: id, done: make(chan struct{})}
	r.le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
		ReleaseOnCancel: true, Name: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: l.callbacks(id),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if stand {
			r.err = r.le.Stand(ctx)
		} else {
			r.err = r.le.RunContext(ctx)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) stop() { r.cancel(); <-r.done }

// returned waits up to d for RunContext or Stand to return, and returns
// its error.
func (r *runner) returned(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", r.id, d)
		return nil
	}
}

// waitFor polls cond every 10ms for up to d; false if it never held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// foreignUpdate changes an object as someone else would: a plain read,
// change and update through client, read again on a conflict.
func foreignUpdate(t *testing.T, client *k8sapi.Client, r k8sapi.Resource, namespace, name string, change func(obj map[string]any)) *k8sapi.Object {
	t.Helper()
	ctx := context.Background()
	for attempt := 0; attempt < 10; attempt++ {
		cur, err := client.Get(ctx, r, namespace, name)
		if err != nil {
			t.Fatal(err)
		}
		obj := asMap(t, cur)
		change(obj)
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var upd k8sapi.Object
		if err := json.Unmarshal(b, &upd); err != nil {
			t.Fatal(err)
		}
		stored, err := client.Update(ctx, r, &upd)
		if k8sapi.IsConflict(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return stored
	}
	t.Fatalf("update of %s %s/%s: 10 conflicts", r.Kind, namespace, name)
	return nil
}

// asMap is obj as plain JSON values.
func asMap(t *testing.T, obj *k8sapi.Object) map[string]any {
	t.Helper()
	b, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// stringMap is the map of strings at path in obj (labels, annotations);
// nil when absent.
func stringMap(t *testing.T, obj *k8sapi.Object, path ...string) map[string]string {
	t.Helper()
	var m map[string]string
	if _, err := obj.DecodeField(&m, path...); err != nil {
		t.Fatal(err)
	}
	return m
}

// field is the string at path in obj, and whether it is there.
func field(obj *k8sapi.Object, path ...string) (string, bool) {
	var s string
	ok, err := obj.DecodeField(&s, path...)
	return s, ok && err == nil
}
