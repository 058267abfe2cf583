package election

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

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

// onFreshStack calls f on a goroutine of its own and returns when f does.
// An elector's goroutine spends its life parked, waiting a lease or a
// RetryPeriod at a time; a try's request (HTTP/2, TLS, JSON) run on it
// would grow its stack for good, since the runtime shrinks the stack of a
// parked goroutine only while a quarter of it or less is in use. Run on a
// short-lived goroutine, the try leaves the parked one at its starting
// size (BENCHMARKS.md, "Many locks", measures the difference). It
// costs a goroutine per try or renewal, once a RetryPeriod at most.
func onFreshStack(f func()) { <-goFresh(f) }

// goFresh starts f on a goroutine of its own (see onFreshStack) and
// returns a channel closed when f returns.
func goFresh(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// The operations of Metrics.Request.
const (
	opGet    = "get"
	opCreate = "create"
	opUpdate = "update"
)

// lockGet reads the lock, reporting the request to the metrics and the
// health record. A lock that does not exist is an answer, not a failure.
func (le *LeaderElector) lockGet(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	start := le.config.Clock.Now()
	rec, raw, err := le.config.Lock.Get(ctx)
	le.requestDone(ctx, opGet, start, err, k8sapi.IsNotFound(err) || (errors.Is(err, rl.ErrInvalidRecord) && rec != nil))
	return rec, raw, err
}

// lockCreate creates the lock holding rec; a lock that exists already is
// a lost race, not a failure.
func (le *LeaderElector) lockCreate(ctx context.Context, rec rl.LeaderElectionRecord) error {
	start := le.config.Clock.Now()
	err := le.config.Lock.Create(ctx, rec)
	le.requestDone(ctx, opCreate, start, err, k8sapi.IsAlreadyExists(err))
	le.refused(rec, err)
	return err
}

// lockUpdate writes rec over the object last read or written; a conflict
// or a lock deleted meanwhile is an answer, not a failure.
func (le *LeaderElector) lockUpdate(ctx context.Context, rec rl.LeaderElectionRecord) error {
	start := le.config.Clock.Now()
	err := le.config.Lock.Update(ctx, rec)
	le.requestDone(ctx, opUpdate, start, err, k8sapi.IsConflict(err) || k8sapi.IsNotFound(err) || errors.Is(err, rl.ErrRecreated))
	le.refused(rec, err)
	return err
}

// refused forgets rec as a write of unknown outcome when the server
// answered err, a conflict: it stored nothing, so a record of the same
// bytes in the lock is another elector's (one of the same identity that
// wrote at the same instant), never this one's.
func (le *LeaderElector) refused(rec rl.LeaderElectionRecord, err error) {
	if !k8sapi.IsConflict(err) && !k8sapi.IsAlreadyExists(err) {
		return
	}
	le.mu.Lock()
	le.forgetSentLocked(rec)
	le.mu.Unlock()
}

// forgetSentLocked drops rec from the writes of unknown outcome: it is
// known not to be this elector's stored record.
func (le *LeaderElector) forgetSentLocked(rec rl.LeaderElectionRecord) {
	le.lead.pending = slices.DeleteFunc(le.lead.pending, func(p rl.LeaderElectionRecord) bool { return sameStored(p, rec, le.precision) })
}

// requestDone reports a request that started at start and ended with err;
// answered means the server answered as it may in an election (the error
// is no failure to reach or use the API): the last contact.
func (le *LeaderElector) requestDone(ctx context.Context, op string, start time.Time, err error, answered bool) {
	now := le.config.Clock.Now()
	if err != nil {
		err = timeoutCause(ctx, err)
	}
	if m := le.config.Metrics; m != nil && m.Request != nil {
		m.Request(op, now.Sub(start), err)
	}
	if err == nil || answered {
		le.mu.Lock()
		le.herd.timed(now.Sub(start), err == nil && op != opGet)
		le.health.lastContact = now
		le.mu.Unlock()
	}
}

// tryDone records the outcome of a try to acquire or renew for the health
// checks: an answer that lets the election go on (taken, renewed, held by
// another, a lost race) or a failure.
func (le *LeaderElector) tryDone(err error) {
	now := le.config.Clock.Now()
	le.mu.Lock()
	defer le.mu.Unlock()
	switch {
	case err == nil || errors.Is(err, errHeldByOther) || k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err):
		le.health.ok(now)
	default:
		le.health.failed(now, err)
	}
}
