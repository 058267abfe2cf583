package election

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// errHeldByOther means another candidate holds a lease that has not expired
// by this candidate's clock.
var errHeldByOther = errors.New("election: the lock is held by another candidate")

// MaxLeaseDuration is the longest lease a record may ask for. A record that
// claims a longer one (18446744074 seconds would overflow a time.Duration)
// is taken to ask for this much, and the elector logs it.
const MaxLeaseDuration = time.Hour

// acquire tries to take the lock until it succeeds (its leadership's stop
// channel, true) or ctx ends (false). When the lock can be watched, a
// follower makes no request while the holder renews: it learns of each
// renewal from the watch, and tries when the lease expires by its own clock
// or at once when the lock is released. Otherwise it polls every
// RetryPeriod, with jitter. A failed try backs off for at least
// RetryPeriod, with jitter, or as long as the server's Retry-After asks.
func (le *LeaderElector) acquire(ctx context.Context, f *follower) (<-chan struct{}, bool) {
	le.log.Info("election: trying to acquire the lock")
	var lastErr string
	var backoffUntil time.Time
	raced := false // the last try lost a race: a release seen since ends its backoff
	for {
		var stop <-chan struct{}
		var err error
		onFreshStack(func() { stop, err = le.tryAcquire(ctx) })
		le.acquired(acquireOutcome(err))
		le.tryDone(err)
		if err == nil {
			return stop, true
		}
		raced = false
		if !errors.Is(err, errHeldByOther) {
			// Any failure, a lost race included, waits before the next try:
			// only a seen release or a reached expiry triggers one at once.
			backoffUntil = le.config.Clock.Now().Add(le.backoff(err))
			switch msg := err.Error(); {
			case k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err):
				le.log.Debug("election: lost a race for the lock", "err", err)
				raced = true
			case msg != lastErr:
				le.log.Warn("election: failed to acquire the lock", "err", err)
				lastErr = msg
			}
		}
		for waiting := true; waiting; {
			t := le.config.Clock.NewTimer(le.nextTry(f.watching(), backoffUntil))
			select {
			case <-t.C():
				waiting = false
			case <-f.changed:
				// A renewal moves the expiry; a release makes the next
				// try due at once (after any backoff): work it out again.
				// The winner of a race may release before a lost race's
				// backoff is over: that release is news, a try is due.
				t.Stop()
				le.mu.Lock()
				released := le.seen && !le.gone && le.releasedForMeLocked()
				le.mu.Unlock()
				if raced && released {
					backoffUntil = time.Time{}
				}
			case <-ctx.Done():
				t.Stop()
				return nil, false
			}
		}
	}
}

// acquireOutcome is Metrics.Acquire's outcome of a try that ended with err.
func acquireOutcome(err error) string {
	switch {
	case err == nil:
		return AcquireAcquired
	case errors.Is(err, errHeldByOther):
		return AcquireHeld
	case k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err):
		return AcquireLostRace
	}
	return AcquireError
}

// backoff is how long to wait after a failed try: RetryPeriod with up to
// JitterFactor of it added, or the server's Retry-After when longer (at
// most a LeaseDuration).
func (le *LeaderElector) backoff(err error) time.Duration {
	return watchloop.RetryAfter(jittered(le.config.RetryPeriod), err, le.config.LeaseDuration)
}

// jittered is d plus a random part of up to JitterFactor·d: the one
// jitter of the elector, the observer and their watches.
func jittered(d time.Duration) time.Duration {
	return watchloop.Jitter(d, JitterFactor)
}

// nextTry is how long a follower waits before its next try, and never less
// than until backoffUntil. When it watches the lock it tries when the
// observed lease expires, or at once for a released lock, in both cases
// after its herd delay (below); a lock released for it by name, or its own
// record, it takes at once. Otherwise it polls every RetryPeriod with
// jitter.
func (le *LeaderElector) nextTry(watching bool, backoffUntil time.Time) time.Duration {
	now := le.config.Clock.Now()
	d := jittered(le.config.RetryPeriod)
	if watching {
		le.mu.Lock()
		free, expiry := le.freeLocked(), le.expiryLocked()
		var spread time.Duration
		if le.seen && !le.namedOrOwnLocked() {
			spread = le.herdDelayLocked()
		}
		le.mu.Unlock()
		switch {
		case free:
			d = spread
		default:
			d = max(0, expiry.Sub(now)) + spread
		}
	}
	return max(d, backoffUntil.Sub(now))
}

// namedOrOwnLocked reports whether the observed record is one this
// candidate takes without contention: a release that names it as the
// preferred holder, or its own record.
func (le *LeaderElector) namedOrOwnLocked() bool {
	id := le.config.Lock.Identity()
	return (le.observed.HolderIdentity == "" && le.observed.PreferredHolder == id) || le.ownLocked(le.observed)
}

// The herd delay. When a lease expires or is released, every watching
// follower learns it at the same moment; if all wrote then, N followers
// would send N writes of which N−1 conflict. Instead each waits
//
//	max(0, W + s·ln U),  U uniform in (0, 1],  W = s·ln(herdScale)
//
// where s is about the time one try takes to be seen by the others: its
// read, and its write, which the server stores (etcd commits it to disk)
// before the others' reads or watches can see it. The earliest of N such
// delays falls about s·ln(N) before W, and near it the others fire at a
// rate of about 1/s whatever N is: the followers that try before the
// winner's write shows (and so lose with 409) are a small constant number,
// not N, for N up to herdScale (and grow slowly beyond). The cost is at
// most W added to a takeover (s·ln(herdScale/N) on average): a few tens
// of milliseconds on a fast network. Safety does not depend on it: every
// write is conditional on the resourceVersion.
const herdScale = 1024

// s is twice the shortest round trip this candidate has seen, or its
// shortest stored write when longer, and at least minHerdSpread: reads
// come from kube-apiserver's cache in well under a millisecond while a
// write takes a disk sync, and a follower that never wrote has only its
// reads to go by. s is at most RetryPeriod/8; before any request has been
// timed, defaultHerdRTT stands in for the round trip.
const (
	minHerdSpread  = 5 * time.Millisecond
	defaultHerdRTT = 5 * time.Millisecond
)

// herdSpreadLocked is s.
func (le *LeaderElector) herdSpreadLocked() time.Duration {
	rtt := le.rtt
	if !le.rttSet {
		rtt = defaultHerdRTT
	}
	s := max(2*rtt, minHerdSpread)
	if le.writeRTTSet {
		s = max(s, le.writeRTT)
	}
	return min(s, max(le.config.RetryPeriod/8, time.Millisecond))
}

// herdDelayLocked is this follower's delay for the lease or release it now
// observes: drawn once per observed record, so that the watch delivering
// other events meanwhile does not draw again.
func (le *LeaderElector) herdDelayLocked() time.Duration {
	if !le.herdDrawn || !le.herdFor.Equal(le.observedTime) {
		le.herdU = 1 - rand.Float64() // in (0, 1]
		le.herdFor, le.herdDrawn = le.observedTime, true
	}
	s := float64(le.herdSpreadLocked())
	return time.Duration(max(0, s*math.Log(herdScale)+s*math.Log(le.herdU)))
}

// tryAcquire makes one try to take the lock; on success this candidate
// leads, and the channel is its leadership's stop. It reads the lock, and
// takes it when it is missing (and was not seen deleted), released,
// written by this elector, or expired by this candidate's clock:
// LeaseDuration (the holder's, from the record) after it last saw the
// record change. Every acquisition starts a new term, one above the highest
// this candidate has seen on the lock.
func (le *LeaderElector) tryAcquire(parent context.Context) (<-chan struct{}, error) {
	ctx, cancel := withTimeout(parent, le.config.Clock, le.config.RequestTimeout)
	defer cancel()
	rec, raw, err := le.readFresh(ctx)
	now := le.config.Clock.Now()
	create := false
	switch {
	case k8sapi.IsNotFound(err):
		create = true
	case errors.Is(err, rl.ErrInvalidRecord) && rec != nil:
		le.noteOdd(raw, "election: the lock's record does not decode; it counts as held by an unknown candidate, and is taken over once it has not changed for a lease", err)
	case err != nil:
		return nil, requestError(ctx, "read the lock", err)
	case rec.LeaseDurationSeconds > int(MaxLeaseDuration/time.Second):
		le.noteOdd(raw, "election: the lock's record asks for a lease longer than MaxLeaseDuration; it counts as MaxLeaseDuration",
			fmt.Errorf("leaseDurationSeconds %d", rec.LeaseDurationSeconds))
	}

	le.mu.Lock()
	if create {
		le.goneLocked(now, false)
	} else {
		le.observeLocked(rec, raw, now)
		le.cacheMine = le.ownLocked(*rec)
	}
	if !le.freeLocked() && now.Before(le.expiryLocked()) {
		le.mu.Unlock()
		return nil, errHeldByOther
	}
	term := 0
	if le.seen {
		term = le.maxTerm + 1
	}
	// A lock seen deleted may have been taken and deleted again unseen (a
	// polling follower cannot tell): creating it is no acquisition, only a
	// record to wait a lease for, as any other holder's.
	recreate := create && le.seen
	desired := le.recordLocked(now, term, now)
	le.sendingLocked(desired)
	le.mu.Unlock()

	if create {
		err = le.lockCreate(ctx, desired)
	} else {
		err = le.lockUpdate(ctx, desired)
	}
	if errors.Is(err, rl.ErrRecreated) || (err == nil && recreate) {
		// The lock was deleted after it was read (the server made the
		// update a create), or this candidate created a lock it had seen
		// deleted. Someone may have taken the lock in between, unseen, so
		// this write is no acquisition: the record now in the lock counts
		// as another's, to wait a lease for; then it is taken in a new
		// term by a conditional update.
		le.mu.Lock()
		le.pending = slices.DeleteFunc(le.pending, func(p rl.LeaderElectionRecord) bool { return sameStored(p, desired, le.precision) })
		le.seen, le.gone = true, false
		le.observed, le.observedRaw, le.observedTime = desired, nil, le.config.Clock.Now()
		le.maxTerm = max(le.maxTerm, desired.LeaderTransitions)
		le.cacheMine = false
		le.mu.Unlock()
		if err == nil {
			return nil, errHeldByOther
		}
	}
	if err != nil {
		return nil, requestError(ctx, "take the lock", err)
	}
	return le.startLeading(desired)
}

// readFresh reads the lock. When the watch delivered another record while
// the read was under way, the read's answer may be older than what the
// watch showed (a release, say), so it reads once more.
func (le *LeaderElector) readFresh(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	for try := 0; ; try++ {
		le.mu.Lock()
		seq := le.watchSeq
		le.mu.Unlock()
		rec, raw, err := le.lockGet(ctx)
		le.mu.Lock()
		// The watch showing what the read returned (its first event, say)
		// is no race.
		same := (rec != nil && le.watchRaw != nil && bytes.Equal(raw, le.watchRaw)) ||
			(k8sapi.IsNotFound(err) && le.watchRaw == nil)
		raced := le.watchSeq != seq && !same
		le.mu.Unlock()
		if !raced || try == 1 || ctx.Err() != nil {
			return rec, raw, err
		}
	}
}

// freeLocked reports whether the observed lock may be taken at once: it
// has never been seen, or its last record (even if the object is gone since)
// is a release (for this candidate) or one this elector wrote (unless it
// handed that leadership over).
func (le *LeaderElector) freeLocked() bool {
	if !le.seen {
		return true
	}
	// After a handover, this elector's own last record is not its to take
	// back: it is the lease the preferred holder waits out when the
	// leader could not release it.
	return le.releasedForMeLocked() || (le.ownLocked(le.observed) && le.transferTo == "")
}

// releasedForMeLocked reports whether the observed record is a release
// that this candidate may take at once: any release, except one a leader
// wrote when it handed over to a preferred holder, which is that
// candidate's to take; for the others it runs as a lease.
func (le *LeaderElector) releasedForMeLocked() bool {
	pref := le.observed.PreferredHolder
	return le.observed.HolderIdentity == "" && (pref == "" || pref == le.config.Lock.Identity())
}

// expiryLocked is when the observed holder's lease runs out by this
// candidate's clock.
func (le *LeaderElector) expiryLocked() time.Time {
	return le.observedTime.Add(leaseOf(le.observed, le.config.LeaseDuration))
}

// leaseOf is the lease rec asks for: its own duration, or fallback (the
// config's LeaseDuration) when the record names none, and at most
// MaxLeaseDuration.
func leaseOf(rec rl.LeaderElectionRecord, fallback time.Duration) time.Duration {
	switch s := rec.LeaseDurationSeconds; {
	case s <= 0:
		return fallback
	case s > int(MaxLeaseDuration/time.Second):
		return MaxLeaseDuration
	default:
		return time.Duration(s) * time.Second
	}
}

// observeLocked records what a read or a watch showed of the lock: rec, or
// nil when the lock object does not exist. The observation time moves only
// when the bytes change: an unchanged record is an expiring one. A lock that
// disappears counts as an unchanged record of its last holder from the
// moment it was seen gone, so that followers wait a lease before they
// create it again (unless the last record was a release).
func (le *LeaderElector) observeLocked(rec *rl.LeaderElectionRecord, raw []byte, at time.Time) {
	if rec == nil {
		le.goneLocked(at, false)
		return
	}
	if le.seen && !le.gone && bytes.Equal(raw, le.observedRaw) && (raw != nil || rec.HolderIdentity == le.observed.HolderIdentity) {
		// The same record. A transfer request lives beside the record's
		// bytes (an annotation): it may change alone, and is taken as is.
		le.observed.PreferredHolder = rec.PreferredHolder
		return
	}
	if le.seen && !le.gone && le.observedRaw == nil && raw != nil && le.recreatedLocked() && sameStored(*rec, le.observed, le.precision) {
		// The lock this candidate recreated, read or watched for the first
		// time (tryAcquire knows the record it stored, not the server's
		// bytes): the same record, not a change, whether the watch's event
		// came before or after the create's answer. Its lease still runs
		// from the create's answer; the bytes are compared from now on.
		le.observed = *rec
		le.observedRaw = append(raw[:0:0], raw...)
		le.reportLocked(rec.HolderIdentity)
		return
	}
	le.seen, le.gone = true, false
	le.observed = *rec
	le.observedRaw = append(le.observedRaw[:0:0], raw...)
	le.observedTime = at
	le.maxTerm = max(le.maxTerm, rec.LeaderTransitions)
	le.reportLocked(rec.HolderIdentity)
}

// recreatedLocked reports whether the observed record is one tryAcquire
// wrote without acquiring (a lock it recreated after seeing it deleted,
// or an update the server made a create): this candidate's identity, yet
// not its own record, as tryAcquire dropped it from pending. The other
// records observed without the server's bytes (a leadership's own, a
// release) are not this one: their first read still counts as a change.
func (le *LeaderElector) recreatedLocked() bool {
	return le.observed.HolderIdentity == le.config.Lock.Identity() && !le.ownLocked(le.observed)
}

// goneLocked records that the lock object was found missing at at (by a
// read) or seen deleted (by the watch). From then on the last record counts
// as unchanged since at. A deletion seen before any record means the lock
// existed, held by someone this candidate cannot name; a read that finds
// no lock, with nothing seen before, is a lock never created as far as this
// candidate can tell.
func (le *LeaderElector) goneLocked(at time.Time, deleted bool) {
	switch {
	case !le.seen && deleted:
		le.seen, le.gone = true, true
		le.observed = rl.LeaderElectionRecord{HolderIdentity: rl.UnknownLeader}
		le.observedRaw = nil
		le.observedTime = at
	case le.seen && !le.gone:
		le.gone = true
		le.observedRaw = nil
		le.observedTime = at
	}
}

// noteOdd logs msg once for each distinct record raw.
func (le *LeaderElector) noteOdd(raw []byte, msg string, err error) {
	le.mu.Lock()
	first := le.odd.first(raw)
	le.mu.Unlock()
	if first {
		le.log.Warn(msg, "record", short(string(raw)), "err", err)
	}
}

// oddRecords remembers the last odd record logged (one that does not
// decode, or asks for too long a lease), so that it is logged once, not at
// every read and watch event. Its owner's mutex guards it.
type oddRecords struct {
	last []byte
	set  bool
}

// first reports whether raw differs from the last odd record logged, and
// remembers it.
func (r *oddRecords) first(raw []byte) bool {
	again := r.set && bytes.Equal(raw, r.last)
	r.last, r.set = append(r.last[:0:0], raw...), true
	return !again
}

// reportLocked queues OnNewLeader for a change of holder. An empty holder
// (a released lock) and an unknown one are no leader and are not reported.
func (le *LeaderElector) reportLocked(holder string) {
	if holder == "" || holder == rl.UnknownLeader || holder == le.reportedLeader {
		return
	}
	le.reportedLeader = holder
	if le.notifier != nil {
		le.notifier.push(holder)
	}
}

// recordLocked is the record this candidate writes at now: a new term
// acquired at acquired.
func (le *LeaderElector) recordLocked(now time.Time, term int, acquired time.Time) rl.LeaderElectionRecord {
	return rl.LeaderElectionRecord{
		HolderIdentity:       le.config.Lock.Identity(),
		LeaseDurationSeconds: leaseSeconds(le.config.LeaseDuration),
		AcquireTime:          rl.NewTime(acquired),
		RenewTime:            rl.NewTime(now),
		LeaderTransitions:    term,
	}
}

// ownLocked reports whether rec is a record this elector wrote: the last
// one it knows it stored, or one whose answer it did not get.
func (le *LeaderElector) ownLocked(rec rl.LeaderElectionRecord) bool {
	_, ok := le.sentLocked(rec)
	return ok
}

// sentLocked returns when this elector sent rec, if it wrote it: the
// earliest of its writes that stored the same bytes.
func (le *LeaderElector) sentLocked(rec rl.LeaderElectionRecord) (time.Time, bool) {
	if rec.HolderIdentity != le.config.Lock.Identity() {
		return time.Time{}, false
	}
	if !le.mineSent.IsZero() && sameStored(rec, le.mine, le.precision) {
		return le.mineSent, true
	}
	for _, p := range le.pending {
		if sameStored(rec, p, le.precision) {
			return p.RenewTime.Time, true
		}
	}
	return time.Time{}, false
}

// maxPending is how many writes of unknown outcome an elector remembers;
// forgetting one only makes it more careful.
const maxPending = 8

// sendingLocked remembers rec as sent, its outcome unknown until an answer
// or a later read tells.
func (le *LeaderElector) sendingLocked(rec rl.LeaderElectionRecord) {
	if len(le.pending) == maxPending {
		le.pending = append(le.pending[:0], le.pending[1:]...)
	}
	le.pending = append(le.pending, rec)
}

// sameStored reports whether a and b are stored alike by a lock that keeps
// times to precision p; with p 0, whether they hold the same values (the
// observer's test for a record without bytes).
func sameStored(a, b rl.LeaderElectionRecord, p time.Duration) bool {
	same := func(x, y rl.Time) bool { return x.Truncate(p).Equal(y.Truncate(p)) }
	return a.HolderIdentity == b.HolderIdentity && a.LeaseDurationSeconds == b.LeaseDurationSeconds &&
		a.LeaderTransitions == b.LeaderTransitions && same(a.AcquireTime, b.AcquireTime) && same(a.RenewTime, b.RenewTime)
}

// withTimeout is context.WithTimeout on clock, the elector's or the
// observer's, so that fake time bounds requests too. When the time runs
// out, the context's cause is context.DeadlineExceeded.
func withTimeout(parent context.Context, clock Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	if d <= 0 {
		cancel(context.DeadlineExceeded)
		return ctx, func() {}
	}
	t := clock.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// requestError wraps the error of a call to the lock. A call cut short by
// its own timeout says so (context.DeadlineExceeded), not "canceled".
func requestError(ctx context.Context, what string, err error) error {
	return fmt.Errorf("election: %s: %w", what, timeoutCause(ctx, err))
}

// timeoutCause is err, or for a call cut short by ctx's own timeout an
// error that says so and wraps context.DeadlineExceeded.
func timeoutCause(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, context.DeadlineExceeded) && errors.Is(err, context.Canceled) {
		return fmt.Errorf("no answer within the request timeout: %w", cause)
	}
	return err
}

// leaseSeconds is d in whole seconds, rounded up, at least 1: the record
// holds seconds, and a shorter lease written down would be unsafe.
func leaseSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// onFreshStack calls f on a goroutine of its own and returns when f does.
// An elector's goroutine spends its life parked, waiting a lease or a
// RetryPeriod at a time; a try's request (HTTP/2, TLS, JSON) run on it
// would grow its stack to 8 to 16 KiB for good, since the runtime shrinks
// the stack of a parked goroutine only while a quarter of it or less is in
// use. Run on a short-lived goroutine, the try leaves the parked one at its
// starting size: 1,000 follower elections in one process held 5.3 KiB of
// stack each instead of 11.8 (see BENCHMARKS.md, "Many locks"). It costs
// a goroutine per try or renewal, once a RetryPeriod at most.
func onFreshStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
