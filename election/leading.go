package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// errTooLate means a write that took the lock was answered after the
// deadline it would have given: the candidate does not lead on it.
var errTooLate = errors.New("election: the lock was taken, but the answer came after the renew deadline")

// leadership is this elector's own writes and leadership: IsLeader, Term
// and the renew deadline read only these, never the observed record. The
// elector's mutex guards it.
type leadership struct {
	leading    bool                      // this candidate leads
	term       int                       // the term of the current (or last) leadership
	version    string                    // the resourceVersion of the write that began it ("" when the lock does not tell)
	mine       rl.LeaderElectionRecord   // the last record this elector knows it stored
	mineSent   time.Time                 // when mine was sent; the deadline counts from it
	pending    []rl.LeaderElectionRecord // writes sent after mine whose outcome is unknown
	cacheMine  bool                      // the lock's cached object holds mine
	stop       chan struct{}             // closed when the current leadership ends
	watchdog   Timer                     // ends the leadership at its deadline
	ended      func()                    // reports the end of the current leadership to Metrics, once
	transferTo string                    // the preferred holder this leadership is to be handed to
	renewal    <-chan struct{}           // closed when the renewal that outlived the leadership ends (nil: none)
}

// startLeading makes this candidate the leader on rec, which it sent at
// rec.RenewTime and the server stored: its deadline counts from the send,
// and a watchdog ends the leadership then unless a renewal moves it. The
// write's resourceVersion, which the lock keeps, is the leadership's
// fencing token.
func (le *LeaderElector) startLeading(rec rl.LeaderElectionRecord) (<-chan struct{}, error) {
	version, _ := lockHooks().Version(le.config.Lock)
	le.mu.Lock()
	defer le.mu.Unlock()
	le.storedLocked(rec, rec.RenewTime.Time)
	le.lead.cacheMine = true
	if !le.config.Clock.Now().Before(le.deadlineLocked()) {
		return nil, errTooLate
	}
	le.lead.leading = true
	le.lead.term = rec.LeaderTransitions
	le.lead.version = version
	le.lead.transferTo = ""
	le.lead.stop = make(chan struct{})
	term := le.lead.term
	le.lead.ended = sync.OnceFunc(func() {
		if m := le.config.Metrics; m != nil && m.Leading != nil {
			m.Leading(false, term)
		}
	})
	le.armLocked()
	return le.lead.stop, nil
}

// storedLocked records that rec, sent at sent, is what the lock holds.
func (le *LeaderElector) storedLocked(rec rl.LeaderElectionRecord, sent time.Time) {
	le.lead.mine, le.lead.mineSent = rec, sent
	le.lead.pending = le.lead.pending[:0]
	le.observed.wrote(rec, sent)
	le.reportLocked(rec.HolderIdentity)
}

// armLocked sets the watchdog to the current deadline.
func (le *LeaderElector) armLocked() {
	if le.lead.watchdog != nil {
		le.lead.watchdog.Stop()
	}
	d := le.deadlineLocked().Sub(le.config.Clock.Now())
	le.lead.watchdog = le.config.Clock.AfterFunc(max(d, 0), le.expire)
}

// expire ends the leadership if its deadline has passed: the watchdog's
// callback. It closes stop before anything else happens.
func (le *LeaderElector) expire() {
	le.mu.Lock()
	if !le.lead.leading || le.config.Clock.Now().Before(le.deadlineLocked()) {
		le.mu.Unlock()
		return
	}
	le.stepDownLocked()
	ended := le.lead.ended
	le.mu.Unlock()
	ended()
}

// stepDown ends the leadership, if any: stop is closed.
func (le *LeaderElector) stepDown() {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.stepDownLocked()
}

func (le *LeaderElector) stepDownLocked() {
	if !le.lead.leading {
		return
	}
	le.lead.leading = false
	close(le.lead.stop)
	le.health.callbackStopped = le.config.Clock.Now()
	if le.lead.watchdog != nil {
		le.lead.watchdog.Stop()
	}
}

// renew keeps the lock until ctx ends (ctx's error), the deadline passes
// without a successful renewal, or another holder is seen (errors wrapping
// ErrLeadershipLost). stop is the leadership's channel: the watchdog closes
// it at the deadline whatever this loop is doing. A signal on urgent makes
// it renew at once.
func (le *LeaderElector) renew(ctx context.Context, stop <-chan struct{}, urgent <-chan struct{}) error {
	var failures int
	var lastErr error
	var notBefore time.Time // the server's Retry-After
	le.mu.Lock()
	le.health.renewing, le.health.renewBeat = true, le.config.Clock.Now()
	le.mu.Unlock()
	defer func() {
		le.mu.Lock()
		le.health.renewing = false
		le.mu.Unlock()
	}()
	wait := le.untilNextRenewal()
	for {
		t := le.config.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-stop:
			t.Stop()
			return le.lost(failures, lastErr)
		case <-urgent:
			// The watch showed the lock deleted or written by someone
			// else: renew now, which recreates it or finds the new holder,
			// unless the server asked to wait. A transfer request ends the
			// leadership at once.
			t.Stop()
			if err := le.handOver(); err != nil {
				return err
			}
			if left := notBefore.Sub(le.config.Clock.Now()); left > 0 {
				wait = left
				continue
			}
		case <-t.C():
		}
		start := le.config.Clock.Now()
		ok, err := le.renewUnlessCanceled(ctx)
		if !ok {
			return ctx.Err()
		}
		end := le.config.Clock.Now()
		le.mu.Lock()
		le.health.renewBeat = end
		le.mu.Unlock()
		le.tryDone(err)
		if m := le.config.Metrics; m != nil && m.Renewal != nil {
			m.Renewal(end.Sub(start), err)
		}
		switch {
		case err == nil:
			if failures > 0 {
				le.log.Info("election: renewed after failures", "failures", failures)
				failures = 0
			}
			wait = le.untilNextRenewal()
			continue
		case errors.Is(err, errDeadlinePassed):
			return le.lost(failures, lastErr)
		case errors.Is(err, ErrLeadershipLost):
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		failures++
		lastErr = err
		if failures == 1 {
			le.log.Warn("election: failed to renew", "err", err)
		}
		wait = le.config.RetryPeriod
		if ra, ok := k8sapi.RetryAfter(err); ok {
			wait = max(wait, ra) // the deadline still ends the wait
			notBefore = le.config.Clock.Now().Add(ra)
		}
	}
}

// renewUnlessCanceled renews once, on a fresh stack (see onFreshStack),
// and returns true and its error; false when ctx ended first. With ReleaseOnCancel,
// a renewal under way when ctx ends is not cut short: the leadership ends
// at once, the renewal goes on (within its own timeout) and the release
// waits for its answer, so that it writes over the record the renewal
// stored rather than conflict with it (a write the server goes on to store
// after its caller gave up) and read the lock again.
func (le *LeaderElector) renewUnlessCanceled(ctx context.Context) (bool, error) {
	rctx := ctx
	if le.config.ReleaseOnCancel {
		rctx = context.WithoutCancel(ctx)
	}
	var err error
	done := goFresh(func() { err = le.renewOnce(rctx) })
	select {
	case <-done:
		return true, err
	case <-ctx.Done():
		if !le.config.ReleaseOnCancel {
			<-done
			return false, err
		}
		le.mu.Lock()
		le.lead.renewal = done
		le.mu.Unlock()
		return false, nil
	}
}

// awaitRenewal waits, at most until ctx ends, for the renewal that went on
// after the leadership ended (see renewUnlessCanceled), if any.
func (le *LeaderElector) awaitRenewal(ctx context.Context) {
	le.mu.Lock()
	done := le.lead.renewal
	le.lead.renewal = nil
	le.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// untilNextRenewal is how long the leader waits before renewing:
// RetryPeriod after its last stored write, and never within the same unit
// of the lock's time precision as that write. A renewal in the same second
// on an annotation lock would store the same bytes, which followers do not
// see as a change; so every renewal stores new bytes, and the deadline can
// count from its send.
func (le *LeaderElector) untilNextRenewal() time.Duration {
	le.mu.Lock()
	defer le.mu.Unlock()
	next := le.lead.mineSent.Add(le.config.RetryPeriod)
	if unit := le.lead.mine.RenewTime.Truncate(le.precision).Add(le.precision); next.Before(unit) {
		next = unit
	}
	return max(0, next.Sub(le.config.Clock.Now()))
}

// renewOnce renews the lock with one Update of the object last written, cut
// short at the deadline. A lock that is gone is created again, in the same
// term. After a conflict it reads the lock: a record this elector wrote
// (whose answer was lost, or under a change to another field of the object)
// keeps the leadership; any other ends it at once.
func (le *LeaderElector) renewOnce(parent context.Context) error {
	now := le.config.Clock.Now()
	le.mu.Lock()
	if err := le.pastDeadlineLocked(now); err != nil {
		le.mu.Unlock()
		return err
	}
	desired := le.recordLocked(now, le.lead.term, le.lead.mine.AcquireTime.Time)
	le.lead.sending(desired)
	deadline := le.deadlineLocked()
	le.mu.Unlock()

	ctx, cancel := withTimeout(parent, le.config.Clock, min(le.config.RequestTimeout, deadline.Sub(now)))
	defer cancel()
	err := le.lockUpdate(ctx, desired)
	switch {
	case k8sapi.IsNotFound(err):
		// Someone deleted the lock: followers that saw it go wait a lease
		// before they create it; the leader creates it again at once.
		err = le.lockCreate(ctx, desired)
	case errors.Is(err, rl.ErrRecreated):
		// The same, with a server that creates the object from the update:
		// the lock held this leader's record when it went.
		err = nil
	}
	if err == nil {
		return le.renewed(desired, now)
	}
	if !k8sapi.IsConflict(err) && !k8sapi.IsAlreadyExists(err) {
		return requestError(ctx, "renew", err)
	}

	rec, raw, err := le.lockGet(ctx)
	if k8sapi.IsNotFound(err) {
		// Deleted: kube-apiserver answers an update that carries the old
		// object's uid with 409, not 404. Recreate it, in this term.
		if err := le.lockCreate(ctx, desired); err != nil {
			return requestError(ctx, "recreate the deleted lock", err)
		}
		return le.renewed(desired, now)
	}
	if err != nil && !(errors.Is(err, rl.ErrInvalidRecord) && rec != nil) {
		return requestError(ctx, "read the lock after a conflict", err)
	}
	seenAt := le.config.Clock.Now()
	le.mu.Lock()
	if err := le.pastDeadlineLocked(seenAt); err != nil {
		le.mu.Unlock()
		return err
	}
	if sent, ok := le.sentLocked(*rec); ok && rec.LeaderTransitions == le.lead.term {
		if le.transferRequestedLocked(*rec) {
			le.mu.Unlock()
			return le.handOver()
		}
		// Our own record: the leadership goes on, from the send of the
		// write that stored it. When that is the last write known (another
		// field of the object changed), nothing new was stored: renew once
		// more, over the object just read.
		moved := sent.After(le.lead.mineSent)
		le.storedLocked(*rec, sent)
		le.lead.cacheMine = true
		le.armLocked()
		if !moved {
			// Sent again: until its answer comes, its outcome is unknown
			// (storedLocked forgot the first send).
			le.lead.sending(desired)
		}
		le.mu.Unlock()
		if moved {
			return nil
		}
		if err := le.lockUpdate(ctx, desired); err != nil {
			return requestError(ctx, "renew after a conflict", err)
		}
		return le.renewed(desired, now)
	}
	le.stepDownLocked()
	le.lead.cacheMine = false
	le.observeLocked(rec, raw, seenAt)
	holder := le.observed.rec.HolderIdentity
	le.mu.Unlock()
	return fmt.Errorf("%w: %w (holder %q)", ErrLeadershipLost, errHeldByOther, short(holder))
}

// transferRequestedLocked reports whether rec, a record of this
// leadership, names another candidate as preferred holder, and notes it.
func (le *LeaderElector) transferRequestedLocked(rec rl.LeaderElectionRecord) bool {
	if rec.PreferredHolder == "" || rec.PreferredHolder == le.config.Lock.Identity() {
		return false
	}
	le.lead.transferTo = rec.PreferredHolder
	return true
}

// handOver ends the leadership when a transfer was requested: it steps
// down and returns an error wrapping ErrLeadershipLost and ErrHandedOver;
// nil when none was.
func (le *LeaderElector) handOver() error {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.lead.transferTo == "" {
		return nil
	}
	le.stepDownLocked()
	return fmt.Errorf("%w: %w %q", ErrLeadershipLost, ErrHandedOver, short(le.lead.transferTo))
}

// pastDeadlineLocked steps down and returns an error wrapping
// ErrLeadershipLost when the leadership has ended by now (the watchdog may
// not have run yet); nil while it goes on.
func (le *LeaderElector) pastDeadlineLocked(now time.Time) error {
	if le.isLeadingLocked(now) {
		return nil
	}
	le.stepDownLocked()
	return fmt.Errorf("%w: %w", ErrLeadershipLost, errDeadlinePassed)
}

// errDeadlinePassed is wrapped by the error of a renewal tried after the
// leadership's deadline.
var errDeadlinePassed = errors.New("the renew deadline passed")

// renewed records a successful renewal sent at sent. A renewal answered
// after the deadline it was to move does not continue the leadership: the
// leader stepped down at that deadline (or does so now, if the watchdog is
// late), and stays down.
func (le *LeaderElector) renewed(rec rl.LeaderElectionRecord, sent time.Time) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	if sameStored(rec, le.lead.mine, le.precision) {
		// The same bytes as the last write (a renewal within one unit of
		// the lock's precision, made at once after a conflict or a
		// deletion): followers saw no change, so the deadline stays.
		sent = le.lead.mineSent
	}
	if !le.isLeadingLocked(le.config.Clock.Now()) {
		le.stepDownLocked()
		le.storedLocked(rec, sent)
		le.lead.cacheMine = true
		return fmt.Errorf("%w: the renewal was answered after the renew deadline", ErrLeadershipLost)
	}
	le.storedLocked(rec, sent)
	le.lead.cacheMine = true
	le.armLocked()
	return nil
}

// lost returns the error for a leader that did not renew within
// RenewDeadline; err is the last failure.
func (le *LeaderElector) lost(failures int, err error) error {
	if err == nil {
		err = errors.New("no successful renewal")
	}
	return fmt.Errorf("%w: no renewal within %v (%d failures): %w", ErrLeadershipLost, le.config.RenewDeadline, failures, err)
}

// releaseAfter waits for OnStartedLeading to return, for at most
// ReleaseGrace, and then releases the lock. It does not release when the
// callback is still running: the leader may still be acting, so the lease
// must run out instead.
func (le *LeaderElector) releaseAfter(callbackDone <-chan struct{}, to string) {
	t := le.config.Clock.NewTimer(le.config.ReleaseGrace)
	select {
	case <-callbackDone:
		t.Stop()
	case <-t.C():
		le.log.Warn("election: not releasing the lock: OnStartedLeading has not returned; the lease will expire instead",
			"releaseGrace", le.config.ReleaseGrace)
		return
	}
	released, err := le.release(to)
	switch {
	case err != nil:
		le.log.Warn("election: failed to release the lock", "err", err)
	case released:
		le.log.Info("election: released the lock")
	}
}

// releaseReads is how many times a release reads the lock again after a
// conflict over a record of its own: a renewal whose answer was lost when
// the leadership ended may be stored between the read and the release.
const releaseReads = 3

// release writes an empty holder over the record this elector wrote,
// keeping the term, so that the next candidate takes the lock at its next
// try. It releases only that exact record: when the lock holds anything
// else (another candidate's record, or another elector's with the same
// identity), it leaves it alone and returns false.
func (le *LeaderElector) release(to string) (bool, error) {
	ctx, cancel := withTimeout(context.Background(), le.config.Clock, le.config.RequestTimeout)
	defer cancel()
	le.awaitRenewal(ctx)
	now := le.config.Clock.Now()
	le.mu.Lock()
	if le.lead.mineSent.IsZero() {
		le.mu.Unlock()
		return false, nil
	}
	rec := rl.LeaderElectionRecord{
		LeaseDurationSeconds: 1,
		AcquireTime:          rl.NewTime(now),
		RenewTime:            rl.NewTime(now),
		LeaderTransitions:    le.lead.term,
	}
	if to != "" {
		// A handover: the release is the preferred holder's to take;
		// the others wait a lease for it, as for a holder.
		rec.PreferredHolder = to
		rec.LeaseDurationSeconds = leaseSeconds(le.config.LeaseDuration)
	}
	cacheMine := le.lead.cacheMine
	le.mu.Unlock()

	err := errors.New("not tried")
	if cacheMine {
		err = le.lockUpdate(ctx, rec)
	}
	for try := 0; try < releaseReads && err != nil && ((try == 0 && !cacheMine) || k8sapi.IsConflict(err)); try++ {
		// A write whose answer was lost (a renewal the server may still be
		// storing), or a change to another field, may stand between: read
		// the lock, and release only a record of ours.
		cur, _, gerr := le.lockGet(ctx)
		if gerr != nil {
			return false, requestError(ctx, "release: read the lock", gerr)
		}
		le.mu.Lock()
		own := le.ownLocked(*cur)
		le.mu.Unlock()
		if !own {
			return false, nil
		}
		err = le.lockUpdate(ctx, rec)
	}
	if err != nil {
		return false, requestError(ctx, "release", err)
	}
	le.mu.Lock()
	le.observed.rec, le.observed.raw, le.observed.at = rec, nil, now
	le.lead.cacheMine = false
	le.mu.Unlock()
	return true, nil
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
	if !le.lead.mineSent.IsZero() && sameStored(rec, le.lead.mine, le.precision) {
		return le.lead.mineSent, true
	}
	for _, p := range le.lead.pending {
		if sameStored(rec, p, le.precision) {
			return p.RenewTime.Time, true
		}
	}
	return time.Time{}, false
}

// maxPending is how many writes of unknown outcome an elector remembers;
// forgetting one only makes it more careful.
const maxPending = 8

// sending remembers rec as sent, its outcome unknown until an answer or a
// later read tells.
func (l *leadership) sending(rec rl.LeaderElectionRecord) {
	if len(l.pending) == maxPending {
		l.pending = append(l.pending[:0], l.pending[1:]...)
	}
	l.pending = append(l.pending, rec)
}

// sameStored reports whether a and b are stored alike by a lock that keeps
// times to precision p; with p 0, whether they hold the same values (the
// observer's test for a record without bytes).
func sameStored(a, b rl.LeaderElectionRecord, p time.Duration) bool {
	same := func(x, y rl.Time) bool { return x.Truncate(p).Equal(y.Truncate(p)) }
	return a.HolderIdentity == b.HolderIdentity && a.LeaseDurationSeconds == b.LeaseDurationSeconds &&
		a.LeaderTransitions == b.LeaderTransitions && same(a.AcquireTime, b.AcquireTime) && same(a.RenewTime, b.RenewTime)
}

// leaseSeconds is d in whole seconds, rounded up, at least 1: the record
// holds seconds, and a shorter lease written down would be unsafe.
func leaseSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
