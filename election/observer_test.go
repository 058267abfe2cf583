package election_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/fakeclock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The observer's tests run on the in-process API server. The observer
// takes its time from a fake clock; electors, where there are any, run on
// the real clock but are only asked to do what they do at once (take a
// missing lock, release on cancel, take a released lock, recreate a
// deleted one), so no test waits for real time to pass.

const (
	obsNamespace = "default"
	obsLockName  = "observed"
	obsAgent     = "observer-under-test" // the User-Agent of the observer's client
	obsRetry     = time.Second
	obsLease     = 20 * time.Second
	// obsMaxPoll is the longest polling interval: RetryPeriod with jitter.
	obsMaxPoll = time.Duration(float64(obsRetry) * (1 + election.JitterFactor))
	// obsPatience bounds every wait for something that happens at once;
	// only a failing test waits that long.
	obsPatience = 20 * time.Second
)

// obsEnv is an API server, the observer's fake clock, and a count of the
// observer's requests by method (WATCH for a watch).
type obsEnv struct {
	srv   *testapiserver.Server
	clock *fakeclock.Clock

	mu       sync.Mutex
	requests map[string]int // guarded by mu
}

func newObsEnv(t *testing.T, opts testapiserver.Options) *obsEnv {
	t.Helper()
	e := &obsEnv{
		srv:      testapiserver.New(opts),
		clock:    fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		requests: map[string]int{},
	}
	e.srv.SetHook(func(r *http.Request) {
		kind := r.Method
		if r.URL.Query().Get("watch") != "" {
			kind = "WATCH"
		}
		e.mu.Lock()
		e.requests[r.Header.Get("User-Agent")+" "+kind]++
		e.mu.Unlock()
	})
	t.Cleanup(e.srv.Close)
	return e
}

// counts returns the observer's requests so far by method.
func (e *obsEnv) counts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := map[string]int{}
	for k, v := range e.requests {
		if method, ok := strings.CutPrefix(k, obsAgent+" "); ok {
			c[method] = v
		}
	}
	return c
}

// sent returns how many requests of kind (a method, or WATCH) the client
// with User-Agent agent has sent.
func (e *obsEnv) sent(agent, kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[agent+" "+kind]
}

// assertReadOnly fails the test if the observer sent anything but reads.
func (e *obsEnv) assertReadOnly(t *testing.T) {
	t.Helper()
	for method, n := range e.counts() {
		if method != http.MethodGet && method != "WATCH" {
			t.Errorf("the observer sent %d %s request(s); it must only read", n, method)
		}
	}
}

// lock returns a Lease lock on the test object for identity, through a
// client that sends agent as its User-Agent.
func (e *obsEnv) lock(t *testing.T, identity, agent string) rl.Interface {
	t.Helper()
	cfg := e.srv.Config()
	cfg.UserAgent = agent
	client, err := k8sapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := rl.New(rl.LeasesResourceLock, obsNamespace, obsLockName, client, rl.ResourceLockConfig{Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

// put stores a Lease with the given spec as it is, as a foreign writer
// would.
func (e *obsEnv) put(t *testing.T, spec string) {
	t.Helper()
	obj := fmt.Sprintf(`{"metadata":{"namespace":%q,"name":%q},"spec":%s}`, obsNamespace, obsLockName, spec)
	if err := e.srv.Put("coordination.k8s.io", "leases", []byte(obj)); err != nil {
		t.Fatal(err)
	}
}

// settle returns once at least n of the fake clock's channel timers are
// waiting: the goroutines that wait on them have nothing left to do until
// the clock moves.
func (e *obsEnv) settle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(obsPatience)
	for e.clock.Waiting() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the observer never waited on %d timer(s)", n)
		}
		runtime.Gosched()
	}
}

// settleWithin returns once at least n of the fake clock's channel timers
// are due within d: the goroutines that wait on them wait for that short a
// time (a timer set before they learnt of the latest event is due later).
func (e *obsEnv) settleWithin(t *testing.T, n int, d time.Duration) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d timer(s) due within %v", n, d), func() bool { return e.clock.DueWithin(d) >= n })
}

// eventually waits for cond to hold, for things that happen at once but on
// another goroutine and are not changes (LastContact, request counts).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(obsPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// obsRun is a running observer and the changes OnChange was given.
type obsRun struct {
	o      *election.Observer
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	changes []election.Observation // guarded by mu
}

// observe starts an observer of lock on e's clock; edit may change the
// config first.
func (e *obsEnv) observe(t *testing.T, lock rl.Interface, edit func(*election.ObserverConfig)) *obsRun {
	t.Helper()
	r := &obsRun{done: make(chan error, 1)}
	cfg := election.ObserverConfig{
		Lock:          lock,
		RetryPeriod:   obsRetry,
		LeaseDuration: obsLease,
		Clock:         e.clock,
		Logger:        quiet,
		OnChange: func(ob election.Observation) {
			r.mu.Lock()
			r.changes = append(r.changes, ob)
			r.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	o, err := election.NewObserver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.o, r.cancel = o, cancel
	go func() { r.done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		r.done <- nil
	})
	return r
}

// until waits for an observation that satisfies cond and returns it.
func (r *obsRun) until(t *testing.T, what string, cond func(election.Observation) bool) election.Observation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), obsPatience)
	defer cancel()
	ob := r.o.Current()
	for !cond(ob) {
		var err error
		if ob, err = r.o.Wait(ctx, ob.Version); err != nil {
			t.Fatalf("no observation with %s; last: %+v", what, ob)
		}
	}
	return ob
}

// delivered waits until OnChange has been given version and returns every
// change it was given.
func (r *obsRun) delivered(t *testing.T, version uint64) []election.Observation {
	t.Helper()
	var got []election.Observation
	eventually(t, fmt.Sprintf("OnChange to deliver version %d", version), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = append(got[:0], r.changes...)
		return len(got) > 0 && got[len(got)-1].Version >= version
	})
	return got
}

// startElector runs a real-clock elector on e's lock; the returned
// function stops it (releasing the lock if it leads) and waits for it.
func (e *obsEnv) startElector(t *testing.T, identity string) (le *election.LeaderElector, stop func()) {
	t.Helper()
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            e.lock(t, identity, "elector-"+identity),
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Logger:          quiet,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) { <-stop },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = le.RunContext(ctx)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return le, stop
}

// leads waits until le knows it leads: a candidate stopped while the
// answer to its acquiring write is on its way does not release.
func leads(t *testing.T, le *election.LeaderElector) {
	t.Helper()
	eventually(t, "the elector to lead", le.IsLeader)
}

// state is what the election tests compare of an observation.
type state struct {
	Exists bool
	Holder string
	Term   int
}

func stateOf(ob election.Observation) state { return state{ob.Exists, ob.Holder, ob.Term} }

// The observer follows a real election through its watch: the first
// holder, a release and a handover in a new term, a deletion of the lock
// (the holder is kept while the object is gone, and the leader recreates
// it), a final release. OnChange gets every change, in order, and the
// observer never writes.
func TestObserverFollowsElection(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	r := e.observe(t, e.lock(t, "observer", obsAgent), nil)

	ob := r.until(t, "the first read", func(ob election.Observation) bool { return ob.Version > 0 })
	if ob.Exists || ob.Holder != "" || ob.LeaseDuration != 0 || ob.Leading(e.clock.Now()) || ob.LastError != nil {
		t.Errorf("before any candidate: %+v, want a lock that does not exist, held by no one", ob)
	}

	a, stopA := e.startElector(t, "a")
	leads(t, a)
	ob = r.until(t, "holder a", func(ob election.Observation) bool { return ob.Holder == "a" })
	now := e.clock.Now()
	if !ob.Exists || ob.Term != 0 || ob.LeaseDuration != 15*time.Second || !ob.ObservedAt.Equal(now) ||
		!ob.Expiry.Equal(now.Add(15*time.Second)) || ob.AcquireTime.IsZero() || !ob.Leading(now) || ob.Expired {
		t.Errorf("a leads: %+v, want a in term 0, observed now, expiring a lease later", ob)
	}
	if ob.Leading(ob.Expiry) {
		t.Errorf("Leading(Expiry) = true, want false: the lease has run out then")
	}

	stopA() // releases
	r.until(t, "the release", func(ob election.Observation) bool { return ob.Exists && ob.Holder == "" })
	b, stopB := e.startElector(t, "b") // takes the released lock at once
	ob = r.until(t, "holder b", func(ob election.Observation) bool { return ob.Holder == "b" })
	leads(t, b)
	if !ob.Exists || ob.Term != 1 || !ob.Leading(e.clock.Now()) {
		t.Errorf("b leads: %+v, want b in term 1", ob)
	}

	// b learns of the deletion from its watch (else at its next renewal).
	eventually(t, "b to watch", func() bool { return e.sent("elector-b", "WATCH") > 0 })
	if !e.srv.Delete("coordination.k8s.io", "leases", obsNamespace, obsLockName) {
		t.Fatal("the lock was not there to delete")
	}
	// The leader sees the deletion and recreates the lock in its term.
	eventually(t, "the lock deleted and recreated", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		gone := false
		for _, c := range r.changes {
			gone = gone || !c.Exists && c.Holder == "b"
			if gone && c.Exists && c.Holder == "b" {
				return true
			}
		}
		return false
	})

	stopB()
	ob = r.until(t, "the release", func(ob election.Observation) bool { return ob.Exists && ob.Holder == "" })
	if ob.Term != 1 || ob.Leading(e.clock.Now()) || ob.Expired {
		t.Errorf("after the release: %+v, want no holder, term 1 kept, not leading", ob)
	}

	var got []state
	changes := r.delivered(t, ob.Version)
	for i, c := range changes {
		if c.Version != uint64(i+1) {
			t.Errorf("change %d has Version %d, want %d: OnChange gets every change, in order", i, c.Version, i+1)
		}
		if s := stateOf(c); len(got) == 0 || got[len(got)-1] != s {
			got = append(got, s) // renewals repeat a state
		}
	}
	want := []state{
		{false, "", 0},
		{true, "a", 0},
		{true, "", 0}, // a released
		{true, "b", 1},
		{false, "b", 1}, // deleted: the last record stands
		{true, "b", 1},  // recreated by its leader
		{true, "", 1},   // b released
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed states (-want +got):\n%s", diff)
	}
	// The fake clock never moved: the observer read the lock once and
	// followed it by its watch.
	if c := e.counts(); c["WATCH"] == 0 || c[http.MethodGet] != 1 {
		t.Errorf("requests %v: want one read, then a watch", c)
	}
	e.assertReadOnly(t)
}

// eventCountingLock counts the watch events the observer has handled.
type eventCountingLock struct {
	rl.Interface
	events atomic.Int32
}

func (l *eventCountingLock) WatchRecord(ctx context.Context, observe func(*rl.LeaderElectionRecord, []byte)) error {
	return l.Interface.(rl.RecordWatcher).WatchRecord(ctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
		observe(rec, raw)
		l.events.Add(1)
	})
}

// A lease runs out by the observer's clock, counted from when it last saw
// the record's bytes change: a rewrite of the same bytes is no renewal, a
// new record is. Expiry is a change of its own.
func TestObserverExpiry(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":10,"leaseTransitions":3,"renewTime":"2000-01-01T00:00:00.000000Z"}`)
	lock := &eventCountingLock{Interface: e.lock(t, "observer", obsAgent)}
	r := e.observe(t, lock, nil)
	ob := r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	eventually(t, "the watch to deliver", func() bool { return lock.events.Load() > 0 })
	t0 := e.clock.Now()
	if !ob.ObservedAt.Equal(t0) || !ob.Expiry.Equal(t0.Add(10*time.Second)) || ob.Term != 3 || !ob.Leading(t0) {
		t.Fatalf("first observation %+v: want x in term 3, observed now, expiring in 10s", ob)
	}
	if want := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); !ob.RenewTime.Equal(want) {
		t.Errorf("RenewTime = %v, want the holder's %v, whatever the local clock says", ob.RenewTime, want)
	}

	// The same bytes written again 6s later change nothing.
	e.settle(t, 1)
	e.clock.Advance(6 * time.Second)
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":10,"leaseTransitions":3,"renewTime":"2000-01-01T00:00:00.000000Z"}`)
	eventually(t, "the rewrite's watch event", func() bool { return r.o.Current().LastContact.Equal(e.clock.Now()) })
	if cur := r.o.Current(); cur.Version != ob.Version || !cur.ObservedAt.Equal(t0) {
		t.Errorf("after a rewrite of the same bytes: %+v, want version %d observed at %v", cur, ob.Version, t0)
	}

	// 10s after the last change the lease has run out.
	e.settle(t, 1)
	e.clock.Advance(4 * time.Second)
	ob = r.until(t, "expiry", func(ob election.Observation) bool { return ob.Expired })
	if ob.Holder != "x" || ob.Leading(e.clock.Now()) || !ob.Expiry.Equal(t0.Add(10*time.Second)) {
		t.Errorf("expired: %+v", ob)
	}

	// A renewal is a change: the lease counts again from now.
	e.clock.Advance(time.Second)
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":10,"leaseTransitions":3,"renewTime":"2000-01-01T00:00:11.000000Z"}`)
	ob = r.until(t, "the renewal", func(ob election.Observation) bool { return !ob.Expired })
	if now := e.clock.Now(); !ob.ObservedAt.Equal(now) || !ob.Leading(now) {
		t.Errorf("renewed: %+v, want observed now (%v) and leading", ob, now)
	}
	// All of it came by the watch: no polling while it delivers.
	if c := e.counts(); c[http.MethodGet] != 1 {
		t.Errorf("requests %v: want a single read, the first", c)
	}
	e.assertReadOnly(t)
}

// A record that does not decode is held by UnknownLeader, keeps its term
// when that still reads, and gets the configured LeaseDuration; it is
// nobody to route to, and it expires like any other.
func TestObserverUndecodableRecord(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":"soon","leaseTransitions":7}`)
	r := e.observe(t, e.lock(t, "observer", obsAgent), nil)
	ob := r.until(t, "the record", func(ob election.Observation) bool { return ob.Version > 0 })
	now := e.clock.Now()
	if !ob.Exists || ob.Holder != rl.UnknownLeader || ob.Term != 7 || ob.LeaseDuration != obsLease ||
		!ob.Expiry.Equal(now.Add(obsLease)) || ob.Leading(now) || ob.LastError != nil {
		t.Errorf("undecodable record: %+v, want UnknownLeader in term 7 with a %v lease, not leading", ob, obsLease)
	}
	e.settle(t, 1)
	e.clock.Advance(obsLease)
	ob = r.until(t, "expiry", func(ob election.Observation) bool { return ob.Expired })
	if ob.Holder != rl.UnknownLeader {
		t.Errorf("expired: %+v", ob)
	}
}

// noWatchLock is a lock without a watch (as MultiLock is).
type noWatchLock struct{ rl.Interface }

// Without a watch the observer reads the lock every RetryPeriod, with
// jitter; a failed read shows in LastError until one succeeds.
func TestObserverPollsWithoutWatch(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.srv.FailNext(1, http.StatusInternalServerError)
	r := e.observe(t, noWatchLock{e.lock(t, "observer", obsAgent)}, nil)

	e.settle(t, 1)
	ob := r.o.Current()
	var se *k8sapi.StatusError
	if ob.Version != 0 || !errors.As(ob.LastError, &se) || se.Code != http.StatusInternalServerError {
		t.Fatalf("after a failed first read: %+v, want version 0 and the 500 in LastError", ob)
	}
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":10}`)

	reads := 1
	for _, holder := range []string{"x", "y", ""} {
		e.settle(t, 1)
		e.clock.Advance(obsRetry - time.Millisecond)
		if got := e.counts()[http.MethodGet]; got != reads {
			t.Fatalf("%d reads before RetryPeriod had passed, want %d", got, reads)
		}
		e.clock.Advance(obsMaxPoll - obsRetry + time.Millisecond)
		reads++
		ob = r.until(t, "holder "+holder, func(ob election.Observation) bool { return ob.Version > 0 && ob.Holder == holder })
		if got := e.counts()[http.MethodGet]; got != reads {
			t.Errorf("%d reads after one polling interval, want %d", got, reads)
		}
		if ob.LastError != nil || !ob.LastContact.Equal(e.clock.Now()) || !ob.ObservedAt.Equal(e.clock.Now()) {
			t.Errorf("after a successful read: %+v, want no error and contact now", ob)
		}
		if holder == "x" {
			e.put(t, `{"holderIdentity":"y","leaseDurationSeconds":10}`)
		} else {
			e.put(t, `{"holderIdentity":"","leaseDurationSeconds":1}`)
		}
	}
	if n := e.counts()["WATCH"]; n != 0 {
		t.Errorf("%d watch requests for a lock without a watch", n)
	}
	e.assertReadOnly(t)
}

// When the server does not allow the watch, the observer tries it once,
// then polls every RetryPeriod and never asks again.
func TestObserverForbiddenWatch(t *testing.T) {
	var allow []testapiserver.Permission
	for _, verb := range []string{"get", "create", "update"} {
		allow = append(allow, testapiserver.Permission{Verb: verb, Group: "coordination.k8s.io", Resource: "leases"})
	}
	e := newObsEnv(t, testapiserver.Options{Allow: allow})
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":15}`)
	r := e.observe(t, e.lock(t, "observer", obsAgent), nil)
	r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	eventually(t, "the watch to be tried", func() bool { return e.counts()["WATCH"] == 1 })

	// Long enough for every backoff of a watch that is retried.
	for range 60 {
		e.settle(t, 1)
		e.clock.Advance(obsMaxPoll)
	}
	e.settle(t, 1)
	if c := e.counts(); c["WATCH"] != 1 || c[http.MethodGet] < 60 {
		t.Errorf("requests %v, want 1 watch and a read per polling interval (60+)", c)
	}
	e.put(t, `{"holderIdentity":"y","leaseDurationSeconds":15}`)
	e.clock.Advance(obsMaxPoll)
	ob := r.until(t, "holder y", func(ob election.Observation) bool { return ob.Holder == "y" })
	if ob.LastError != nil {
		t.Errorf("LastError = %v after a successful read", ob.LastError)
	}
	e.assertReadOnly(t)
}

// flakyWatchLock is a lock whose watch ends as the test says, and which
// records when each watch began.
type flakyWatchLock struct {
	rl.Interface
	clock *fakeclock.Clock
	// run says how long watch number n (from 0) lasts before it fails.
	run func(n int) time.Duration

	mu     sync.Mutex
	starts []time.Time // guarded by mu
}

func (l *flakyWatchLock) WatchRecord(ctx context.Context, _ func(*rl.LeaderElectionRecord, []byte)) error {
	l.mu.Lock()
	n := len(l.starts)
	l.starts = append(l.starts, l.clock.Now())
	l.mu.Unlock()
	if d := l.run(n); d > 0 {
		t := l.clock.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.New("stream broken")
}

func (l *flakyWatchLock) started() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.starts...)
}

// A watch that fails at once is reopened after a backoff that doubles from
// RetryPeriod up to 30s; one that ran for RetryPeriod is reopened at once,
// and the backoff starts over.
func TestObserverWatchBackoff(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	lock := &flakyWatchLock{Interface: e.lock(t, "observer", obsAgent), clock: e.clock, run: func(n int) time.Duration {
		if n == 7 {
			return obsRetry // a watch that worked for a while
		}
		return 0
	}}
	e.observe(t, lock, nil)
	const step = 100 * time.Millisecond
	for len(lock.started()) < 10 {
		e.settle(t, 2) // the polling loop and the watch's backoff or stream
		e.clock.Advance(step)
	}
	starts := lock.started()
	// Gaps before watches 1..9: backoffs of 1, 2, 4, 8, 16, 30, 30s; then
	// the run of watch 7 and no wait; then 1s again.
	backoffs := []time.Duration{1, 2, 4, 8, 16, 30, 30, -1, 1}
	for i, b := range backoffs {
		gap := starts[i+1].Sub(starts[i])
		if b < 0 {
			if gap != obsRetry {
				t.Errorf("watch %d began %v after watch %d, which ran for %v: want it at once", i+1, gap, i, obsRetry)
			}
			continue
		}
		lo := b * time.Second
		hi := time.Duration(float64(lo)*(1+election.JitterFactor)) + step
		if gap < lo || gap > hi {
			t.Errorf("watch %d began %v after watch %d, want within [%v, %v]", i+1, gap, i, lo, hi)
		}
	}
}

// Changed is closed at the next change, for every holder of it; Wait
// answers at once when the caller's version is not the current one, at the
// next change otherwise, and gives up with its context.
func TestObserverChangedAndWait(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	r := e.observe(t, e.lock(t, "observer", obsAgent), nil)
	first := r.until(t, "the first read", func(ob election.Observation) bool { return ob.Version > 0 })

	ch1, ch2 := r.o.Changed(), r.o.Changed()
	select {
	case <-ch1:
		t.Fatal("Changed is closed without a change")
	default:
	}
	ob, err := r.o.Wait(context.Background(), first.Version-1)
	if err != nil || ob.Version != first.Version {
		t.Errorf("Wait(an old version) = %+v, %v; want the current one at once", ob, err)
	}
	ob, err = r.o.Wait(context.Background(), first.Version+99)
	if err != nil || ob.Version != first.Version {
		t.Errorf("Wait(a foreign version) = %+v, %v; want the current one at once", ob, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ob, err = r.o.Wait(ctx, first.Version); !errors.Is(err, context.Canceled) || ob.Version != first.Version {
		t.Errorf("Wait(current version, cancelled) = %+v, %v; want the current observation and context.Canceled", ob, err)
	}

	waited := make(chan election.Observation, 1)
	go func() {
		ob, _ := r.o.Wait(context.Background(), first.Version)
		waited <- ob
	}()
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":15}`)
	for _, ch := range []<-chan struct{}{ch1, ch2} {
		select {
		case <-ch:
		case <-time.After(obsPatience):
			t.Fatal("Changed was not closed at the change")
		}
	}
	select {
	case ob = <-waited:
		if ob.Version != first.Version+1 || ob.Holder != "x" {
			t.Errorf("Wait woke with %+v, want the change to x", ob)
		}
	case <-time.After(obsPatience):
		t.Fatal("Wait did not wake at the change")
	}
	if next := r.o.Changed(); next == ch1 {
		t.Error("Changed returned the closed channel after the change")
	}
}

// Run returns ctx's error once every goroutine it started has ended,
// including an OnChange call in progress; an observer runs once: a second
// Run, while the first runs or after it returned, returns ErrAlreadyRun.
func TestObserverRunStops(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	inCallback, release := make(chan struct{}, 1), make(chan struct{})
	o, err := election.NewObserver(election.ObserverConfig{
		Lock:   e.lock(t, "observer", obsAgent),
		Clock:  e.clock,
		Logger: quiet,
		OnChange: func(election.Observation) {
			select {
			case inCallback <- struct{}{}:
			default:
			}
			<-release
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	<-inCallback // the first read's change
	if err := o.Run(context.Background()); !errors.Is(err, election.ErrAlreadyRun) {
		t.Errorf("a second Run while running = %v, want ErrAlreadyRun", err)
	}

	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while OnChange was still running", err)
	default:
	}
	close(release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	// Nothing the observer started is left (wg.Done runs as its goroutines
	// return; give them the moment to finish returning).
	deadline := time.Now().Add(obsPatience)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "election.(*Observer)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines of the observer still run after Run returned:\n%s", stacks)
		}
		runtime.Gosched()
	}

	// Run after it returned: refused too, at once, reading nothing.
	v := o.Current().Version
	if err := o.Run(context.Background()); !errors.Is(err, election.ErrAlreadyRun) {
		t.Errorf("Run after the first returned = %v, want ErrAlreadyRun", err)
	}
	if cur := o.Current(); cur.Version != v {
		t.Errorf("a refused Run changed the observation: %+v, want version %d", cur, v)
	}
	e.assertReadOnly(t)
}

func TestNewObserverValidates(t *testing.T) {
	lock := &memLock{id: "observer", store: &memStore{}}
	for name, cfg := range map[string]election.ObserverConfig{
		"no lock":              {},
		"negative RetryPeriod": {Lock: lock, RetryPeriod: -time.Second},
		"negative lease":       {Lock: lock, LeaseDuration: -time.Second},
		"lease too long":       {Lock: lock, LeaseDuration: election.MaxLeaseDuration + time.Second},
		"negative timeout":     {Lock: lock, RequestTimeout: -time.Second},
	} {
		if _, err := election.NewObserver(cfg); !errors.Is(err, election.ErrInvalidConfig) {
			t.Errorf("%s: NewObserver = %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := election.NewObserver(election.ObserverConfig{Lock: lock}); err != nil {
		t.Errorf("NewObserver with only a lock = %v", err)
	}
}

// gatedLock is a lock whose watches the test can end, and whose reads the
// test can hold up after they have read the object, so that their answer
// comes late.
type gatedLock struct {
	rl.Interface
	gate     chan chan struct{} // a read takes one, says it has read, and waits for it to close
	events   atomic.Int32       // watch events the observer has handled
	mu       sync.Mutex
	endWatch context.CancelFunc // guarded by mu
}

func (l *gatedLock) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	select {
	case release := <-l.gate:
		release <- struct{}{}
		<-release
	default:
	}
	return rec, raw, err
}

func (l *gatedLock) WatchRecord(ctx context.Context, observe func(*rl.LeaderElectionRecord, []byte)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.mu.Lock()
	l.endWatch = cancel
	l.mu.Unlock()
	return l.Interface.(rl.RecordWatcher).WatchRecord(ctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
		observe(rec, raw)
		l.events.Add(1)
	})
}

func (l *gatedLock) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.endWatch != nil {
		l.endWatch()
	}
}

// A read whose answer arrives after the watch delivered a newer record does
// not take the observer back to the older one.
func TestObserverReadRacingWatch(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, `{"holderIdentity":"x","leaseDurationSeconds":60}`)
	lock := &gatedLock{Interface: e.lock(t, "observer", obsAgent), gate: make(chan chan struct{}, 1)}
	r := e.observe(t, lock, nil)
	r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	// The watch has delivered: the next one resumes after x.
	eventually(t, "the watch", func() bool { return lock.events.Load() > 0 })

	// The watch breaks: the observer polls while it waits to reopen it.
	release := make(chan struct{})
	lock.gate <- release
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before Run's
	lock.end()
	// Once the observer has seen the watch end, its next read and the
	// watch's reopening are both due within a polling interval.
	e.settleWithin(t, 2, obsMaxPoll)
	e.clock.Advance(obsMaxPoll)
	select {
	case <-release: // the read has seen x; its answer is held up
	case <-time.After(obsPatience):
		t.Fatal("the observer did not read the lock while its watch was down")
	}
	e.put(t, `{"holderIdentity":"y","leaseDurationSeconds":60}`)
	r.until(t, "holder y from the reopened watch", func(ob election.Observation) bool { return ob.Holder == "y" })
	once.Do(func() { close(release) })
	e.settle(t, 1) // the read's answer is handled: the loop waits again
	if ob := r.o.Current(); ob.Holder != "y" {
		t.Errorf("after a late read of x: %+v, want y, which the watch delivered since", ob)
	}
}
