package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// ErrLeadershipLost is wrapped by RunContext's error when the elector led
// and then failed to renew within RenewDeadline, or saw another holder.
var ErrLeadershipLost = errors.New("election: leadership lost")

// ErrAlreadyRun is returned by a second call of Run or RunContext: an
// elector runs once; make a new one to stand again.
var ErrAlreadyRun = errors.New("election: elector already run; make a new one to stand again")

// LeaderElector is a leader election client. It is safe for concurrent use;
// it runs once.
type LeaderElector struct {
	config    LeaderElectionConfig // validated, defaults filled in
	precision time.Duration        // the unit the lock stores times in
	log       *slog.Logger
	ran       atomic.Bool

	mu             sync.Mutex
	observed       rl.LeaderElectionRecord // guarded by mu: the last record read or written
	observedRaw    []byte                  // guarded by mu: its bytes, to detect a change
	observedTime   time.Time               // guarded by mu: local time observedRaw last changed
	leading        bool                    // guarded by mu: this candidate holds the lock
	lastRenewSent  time.Time               // guarded by mu: when the last successful write was sent
	reportedLeader string                  // guarded by mu: the last identity given to OnNewLeader
	notifier       *notifier               // guarded by mu; nil outside RunContext
}

// NewLeaderElector creates a LeaderElector from a LeaderElectionConfig. The
// error wraps ErrInvalidConfig when the config is not valid.
func NewLeaderElector(lec LeaderElectionConfig) (*LeaderElector, error) {
	if err := lec.validate(); err != nil {
		return nil, err
	}
	log := lec.Logger.With("lock", lec.Lock.Describe(), "identity", lec.Lock.Identity())
	if lec.Name != "" {
		log = log.With("name", lec.Name)
	}
	return &LeaderElector{config: lec, precision: rl.TimePrecision(lec.Lock), log: log}, nil
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
// returns an error wrapping ErrLeadershipLost. A second call returns
// ErrAlreadyRun.
func (le *LeaderElector) RunContext(ctx context.Context) error {
	if !le.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	n := newNotifier(le.config.Callbacks.OnNewLeader)
	le.mu.Lock()
	le.notifier = n
	le.mu.Unlock()
	defer func() {
		le.mu.Lock()
		le.notifier = nil
		le.mu.Unlock()
		n.close()
	}()

	if !le.acquire(ctx) {
		return ctx.Err()
	}
	term, _ := le.Term()
	le.log.Info("election: started leading", "term", term)
	le.config.Lock.RecordEvent("became leader")

	stop := make(chan struct{})
	callbackDone := make(chan struct{})
	go func() {
		defer close(callbackDone)
		le.config.Callbacks.OnStartedLeading(stop)
	}()

	err := le.renew(ctx)
	le.mu.Lock()
	le.leading = false
	le.mu.Unlock()
	close(stop)
	le.config.Lock.RecordEvent("stopped leading")
	if ctx.Err() != nil && le.config.ReleaseOnCancel {
		le.releaseAfter(callbackDone)
	}
	le.config.Callbacks.OnStoppedLeading()
	return err
}

// IsLeader returns true if the last observed leader was this client and it
// is still within its renew deadline.
func (le *LeaderElector) IsLeader() bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.isLeadingLocked(le.config.Clock.Now())
}

func (le *LeaderElector) isLeadingLocked(now time.Time) bool {
	return le.leading && now.Before(le.lastRenewSent.Add(le.config.RenewDeadline))
}

// GetLeader returns the identity of the last observed leader or returns the
// empty string if no leader has yet been observed.
func (le *LeaderElector) GetLeader() string {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.observed.HolderIdentity
}

// Term returns this candidate's leadership term and whether it leads. The
// term is the record's leaderTransitions when this candidate acquired the
// lock: on one lock object it grows with every change of holder, so a
// downstream system that remembers the highest term it has seen can reject
// writes that carry a lower one (a fencing token), such as the late writes
// of a paused ex-leader. The term is meaningful only while leading is true.
func (le *LeaderElector) Term() (term int, leading bool) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.isLeadingLocked(le.config.Clock.Now()) {
		return 0, false
	}
	return le.observed.LeaderTransitions, true
}

// acquire tries to take the lock until it succeeds (true) or ctx ends
// (false). When the lock can be watched, a follower makes no request while
// the holder renews: it learns of each renewal from the watch, and tries
// when the lease expires by its own clock or at once when the lock is
// released. Otherwise it polls every RetryPeriod, with jitter.
func (le *LeaderElector) acquire(ctx context.Context) bool {
	le.log.Info("election: trying to acquire the lock")
	f := le.startFollowing(ctx)
	defer f.stop()
	var lastErr string
	try := true
	for {
		if try {
			err := le.attempt(ctx)
			if err == nil {
				return true
			}
			switch msg := err.Error(); {
			case errors.Is(err, errHeldByOther):
			case k8sapi.IsConflict(err) || k8sapi.IsAlreadyExists(err):
				// Another candidate wrote first: ordinary contention.
				le.log.Debug("election: lost a race for the lock", "err", err)
			case msg != lastErr:
				le.log.Warn("election: failed to acquire the lock", "err", err)
				lastErr = msg
			}
		}
		t := le.config.Clock.NewTimer(le.nextTry(f.watching()))
		select {
		case <-t.C():
			try = true
		case <-f.changed:
			t.Stop()
			// Try at once only when the lock has been released; for a
			// renewal, wait for the new expiry.
			le.mu.Lock()
			try = le.observed.HolderIdentity == ""
			le.mu.Unlock()
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// nextTry is how long a follower waits before its next try: until the
// observed lease expires when it watches the lock (plus a jitter of at
// most 20ms, so that followers do not all write at once), else
// RetryPeriod with jitter.
func (le *LeaderElector) nextTry(watching bool) time.Duration {
	if watching {
		le.mu.Lock()
		holder, expiry := le.observed.HolderIdentity, le.expiryLocked()
		le.mu.Unlock()
		if holder != "" {
			jitter := time.Duration(rand.Float64() * float64(min(le.config.RetryPeriod/10, 20*time.Millisecond)))
			return max(0, expiry.Sub(le.config.Clock.Now())) + jitter
		}
	}
	return le.config.RetryPeriod + time.Duration(rand.Float64()*JitterFactor*float64(le.config.RetryPeriod))
}

// renew renews the lock every RetryPeriod until ctx ends (ctx's error) or
// the leader fails to renew within RenewDeadline of its last successful
// renewal, or sees another holder (ErrLeadershipLost).
func (le *LeaderElector) renew(ctx context.Context) error {
	var failures int
	wait := le.config.RetryPeriod
	for {
		if !le.sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = le.config.RetryPeriod
		le.mu.Lock()
		deadline := le.lastRenewSent.Add(le.config.RenewDeadline)
		le.mu.Unlock()
		if !le.config.Clock.Now().Before(deadline) {
			return le.lost(failures, errors.New("no attempt left before the deadline"))
		}
		err := le.attempt(ctx)
		switch {
		case err == nil:
			if failures > 0 {
				le.log.Info("election: renewed after failures", "failures", failures)
				failures = 0
			}
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errHeldByOther):
			le.log.Warn("election: stopped leading: another candidate holds the lock", "holder", le.GetLeader())
			return fmt.Errorf("%w: %w", ErrLeadershipLost, err)
		}
		failures++
		if failures == 1 {
			le.log.Warn("election: failed to renew", "err", err)
		}
		left := deadline.Sub(le.config.Clock.Now())
		if left <= 0 {
			return le.lost(failures, err)
		}
		// Try again, at the latest at the deadline: that last try fails at
		// once, so the loss is noticed when it happens.
		wait = min(wait, left)
	}
}

// lost logs and returns the error for a leader that did not renew within
// RenewDeadline; err is the last failure.
func (le *LeaderElector) lost(failures int, err error) error {
	le.log.Warn("election: stopped leading: failed to renew within the renew deadline",
		"renewDeadline", le.config.RenewDeadline, "failures", failures, "err", err)
	return fmt.Errorf("%w: no renewal within %v: %w", ErrLeadershipLost, le.config.RenewDeadline, err)
}

// releaseAfter waits for OnStartedLeading to return, for at most
// ReleaseGrace, and then releases the lock. It does not release when the
// callback is still running: the leader may still be acting, so the lease
// must run out instead.
func (le *LeaderElector) releaseAfter(callbackDone <-chan struct{}) {
	t := le.config.Clock.NewTimer(le.config.ReleaseGrace)
	select {
	case <-callbackDone:
		t.Stop()
	case <-t.C():
		le.log.Warn("election: not releasing the lock: OnStartedLeading has not returned; the lease will expire instead",
			"releaseGrace", le.config.ReleaseGrace)
		return
	}
	if err := le.release(); err != nil {
		le.log.Warn("election: failed to release the lock", "err", err)
		return
	}
	le.log.Info("election: released the lock")
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
