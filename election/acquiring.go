package election

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// errHeldByOther means another candidate holds a lease that has not expired
// by this candidate's clock.
var errHeldByOther = errors.New("election: the lock is held by another candidate")

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
	// backoffUntil is when the next try may go; offers wait for
	// offersFrom, the same but for a lost race: the winner's record shows
	// at once, and an offer to succeed it need not wait a RetryPeriod (a
	// leader stopped soon after a fleet started would find no successor).
	var backoffUntil, offersFrom time.Time
	raced := false // the last try lost a race: a release seen since ends its backoff
	for {
		var stop <-chan struct{}
		var err error
		onFreshStack(func() { stop, err = le.tryAcquire(ctx) })
		le.acquired(outcomeOf(err))
		le.tryDone(err)
		if err == nil {
			return stop, true
		}
		raced = false
		if !errors.Is(err, errHeldByOther) {
			// Any failure, a lost race included, waits before the next try:
			// only a seen release or a reached expiry triggers one at once.
			backoffUntil = le.config.Clock.Now().Add(le.backoff(err))
			offersFrom = backoffUntil
			switch msg := err.Error(); {
			case k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err):
				le.log.Debug("election: lost a race for the lock", "err", err)
				raced = true
				offersFrom = time.Time{}
			case msg != lastErr:
				le.log.Warn("election: failed to acquire the lock", "err", err)
				lastErr = msg
			}
		}
		for waiting := true; waiting; {
			d := le.nextTry(f.watching(), backoffUntil)
			offerIn, offer := le.offerDue(f.watching(), offersFrom)
			offer = offer && offerIn < d
			if offer {
				d = offerIn
			}
			t := le.config.Clock.NewTimer(d)
			select {
			case <-t.C():
				if offer {
					var err error
					onFreshStack(func() { err = le.offer(ctx) })
					if ra, ok := k8sapi.RetryAfter(err); ok {
						// The server asked to wait: no try nor offer before.
						offersFrom = later(offersFrom, le.config.Clock.Now().Add(min(ra, le.config.LeaseDuration)))
						backoffUntil = later(backoffUntil, offersFrom)
					}
					continue
				}
				waiting = false
			case <-f.changed:
				// A renewal moves the expiry; a release makes the next
				// try due at once (after any backoff): work it out again.
				// The winner of a race may release before a lost race's
				// backoff is over: that release is news, a try is due.
				t.Stop()
				le.mu.Lock()
				released := le.observed.exists() && le.observed.releasedFor(le.config.Lock.Identity())
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

// outcomeOf is Metrics.Acquire's outcome of a try that ended with err.
func outcomeOf(err error) AcquireOutcome {
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
// after its herd delay (herd.go), and a grace more when another follower
// is named successor; a lock released for it by name, one that names it
// successor, or its own record, it takes at once. Otherwise it polls every
// RetryPeriod with jitter.
func (le *LeaderElector) nextTry(watching bool, backoffUntil time.Time) time.Duration {
	now := le.config.Clock.Now()
	d := jittered(le.config.RetryPeriod)
	if watching {
		le.mu.Lock()
		free, expiry := le.freeLocked(), le.observed.expiry()
		var spread time.Duration
		if le.observed.seen && !le.namedOrOwnLocked() {
			spread = le.herd.delay(le.observed.at, le.config.RetryPeriod)
			if le.observed.rec.Successor != "" {
				spread += le.herd.grace(le.config.RetryPeriod)
			}
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
// preferred holder, a record that names it successor, or its own record.
func (le *LeaderElector) namedOrOwnLocked() bool {
	id := le.config.Lock.Identity()
	rec := &le.observed.rec
	return (rec.HolderIdentity == "" && rec.PreferredHolder == id) || rec.Successor == id || le.ownLocked(*rec)
}

// offerDue reports whether this follower is to offer to succeed the
// holder, and in how long: while it watches a lock of a kind that stores
// offers, held by another whose lease runs and who has no successor for
// its term, its herd delay for offers (herd.go) after it first saw the
// term, and never before notBefore; at most once a renewal, and
// maxOffers times a term.
func (le *LeaderElector) offerDue(watching bool, notBefore time.Time) (time.Duration, bool) {
	if !watching {
		return 0, false
	}
	if _, ok := lockHooks().Offer(le.config.Lock); !ok {
		return 0, false
	}
	now := le.config.Clock.Now()
	le.mu.Lock()
	defer le.mu.Unlock()
	ob := &le.observed
	switch holder := ob.rec.HolderIdentity; {
	case !ob.exists() || ob.raw == nil || !now.Before(ob.expiry()),
		holder == "" || holder == rl.UnknownLeader || holder == le.config.Lock.Identity(),
		ob.rec.Successor != "" || ob.rec.PreferredHolder != "":
		return 0, false
	}
	at := le.herd.offerAt(ob.rec.LeaderTransitions, ob.at, le.config.RetryPeriod)
	if le.herd.offers >= maxOffers || le.herd.offeredFor.Equal(ob.at) {
		return 0, false
	}
	return max(0, later(at, notBefore).Sub(now)), true
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// offer offers to succeed the holder of the term observed, and returns
// the error of a failed offer. Whatever comes of it, the watch shows the
// successor named, if any.
func (le *LeaderElector) offer(ctx context.Context) error {
	offer, ok := lockHooks().Offer(le.config.Lock)
	if !ok {
		return nil
	}
	le.mu.Lock()
	term := le.observed.rec.LeaderTransitions
	if le.herd.offerTerm != term {
		le.mu.Unlock()
		return nil // the term moved on since the offer was due
	}
	le.herd.offers++
	le.herd.offeredFor = le.observed.at
	le.mu.Unlock()
	rctx, cancel := withTimeout(ctx, le.config.Clock, le.config.RequestTimeout)
	defer cancel()
	offered, err := offer(rctx, term)
	switch {
	case err != nil:
		err = timeoutCause(rctx, err)
		le.log.Debug("election: offer to take over next failed", "term", term, "err", err)
	case offered:
		le.log.Debug("election: offered to take over next", "term", term)
		le.mu.Lock()
		le.herd.offers = maxOffers
		le.mu.Unlock()
	}
	return err
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
		le.observed.goneAt(now, false)
	} else {
		le.observeLocked(rec, raw, now)
		le.lead.cacheMine = le.ownLocked(*rec)
	}
	if !le.freeLocked() && now.Before(le.observed.expiry()) {
		le.mu.Unlock()
		return nil, errHeldByOther
	}
	term := 0
	if le.observed.seen {
		term = le.observed.maxTerm + 1
	}
	// A lock seen deleted may have been taken and deleted again unseen (a
	// polling follower cannot tell): creating it is no acquisition, only a
	// record to wait a lease for, as any other holder's.
	recreate := create && le.observed.seen
	desired := le.recordLocked(now, term, now)
	le.lead.sending(desired)
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
		le.forgetSentLocked(desired)
		le.observed.wrote(desired, le.config.Clock.Now())
		le.lead.cacheMine = false
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
		seq := le.observed.events
		le.mu.Unlock()
		rec, raw, err := le.lockGet(ctx)
		le.mu.Lock()
		// The watch showing what the read returned (its first event, say)
		// is no race.
		same := (rec != nil && le.observed.eventRaw != nil && bytes.Equal(raw, le.observed.eventRaw)) ||
			(k8sapi.IsNotFound(err) && le.observed.eventRaw == nil)
		raced := le.observed.events != seq && !same
		le.mu.Unlock()
		if !raced || try == 1 || ctx.Err() != nil {
			return rec, raw, err
		}
	}
}

// acquired reports the outcome of a try to acquire.
func (le *LeaderElector) acquired(outcome AcquireOutcome) {
	if m := le.config.Metrics; m != nil && m.Acquire != nil {
		m.Acquire(outcome)
	}
}
