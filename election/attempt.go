package election

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// errHeldByOther means another candidate holds a lease that has not expired
// by this candidate's clock.
var errHeldByOther = errors.New("election: the lock is held by another candidate")

// attempt makes one try to acquire or renew the lock; nil means this
// candidate holds it now.
//
// The leader renews with one Update of the object it last wrote (the fast
// path); it reads the lock again only after a conflict. A candidate that
// does not lead reads the lock, and takes it when it is free, released, or
// expired by its own clock: LeaseDuration (the holder's, from the record)
// after it last saw the record change.
func (le *LeaderElector) attempt(parent context.Context) error {
	now := le.config.Clock.Now()
	le.mu.Lock()
	leading := le.isLeadingLocked(now)
	deadline := now.Add(le.config.RequestTimeout)
	if leading {
		// A renewal must not outlive the renew deadline.
		deadline = minTime(deadline, le.lastRenewSent.Add(le.config.RenewDeadline))
	}
	desired := rl.LeaderElectionRecord{
		HolderIdentity:       le.config.Lock.Identity(),
		LeaseDurationSeconds: leaseSeconds(le.config.LeaseDuration),
		AcquireTime:          rl.NewTime(now),
		RenewTime:            rl.NewTime(now),
	}
	if leading {
		desired.AcquireTime = le.observed.AcquireTime
		desired.LeaderTransitions = le.observed.LeaderTransitions
	}
	le.mu.Unlock()

	ctx, cancel := le.withDeadline(parent, deadline.Sub(now))
	defer cancel()

	if leading {
		err := le.config.Lock.Update(ctx, desired)
		if err == nil {
			le.wrote(desired, now)
			return nil
		}
		if !k8sapi.IsConflict(err) {
			return fmt.Errorf("election: renew: %w", err)
		}
		// Someone else wrote the lock: read it and decide.
	}

	old, raw, err := le.config.Lock.Get(ctx)
	if k8sapi.IsNotFound(err) {
		if err := le.config.Lock.Create(ctx, desired); err != nil {
			return fmt.Errorf("election: create the lock: %w", err)
		}
		le.wrote(desired, now)
		return nil
	}
	if err != nil {
		return fmt.Errorf("election: read the lock: %w", err)
	}
	arrived := le.config.Clock.Now()

	le.mu.Lock()
	le.observeLocked(*old, raw, arrived)
	id := le.config.Lock.Identity()
	if old.HolderIdentity != "" && old.HolderIdentity != id && arrived.Before(le.expiryLocked()) {
		le.mu.Unlock()
		return errHeldByOther
	}
	le.mu.Unlock()

	if old.HolderIdentity == id {
		desired.AcquireTime = old.AcquireTime
		desired.LeaderTransitions = old.LeaderTransitions
	} else {
		desired.LeaderTransitions = old.LeaderTransitions + 1
	}
	if err := le.config.Lock.Update(ctx, desired); err != nil {
		return fmt.Errorf("election: update the lock: %w", err)
	}
	le.wrote(desired, now)
	return nil
}

// expiryLocked is when the observed holder's lease runs out by this
// candidate's clock.
func (le *LeaderElector) expiryLocked() time.Time {
	d := time.Duration(le.observed.LeaseDurationSeconds) * time.Second
	if d <= 0 {
		d = le.config.LeaseDuration
	}
	return le.observedTime.Add(d)
}

// observeLocked records a record read from the lock. The observation time
// moves only when the bytes change: an unchanged record is an expiring one.
func (le *LeaderElector) observeLocked(rec rl.LeaderElectionRecord, raw []byte, at time.Time) {
	if le.observedRaw != nil && bytes.Equal(raw, le.observedRaw) {
		return
	}
	le.observed = rec
	le.observedRaw = append([]byte(nil), raw...)
	le.observedTime = at
	le.reportLocked(rec.HolderIdentity)
}

// wrote records a successful write of rec that was sent at sent: this
// candidate leads, and its renew deadline counts from sent, unless the
// lock stored nothing new. A renewal within the lock's time precision of
// the one before it (two renewals in one second, on an annotation lock)
// stores the same bytes: followers saw no change and time the lease from
// the earlier write, so the deadline stays where that write put it. If
// this candidate did not make the earlier write (it restarted within the
// second), the deadline counts from one precision unit before sent, no
// later than that write.
func (le *LeaderElector) wrote(rec rl.LeaderElectionRecord, sent time.Time) {
	raw, _ := json.Marshal(rec) // cannot fail: plain fields
	p := le.precision
	le.mu.Lock()
	defer le.mu.Unlock()
	switch {
	case !sameStored(le.observed, rec, p):
		le.lastRenewSent = sent
	case le.leading:
		// Keep the deadline of the write that stored this record.
	default:
		le.lastRenewSent = sent.Add(-p)
	}
	le.observed = rec
	le.observedRaw = raw
	le.observedTime = sent
	le.leading = true
	le.reportLocked(rec.HolderIdentity)
}

// sameStored reports whether a and b are stored alike by a lock that keeps
// times to precision p.
func sameStored(a, b rl.LeaderElectionRecord, p time.Duration) bool {
	same := func(x, y rl.Time) bool { return x.Truncate(p).Equal(y.Truncate(p)) }
	return a.HolderIdentity == b.HolderIdentity && a.LeaseDurationSeconds == b.LeaseDurationSeconds &&
		a.LeaderTransitions == b.LeaderTransitions && same(a.AcquireTime, b.AcquireTime) && same(a.RenewTime, b.RenewTime)
}

// reportLocked queues OnNewLeader for a change of holder. An empty holder
// (a released lock) is no leader and is not reported.
func (le *LeaderElector) reportLocked(holder string) {
	if holder == "" || holder == le.reportedLeader {
		return
	}
	le.reportedLeader = holder
	if le.notifier != nil {
		le.notifier.push(holder)
	}
}

// release writes an empty holder over this candidate's record, keeping the
// transition count, so that the next candidate takes the lock at its next
// try. It uses the object this candidate last wrote: if another candidate
// wrote since, the update conflicts and nothing is released.
func (le *LeaderElector) release() error {
	now := le.config.Clock.Now()
	le.mu.Lock()
	if le.observed.HolderIdentity != le.config.Lock.Identity() {
		le.mu.Unlock()
		return nil
	}
	rec := rl.LeaderElectionRecord{
		LeaseDurationSeconds: 1,
		AcquireTime:          rl.NewTime(now),
		RenewTime:            rl.NewTime(now),
		LeaderTransitions:    le.observed.LeaderTransitions,
	}
	le.mu.Unlock()

	ctx, cancel := le.withDeadline(context.Background(), le.config.RequestTimeout)
	defer cancel()
	err := le.config.Lock.Update(ctx, rec)
	if k8sapi.IsConflict(err) {
		// A renewal cut short by the cancellation may have been stored
		// although its answer never arrived: read the lock, and release
		// only if this candidate still holds it.
		cur, _, gerr := le.config.Lock.Get(ctx)
		if gerr != nil {
			return fmt.Errorf("election: release: %w", gerr)
		}
		if cur.HolderIdentity != le.config.Lock.Identity() {
			return nil
		}
		err = le.config.Lock.Update(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("election: release: %w", err)
	}
	raw, _ := json.Marshal(rec)
	le.mu.Lock()
	le.observed = rec
	le.observedRaw = raw
	le.observedTime = now
	le.mu.Unlock()
	return nil
}

// withDeadline is context.WithTimeout on the elector's clock.
func (le *LeaderElector) withDeadline(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	if d <= 0 {
		cancel(context.DeadlineExceeded)
		return ctx, func() {}
	}
	t := le.config.Clock.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// leaseSeconds is d in whole seconds, rounded up, at least 1: the record
// holds seconds, and a shorter lease written down would be unsafe.
func leaseSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
