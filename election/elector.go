package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// ErrLeadershipLost is wrapped by RunContext's error when the elector led
// and then failed to renew within RenewDeadline, or saw another holder.
var ErrLeadershipLost = errors.New("election: leadership lost")

// ErrHandedOver is wrapped, with ErrLeadershipLost, by the error of a
// leadership that ended because the lock named another candidate as its
// preferred holder (a planned transfer: resourcelock.RequestTransfer).
// The leader stepped down and, once OnStartedLeading returned, released
// the lock for that candidate.
var ErrHandedOver = errors.New("election: handed over to the preferred holder")

// ErrNotLeading is returned by FencingToken while this candidate does not
// lead.
var ErrNotLeading = errors.New("election: not leading")

// ErrAlreadyRun is returned by a second call of a LeaderElector's Run,
// RunContext or Stand, or of an Observer's Run: each runs once; make a new
// one to run again.
var ErrAlreadyRun = errors.New("election: already run; make a new elector or observer to run again")

// LeaderElector is a leader election client. It is safe for concurrent use;
// it runs once.
type LeaderElector struct {
	config    LeaderElectionConfig // validated, defaults filled in
	precision time.Duration        // the unit the lock stores times in
	log       *slog.Logger
	ran       atomic.Bool

	mu       sync.Mutex
	observed observedLock // guarded by mu: what this candidate last saw of the lock; it judges expiry by it
	lead     leadership   // guarded by mu: this elector's own writes and leadership
	herd     herdSampler  // guarded by mu: the herd delay's draw and its round trips
	health   health       // guarded by mu

	reportedLeader string    // guarded by mu: the last identity given to OnNewLeader
	notifier       *notifier // guarded by mu; nil outside a run, or without OnNewLeader

	running  bool      // guarded by mu: Run, RunContext or Stand runs
	watching *follower // guarded by mu: the run's watch; nil outside a run
}

// NewLeaderElector creates a LeaderElector from a LeaderElectionConfig. The
// error wraps ErrInvalidConfig when the config is not valid.
func NewLeaderElector(lec LeaderElectionConfig) (*LeaderElector, error) {
	if err := lec.validate(); err != nil {
		return nil, err
	}
	log := lec.Logger.With("lock", short(lec.Lock.Describe()), "identity", short(lec.Lock.Identity()))
	if lec.Name != "" {
		log = log.With("name", short(lec.Name))
	}
	return &LeaderElector{
		config:    lec,
		precision: timePrecision(lec.Lock),
		log:       log,
		observed:  observedLock{lease: lec.LeaseDuration},
	}, nil
}

// RunOrDie starts a client with the provided config or panics if the config
// fails to validate. It returns when leadership is lost.
func RunOrDie(lec LeaderElectionConfig) {
	le, err := NewLeaderElector(lec)
	if err != nil {
		panic(err)
	}
	le.Run()
}

// Run acquires the lock, calls OnStartedLeading, renews until leadership is
// lost, then closes stop, calls OnStoppedLeading and returns. It never
// returns if this candidate never leads; use RunContext to bound it.
func (le *LeaderElector) Run() {
	_ = le.RunContext(context.Background())
}

// RunContext is Run with a context. Cancelling ctx stops the elector: if it
// leads, it closes stop, waits for OnStartedLeading to return (up to
// ReleaseGrace), releases the lock when ReleaseOnCancel is set, calls
// OnStoppedLeading and returns ctx's error. When leadership is lost it
// returns an error wrapping ErrLeadershipLost and the failure that ended
// it. A second call (of RunContext, Run or Stand) returns ErrAlreadyRun.
//
// The leader's stop channel is closed at the latest RenewDeadline after the
// leader sent its last successful renewal, whatever the renew loop, the
// lock or the logger are doing at that moment.
func (le *LeaderElector) RunContext(ctx context.Context) error {
	return le.run(ctx, false)
}

// Stand keeps this candidate standing for the life of ctx: it leads
// whenever it can, and after each leadership ends (lost, or handed to a
// preferred holder) it stands again, as a new term. Each term gets a
// fresh stop channel and its own OnStartedLeading and OnStoppedLeading
// calls; OnStartedLeading is never called while an earlier call still
// runs: before standing again, Stand waits for it to return (CheckLive
// reports a callback that does not). Between two terms it waits at least
// RetryPeriod, with jitter. It returns ctx's error once ctx ends, after
// the same steps as RunContext. An elector runs once: a second call (of
// Stand, Run or RunContext) returns ErrAlreadyRun.
func (le *LeaderElector) Stand(ctx context.Context) error {
	return le.run(ctx, true)
}

// run is RunContext, and Stand when again is set.
func (le *LeaderElector) run(ctx context.Context, again bool) error {
	if !le.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	n := newNotifier(le.config.Callbacks.OnNewLeader)
	le.mu.Lock()
	le.notifier = n
	le.running = true
	le.health.start(le.config.Clock.Now())
	le.mu.Unlock()

	// A lock used before (by an elector that lost, in this process) tells
	// what it last saw: the lock exists, held by that record, from now.
	if rec, raw, ok := lockHooks().Cached(le.config.Lock); ok {
		le.mu.Lock()
		le.observeLocked(rec, raw, le.config.Clock.Now())
		le.mu.Unlock()
	}
	// The watch runs for the whole run: a follower learns of renewals and
	// releases, the leader of a deletion or another's write at once.
	f := le.startFollowing(ctx)
	le.mu.Lock()
	le.watching = f
	le.mu.Unlock()
	defer func() {
		f.stop()
		le.mu.Lock()
		le.notifier = nil
		le.watching = nil
		le.running = false
		le.mu.Unlock()
		n.close()
	}()
	for {
		callbackDone, err := le.leadOnce(ctx, f)
		if !again || ctx.Err() != nil {
			return err
		}
		le.log.Info("election: standing again", "after", err)
		if callbackDone != nil {
			if !le.awaitCallback(ctx, callbackDone) {
				return ctx.Err()
			}
		}
		if !le.sleep(ctx, jittered(le.config.RetryPeriod)) {
			return ctx.Err()
		}
	}
}

// leadOnce acquires the lock and leads once: it returns when the
// leadership ends, with a channel closed when that term's OnStartedLeading
// returns and the error that ended it; or, when ctx ends before it leads,
// a nil channel and ctx's error.
func (le *LeaderElector) leadOnce(ctx context.Context, f *follower) (<-chan struct{}, error) {
	stop, ok := le.acquire(ctx, f)
	if !ok {
		return nil, ctx.Err()
	}
	callbackDone := make(chan struct{})
	le.mu.Lock()
	le.health.callbackRunning = true
	if le.lead.leading { // else stop is closed already, and stepping down noted when
		le.health.callbackStopped = time.Time{}
	}
	le.mu.Unlock()
	go func() {
		defer close(callbackDone)
		defer func() {
			le.mu.Lock()
			le.health.callbackRunning = false
			le.mu.Unlock()
		}()
		le.config.Callbacks.OnStartedLeading(stop)
	}()
	le.mu.Lock()
	term, ended := le.lead.term, le.lead.ended
	le.mu.Unlock()
	if m := le.config.Metrics; m != nil && m.Leading != nil {
		m.Leading(true, term)
	}
	le.log.Info("election: started leading", "term", term)
	le.config.Lock.RecordEvent("became leader")

	err := le.renew(ctx, stop, f.urgent)
	le.stepDown()
	ended()
	if errors.Is(err, ErrLeadershipLost) {
		le.log.Warn("election: stopped leading", "err", err)
	}
	le.config.Lock.RecordEvent("stopped leading")
	switch {
	case errors.Is(err, ErrHandedOver):
		le.mu.Lock()
		to := le.lead.transferTo
		le.mu.Unlock()
		le.releaseAfter(callbackDone, to)
	case ctx.Err() != nil && le.config.ReleaseOnCancel:
		le.releaseAfter(callbackDone, "")
	}
	// A renewal that outlived the leadership and no release waited for
	// ends within its own timeout: no request outlives the run.
	le.awaitRenewal(context.Background())
	le.config.Callbacks.OnStoppedLeading()
	return callbackDone, err
}

// awaitCallback waits for the last term's OnStartedLeading to return
// before this candidate stands again, logging once if it takes longer
// than ReleaseGrace; false if ctx ends first.
func (le *LeaderElector) awaitCallback(ctx context.Context, done <-chan struct{}) bool {
	t := le.config.Clock.NewTimer(le.config.ReleaseGrace)
	defer t.Stop()
	for {
		select {
		case <-done:
			return true
		case <-ctx.Done():
			return false
		case <-t.C():
			le.log.Warn("election: OnStartedLeading has not returned after its leadership ended; not standing again until it does",
				"releaseGrace", le.config.ReleaseGrace)
		}
	}
}

// IsLeader reports whether this candidate leads: it took the lock and has
// not reached its renew deadline, RenewDeadline after it sent its last
// stored write. It reads only this elector's own leadership, never the
// observed record (see GetLeader), so another holder's record with the
// same identity never makes it true.
func (le *LeaderElector) IsLeader() bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.isLeadingLocked(le.config.Clock.Now())
}

func (le *LeaderElector) isLeadingLocked(now time.Time) bool {
	return le.lead.leading && now.Before(le.deadlineLocked())
}

// deadlineLocked is when the current leadership ends unless renewed.
func (le *LeaderElector) deadlineLocked() time.Time {
	return le.lead.mineSent.Add(le.config.RenewDeadline)
}

// GetLeader returns the holder of the lock as this candidate last saw it
// (read, watched, or written by this elector): the empty string when no
// record has been seen or the lock was released, and
// resourcelock.UnknownLeader for a record that does not decode or a lock
// seen deleted before any of its records.
func (le *LeaderElector) GetLeader() string {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.observed.rec.HolderIdentity
}

// Term returns this candidate's leadership term and whether it leads. The
// term is the record's leaderTransitions as this candidate wrote it when it
// acquired the lock: every new leadership on one lock object, including the
// same identity leading again, gets a higher term than any this candidate
// saw before on it. It is no fencing token: anyone who writes the record
// can set it lower, and a lock deleted and created again by a candidate
// that never saw it starts again at 0; fence with FencingToken. Term never
// reports another holder's term: while leading is false the term is 0.
func (le *LeaderElector) Term() (term int, leading bool) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.isLeadingLocked(le.config.Clock.Now()) {
		return 0, false
	}
	return le.lead.term, true
}

// FencingToken returns the fencing token of this candidate's current
// leadership: the resourceVersion of the write that began it. Every later
// leadership on the lock, by any candidate (of this library or another,
// after the lock was deleted and created again, across restarts of
// kube-apiserver and etcd), begins with a write of a higher
// resourceVersion, so a system that refuses tokens lower than the highest
// it has seen (a fencing.Checker, fencing.UpdateObject) refuses the late
// writes of a paused ex-leader. Unlike Term, nobody can set it lower.
//
// Kubernetes promises that resourceVersions of one resource compare as
// integers from version 1.35 (KEP-5504); kube-apiserver on etcd has always
// numbered them so. A resourceVersion that is not a canonical positive
// integer gives an error wrapping fencing.ErrInvalidToken, never a wrong
// token; so does a lock of another package, which does not tell the
// elector its resourceVersions. For a MultiLock the token is its
// Secondary's resourceVersion. The error wraps ErrNotLeading while this
// candidate does not lead.
func (le *LeaderElector) FencingToken() (fencing.Token, error) {
	le.mu.Lock()
	leading, version := le.isLeadingLocked(le.config.Clock.Now()), le.lead.version
	le.mu.Unlock()
	if !leading {
		return 0, ErrNotLeading
	}
	if version == "" {
		return 0, fmt.Errorf("election: lock %s does not tell its resourceVersion (only resourcelock's locks do): %w",
			le.config.Lock.Describe(), fencing.ErrInvalidToken)
	}
	t, err := fencing.ParseToken(version)
	if err != nil {
		return 0, fmt.Errorf("election: the resourceVersion of the write that took lock %s: %w", le.config.Lock.Describe(), err)
	}
	return t, nil
}

// sleep waits d on the elector's clock; false if ctx ended first.
func (le *LeaderElector) sleep(ctx context.Context, d time.Duration) bool {
	t := le.config.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// maxLogged is how much of an identity or a record a log line carries.
const maxLogged = 256

// short cuts s to maxLogged bytes for a log line.
func short(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	return s[:maxLogged] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
