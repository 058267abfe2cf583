package election_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The observer's fencing token: the resourceVersion of the write that
// began the holder's leadership, known only when its watch delivered that
// write, with the record before it; 0 otherwise, never a guess.

// leaseSpec is a Lease spec held by holder in term, acquired acq seconds
// and renewed ren seconds after 2030-01-01 by the holder's clock.
func leaseSpec(holder string, term, acq, ren int) string {
	at := func(s int) string { return fmt.Sprintf("2030-01-01T00:%02d:%02d.000000Z", s/60, s%60) }
	return fmt.Sprintf(`{"holderIdentity":%q,"leaseDurationSeconds":60,"leaseTransitions":%d,"acquireTime":%q,"renewTime":%q}`,
		holder, term, at(acq), at(ren))
}

// stored returns the token of the lock's resourceVersion as stored now.
func (e *obsEnv) stored(t *testing.T) fencing.Token {
	t.Helper()
	b, ok := e.srv.Get("coordination.k8s.io", "leases", obsNamespace, obsLockName)
	if !ok {
		t.Fatal("no lock")
	}
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	tok, err := fencing.ParseToken(obj.Metadata.ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// events waits until the watch has handed the observer more than n events
// and returns how many it has.
func (l *eventCountingLock) after(t *testing.T, n int32) int32 {
	t.Helper()
	eventually(t, fmt.Sprintf("watch event %d", n+1), func() bool { return l.events.Load() > n })
	return l.events.Load()
}

// wantToken fails the test unless the current observation has token want.
func wantToken(t *testing.T, r *obsRun, what string, want fencing.Token) election.Observation {
	t.Helper()
	ob := r.o.Current()
	if ob.FencingToken != want {
		t.Errorf("%s: FencingToken %d, want %d (%+v)", what, ob.FencingToken, want, ob)
	}
	return ob
}

// The token of a leadership seen to begin, kept while it goes on
// (renewals, a transfer request, the lock deleted and recreated in it);
// 0 for one that began before the observer started and for a released
// lock; a new, higher one for each new leadership.
func TestObserverFencingToken(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, leaseSpec("x", 3, 0, 0))
	lock := &eventCountingLock{Interface: e.lock(t, "observer", obsAgent)}
	r := e.observe(t, lock, nil)
	r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	lock.after(t, 0)
	wantToken(t, r, "x, which led before the observer started", 0)

	e.put(t, leaseSpec("x", 3, 0, 5))
	r.until(t, "x's renewal", func(ob election.Observation) bool { return ob.RenewTime.Second() == 5 })
	wantToken(t, r, "x renewed", 0)

	e.put(t, leaseSpec("y", 4, 10, 10))
	ty := e.stored(t)
	r.until(t, "holder y", func(ob election.Observation) bool { return ob.Holder == "y" })
	wantToken(t, r, "y's acquisition", ty)

	e.put(t, leaseSpec("y", 4, 10, 15))
	r.until(t, "y's renewal", func(ob election.Observation) bool { return ob.RenewTime.Second() == 15 })
	wantToken(t, r, "y renewed", ty)

	// A transfer request writes an annotation, not the record.
	seen := lock.events.Load()
	if err := rl.RequestTransfer(context.Background(), e.srv.Client(), obsNamespace, obsLockName, "z"); err != nil {
		t.Fatal(err)
	}
	lock.after(t, seen)
	if e.stored(t) <= ty {
		t.Fatal("the transfer request wrote nothing")
	}
	wantToken(t, r, "a transfer request to z", ty)

	e.put(t, leaseSpec("", 4, 20, 20))
	r.until(t, "the release", func(ob election.Observation) bool { return ob.Exists && ob.Holder == "" })
	wantToken(t, r, "released", 0)

	e.put(t, leaseSpec("z", 5, 30, 30))
	tz := e.stored(t)
	r.until(t, "holder z", func(ob election.Observation) bool { return ob.Holder == "z" })
	if ob := wantToken(t, r, "z's acquisition", tz); ob.FencingToken <= ty {
		t.Errorf("z's token %d is not above y's %d", ob.FencingToken, ty)
	}

	// Deleted, the last record stands; recreated by its leader in the same
	// leadership, its token too.
	e.srv.Delete("coordination.k8s.io", "leases", obsNamespace, obsLockName)
	r.until(t, "the deletion", func(ob election.Observation) bool { return !ob.Exists })
	wantToken(t, r, "z's lock deleted", tz)
	e.put(t, leaseSpec("z", 5, 30, 35))
	r.until(t, "z's lock recreated", func(ob election.Observation) bool { return ob.Exists && ob.RenewTime.Second() == 35 })
	wantToken(t, r, "z's lock recreated by z", tz)

	// Another leadership begins with a recreation.
	e.srv.Delete("coordination.k8s.io", "leases", obsNamespace, obsLockName)
	r.until(t, "the deletion", func(ob election.Observation) bool { return !ob.Exists })
	e.put(t, leaseSpec("w", 6, 40, 40))
	tw := e.stored(t)
	r.until(t, "holder w", func(ob election.Observation) bool { return ob.Holder == "w" })
	wantToken(t, r, "w's creation of the lock", tw)

	// OnChange got the same tokens.
	want := map[string]fencing.Token{"x": 0, "y": ty, "z": tz, "w": tw, "": 0}
	for _, c := range r.delivered(t, r.o.Current().Version) {
		if c.FencingToken != want[c.Holder] {
			t.Errorf("change %d, holder %q: FencingToken %d, want %d", c.Version, c.Holder, c.FencingToken, want[c.Holder])
		}
	}
	e.assertReadOnly(t)
}

// The observer's token is the one the elector that began the leadership
// has (LeaderElector.FencingToken); 0 after it released the lock.
func TestObserverFencingTokenOfElectors(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, `{"holderIdentity":"","leaseDurationSeconds":1}`)
	lock := &eventCountingLock{Interface: e.lock(t, "observer", obsAgent)}
	r := e.observe(t, lock, nil)
	r.until(t, "the released lock", func(ob election.Observation) bool { return ob.Exists })
	lock.after(t, 0) // the watch delivers: it will see the acquisitions

	var prev fencing.Token
	for _, id := range []string{"a", "b"} {
		le, stop := e.startElector(t, id)
		leads(t, le)
		want, err := le.FencingToken()
		if err != nil || want == 0 {
			t.Fatalf("%s's FencingToken: %d, %v", id, want, err)
		}
		if want <= prev {
			t.Errorf("%s's token %d is not above the last one, %d", id, want, prev)
		}
		ob := r.until(t, "holder "+id, func(ob election.Observation) bool { return ob.Holder == id })
		if ob.FencingToken != want {
			t.Errorf("observed %s with FencingToken %d, want the elector's %d", id, ob.FencingToken, want)
		}
		stop() // releases
		r.until(t, "the release", func(ob election.Observation) bool { return ob.Holder == "" })
		wantToken(t, r, id+" released", 0)
		prev = want
	}
}

// pastWatch moves lock's own watch stream past the lock's current state,
// as another user of the lock would: the next watch resumes from there.
func pastWatch(t *testing.T, lock rl.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var once sync.Once
	go func() {
		done <- lock.(rl.RecordWatcher).WatchRecord(ctx, func(*rl.LeaderElectionRecord, []byte) { once.Do(cancel) })
	}()
	<-done
	cancel()
}

// A watch that resumes where the lock's stream stood, after writes this
// observer never saw, does not take its first event (a renewal, a
// transfer request) for the write that began the leadership. From that
// event on the observer follows the stream, and sees the next leadership
// begin.
func TestObserverFencingTokenFirstEventIsNoBeginning(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, e *obsEnv)
	}{
		{"transfer request", func(t *testing.T, e *obsEnv) {
			if err := rl.RequestTransfer(context.Background(), e.srv.Client(), obsNamespace, obsLockName, "z"); err != nil {
				t.Fatal(err)
			}
		}},
		{"renewal", func(t *testing.T, e *obsEnv) { e.put(t, leaseSpec("x", 3, 0, 5)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newObsEnv(t, testapiserver.Options{})
			e.put(t, leaseSpec("x", 3, 0, 0))
			inner := e.lock(t, "observer", obsAgent)
			pastWatch(t, inner)
			lock := &eventCountingLock{Interface: inner}
			r := e.observe(t, lock, nil)
			r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
			eventually(t, "the watch", func() bool { return e.counts()["WATCH"] > 0 })

			tc.write(t, e)
			lock.after(t, 0)
			wantToken(t, r, "x, after the first event seen", 0)

			e.put(t, leaseSpec("y", 4, 10, 10))
			ty := e.stored(t)
			r.until(t, "holder y", func(ob election.Observation) bool { return ob.Holder == "y" })
			wantToken(t, r, "y's acquisition", ty)
		})
	}
}

// A stream that moved on without the observer, between two of its
// watches, leaves a gap: the first write it sees of a leadership that
// began in the gap (a renewal) is no beginning.
func TestObserverFencingTokenAfterGap(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, leaseSpec("x", 3, 0, 0))
	inner := e.lock(t, "observer", obsAgent)
	lock := &gatedLock{Interface: inner, gate: make(chan chan struct{}, 1)}
	r := e.observe(t, lock, nil)
	r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	eventually(t, "the watch", func() bool { return lock.events.Load() > 0 })

	// The observer's watch ends; y's acquisition goes to another watch of
	// the same lock.
	lock.end()
	e.settleWithin(t, 2, obsMaxPoll) // the observer waits to read and watch again
	e.put(t, leaseSpec("y", 4, 10, 10))
	pastWatch(t, inner)
	e.put(t, leaseSpec("y", 4, 10, 15))

	seen := lock.events.Load()
	e.clock.Advance(obsMaxPoll)
	r.until(t, "y's renewal", func(ob election.Observation) bool { return ob.RenewTime.Second() == 15 })
	eventually(t, "the resumed watch", func() bool { return lock.events.Load() > seen })
	wantToken(t, r, "y, whose acquisition this observer did not see", 0)
}

// A watch that starts over after 410 Gone sees the current state, not the
// writes it missed: a leadership that began meanwhile has no token; one
// that went on through the gap keeps its own.
func TestObserverFencingTokenAfterGone(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{WatchHistory: 2})
	e.put(t, leaseSpec("x", 3, 0, 0))
	lock := &eventCountingLock{Interface: e.lock(t, "observer", obsAgent)}
	r := e.observe(t, lock, nil)
	r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	lock.after(t, 0)
	e.put(t, leaseSpec("y", 4, 10, 10))
	ty := e.stored(t)
	r.until(t, "holder y", func(ob election.Observation) bool { return ob.Holder == "y" })
	wantToken(t, r, "y's acquisition", ty)

	// The watch ends; three writes later its resourceVersion is too old.
	watches := e.counts()["WATCH"]
	e.srv.CloseWatches()
	e.settleWithin(t, 2, obsMaxPoll)
	e.put(t, leaseSpec("z", 5, 20, 20))
	e.put(t, leaseSpec("z", 5, 20, 25))
	e.put(t, leaseSpec("z", 5, 20, 30))
	e.clock.Advance(obsMaxPoll) // a read, and a watch that gets 410 Gone
	r.until(t, "z's renewal, read", func(ob election.Observation) bool { return ob.RenewTime.Second() == 30 })
	wantToken(t, r, "z, read", 0)
	eventually(t, "the watch that gets 410 Gone", func() bool { return e.counts()["WATCH"] > watches })

	seen := lock.events.Load()
	e.settleWithin(t, 2, 2*obsMaxPoll)
	e.clock.Advance(2 * obsMaxPoll) // a watch from the current state
	lock.after(t, seen)
	wantToken(t, r, "z, watched from the current state", 0)
	e.put(t, leaseSpec("z", 5, 20, 35))
	r.until(t, "z's renewal, watched", func(ob election.Observation) bool { return ob.RenewTime.Second() == 35 })
	wantToken(t, r, "z renewed", 0)

	e.put(t, leaseSpec("w", 6, 40, 40))
	tw := e.stored(t)
	r.until(t, "holder w", func(ob election.Observation) bool { return ob.Holder == "w" })
	wantToken(t, r, "w's acquisition, watched", tw)

	// The same gap while w renews: the same leadership (holder, term,
	// acquire time) keeps its token.
	watches = e.counts()["WATCH"]
	e.srv.CloseWatches()
	e.settleWithin(t, 2, 4*obsMaxPoll) // the watch's backoff has doubled twice
	for _, ren := range []int{45, 50, 55} {
		e.put(t, leaseSpec("w", 6, 40, ren))
	}
	e.clock.Advance(4 * obsMaxPoll)
	r.until(t, "w's renewal, read", func(ob election.Observation) bool { return ob.RenewTime.Second() == 55 })
	eventually(t, "the watch that gets 410 Gone", func() bool { return e.counts()["WATCH"] > watches })
	seen = lock.events.Load()
	e.settleWithin(t, 2, 8*obsMaxPoll)
	e.clock.Advance(8 * obsMaxPoll)
	lock.after(t, seen)
	wantToken(t, r, "w, watched again from the current state", tw)
}

// droppingLock passes on the watch's records but for the one drop picks.
type droppingLock struct {
	rl.Interface
	drop    func(*rl.LeaderElectionRecord) bool
	dropped atomic.Int32
	events  atomic.Int32
}

func (l *droppingLock) WatchRecord(ctx context.Context, observe func(*rl.LeaderElectionRecord, []byte)) error {
	return l.Interface.(rl.RecordWatcher).WatchRecord(ctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
		if rec != nil && l.drop(rec) {
			l.dropped.Add(1)
			return
		}
		observe(rec, raw)
		l.events.Add(1)
	})
}

// A wrapper of the lock that drops the write that began a leadership
// leaves the observer without its token: the renewal it passes on next
// is no beginning.
func TestObserverFencingTokenDroppedEvent(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, leaseSpec("x", 3, 0, 0))
	lock := &droppingLock{Interface: e.lock(t, "observer", obsAgent), drop: func(rec *rl.LeaderElectionRecord) bool {
		return rec.HolderIdentity == "y" && rec.RenewTime.Second() == 10
	}}
	r := e.observe(t, lock, nil)
	r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
	eventually(t, "the watch", func() bool { return lock.events.Load() > 0 })
	e.put(t, leaseSpec("y", 4, 10, 10))
	e.put(t, leaseSpec("y", 4, 10, 15))
	r.until(t, "y's renewal", func(ob election.Observation) bool { return ob.RenewTime.Second() == 15 })
	if lock.dropped.Load() != 1 {
		t.Fatalf("%d events dropped, want y's acquisition", lock.dropped.Load())
	}
	wantToken(t, r, "y, whose acquisition was dropped", 0)
}

// toldLock is a lock of its own whose watch, when silent is not set,
// tells events as resourcelock's locks do, with the resourceVersions a test
// gives.
type toldLock struct {
	rl.Interface
	silent bool
	events chan toldEvent
}

type toldEvent struct {
	rv, from string
	rec      *rl.LeaderElectionRecord
	handled  chan struct{}
}

func (l *toldLock) WatchRecord(ctx context.Context, observe func(*rl.LeaderElectionRecord, []byte)) error {
	tell := lockwatch.Events[*rl.LeaderElectionRecord](ctx)
	if tell == nil {
		panic("the observer's watch has no listener")
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-l.events:
			if !l.silent {
				tell(lockwatch.Event[*rl.LeaderElectionRecord]{Kind: lockwatch.RecordEvent, Record: ev.rec, ResourceVersion: ev.rv, From: ev.from})
			}
			raw, _ := json.Marshal(ev.rec)
			observe(ev.rec, raw)
			close(ev.handled)
		}
	}
}

// A resourceVersion that is not a canonical integer gives no token, and a
// lock that tells nothing (of another package) gives none either.
func TestObserverFencingTokenNonCanonical(t *testing.T) {
	e := newObsEnv(t, testapiserver.Options{})
	e.put(t, leaseSpec("x", 3, 0, 0))
	for _, tc := range []struct {
		name   string
		rv     string
		silent bool
		want   fencing.Token
	}{
		{"canonical", "12", false, 12},
		{"leading zero", "012", false, 0},
		{"not a number", "a12", false, 0},
		{"a lock that does not tell", "12", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lock := &toldLock{Interface: e.lock(t, "observer", obsAgent), silent: tc.silent, events: make(chan toldEvent)}
			r := e.observe(t, lock, nil)
			r.until(t, "holder x", func(ob election.Observation) bool { return ob.Holder == "x" })
			send := func(rv, from string, rec rl.LeaderElectionRecord) {
				ev := toldEvent{rv: rv, from: from, rec: &rec, handled: make(chan struct{})}
				lock.events <- ev
				<-ev.handled
			}
			send("10", "", rl.LeaderElectionRecord{HolderIdentity: "x", LeaseDurationSeconds: 60, LeaderTransitions: 3})
			send(tc.rv, "10", rl.LeaderElectionRecord{HolderIdentity: "y", LeaseDurationSeconds: 60, LeaderTransitions: 4})
			ob := r.until(t, "holder y", func(ob election.Observation) bool { return ob.Holder == "y" })
			if ob.FencingToken != tc.want {
				t.Errorf("FencingToken %d, want %d", ob.FencingToken, tc.want)
			}
		})
	}
}
