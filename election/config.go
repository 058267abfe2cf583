package election

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// The seed's constants.
const (
	// JitterFactor multiplies RetryPeriod to give the largest extra random
	// wait between two attempts to acquire, so that candidates spread out.
	JitterFactor = 1.2

	// DefaultLeaseDuration is the usual LeaseDuration.
	DefaultLeaseDuration = 15 * time.Second
	// DefaultRenewDeadline is the usual RenewDeadline.
	DefaultRenewDeadline = 10 * time.Second
	// DefaultRetryPeriod is the usual RetryPeriod.
	DefaultRetryPeriod = 2 * time.Second

	// LeaderElectionRecordAnnotationKey is the annotation that holds the
	// election record on Endpoints and ConfigMap locks.
	LeaderElectionRecordAnnotationKey = rl.LeaderElectionRecordAnnotationKey
)

// ErrInvalidConfig is wrapped by every error NewLeaderElector returns for a
// bad LeaderElectionConfig.
var ErrInvalidConfig = errors.New("election: invalid config")

// LeaderElectionConfig configures a LeaderElector. The first five fields
// are the seed's; the rest are optional additions whose zero values keep
// the seed's behaviour.
type LeaderElectionConfig struct {
	// Lock is the resource that will be used for locking.
	Lock rl.Interface

	// LeaseDuration is the lease this candidate writes into the record
	// (in whole seconds, rounded up): how long the others wait, after they
	// last saw the record change, before they take the lock, each on its
	// own clock. A follower waits the lease the holder's record asks for;
	// LeaseDuration only for a record that names none.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew, measured
	// from when it sent its last successful renewal, before it stops
	// leading. It must be shorter than LeaseDuration: the ratio of the two
	// is the tolerated clock rate skew between candidates.
	RenewDeadline time.Duration
	// RetryPeriod is the time between two attempts to acquire or renew. A
	// leader on a lock that stores whole seconds (Endpoints, ConfigMap)
	// renews at most once a second, so that every renewal stores new bytes.
	RetryPeriod time.Duration

	// Callbacks are called on the elector's events.
	Callbacks LeaderCallbacks

	// ReleaseOnCancel makes the elector release the lock (write an empty
	// holder) when its context is cancelled while it leads, so that
	// another candidate takes over at once instead of after LeaseDuration.
	// It releases only after OnStartedLeading has returned, and after the
	// answer to a renewal under way at the cancel (within RequestTimeout),
	// which it lets finish so as to write over it.
	ReleaseOnCancel bool
	// ReleaseGrace is how long, once leadership ends, the elector waits for
	// OnStartedLeading to return before it gives up on releasing (the lease
	// then expires normally). Zero means RenewDeadline.
	ReleaseGrace time.Duration
	// RequestTimeout bounds each call to the lock; a renewal's is also cut
	// at the renew deadline. Zero means max(1s, RenewDeadline/2), or
	// RenewDeadline/2 when RenewDeadline is 1s or shorter. It must be
	// shorter than RenewDeadline.
	RequestTimeout time.Duration

	// Metrics, when set, receives the elector's measurements (leadership,
	// requests, tries to acquire, renewals, watch restarts). Optional.
	Metrics *Metrics

	// Name names this elector in logs.
	Name string
	// Logger receives the elector's log lines. Nil means slog.Default().
	Logger *slog.Logger
	// Clock is the source of time. Nil means the real clock.
	Clock Clock
}

// LeaderCallbacks are callbacks that are triggered during certain lifecycle
// events of the LeaderElector. OnStartedLeading runs in its own goroutine;
// OnNewLeader calls are made from one goroutine, in the order the changes
// were observed.
type LeaderCallbacks struct {
	// OnStartedLeading is called when the elector starts leading. The
	// leader acts until stop is closed, and should return soon after.
	OnStartedLeading func(stop <-chan struct{})
	// OnStoppedLeading is called once each time a leadership ends (once
	// per term with Stand). It is not called if the elector never led.
	OnStoppedLeading func()
	// OnNewLeader is called when the client observes a leader that is not
	// the previously observed leader. This includes the first observed
	// leader, and this candidate itself; a released lock and a record that
	// does not decode name no leader and are not reported. Optional.
	OnNewLeader func(identity string)
}

// validate checks lec and fills in defaults.
func (lec *LeaderElectionConfig) validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case lec.LeaseDuration <= 0:
		return invalid("LeaseDuration must be positive, got %v", lec.LeaseDuration)
	case lec.LeaseDuration > MaxLeaseDuration:
		return invalid("LeaseDuration (%v) must not be longer than MaxLeaseDuration (%v)", lec.LeaseDuration, MaxLeaseDuration)
	case lec.RenewDeadline <= 0:
		return invalid("RenewDeadline must be positive, got %v", lec.RenewDeadline)
	case lec.RetryPeriod <= 0:
		return invalid("RetryPeriod must be positive, got %v", lec.RetryPeriod)
	case lec.LeaseDuration <= lec.RenewDeadline:
		return invalid("LeaseDuration (%v) must be greater than RenewDeadline (%v)", lec.LeaseDuration, lec.RenewDeadline)
	case lec.RenewDeadline <= time.Duration(JitterFactor*float64(lec.RetryPeriod)):
		return invalid("RenewDeadline (%v) must be greater than JitterFactor*RetryPeriod (%v)", lec.RenewDeadline, time.Duration(JitterFactor*float64(lec.RetryPeriod)))
	case lec.ReleaseGrace < 0:
		return invalid("ReleaseGrace must not be negative, got %v", lec.ReleaseGrace)
	case lec.RequestTimeout < 0:
		return invalid("RequestTimeout must not be negative, got %v", lec.RequestTimeout)
	case lec.Lock == nil:
		return invalid("Lock must not be nil")
	case validateLock(lec.Lock) != nil:
		return invalid("Lock: %w", validateLock(lec.Lock))
	case lec.Lock.Identity() == "":
		return invalid("the lock's identity must not be empty")
	case lec.Callbacks.OnStartedLeading == nil:
		return invalid("OnStartedLeading callback must not be nil")
	case lec.Callbacks.OnStoppedLeading == nil:
		return invalid("OnStoppedLeading callback must not be nil")
	}
	// A renewal stores new bytes only in a new unit of the lock's time
	// precision (a second for the annotation locks), so renewals that
	// followers see come at most once per unit: the deadline must leave
	// room for one, as it must for one RetryPeriod.
	if p := timePrecision(lec.Lock); lec.RenewDeadline <= time.Duration(JitterFactor*float64(p)) {
		return invalid("RenewDeadline (%v) must be greater than JitterFactor times the lock's time precision (%v): "+
			"a lock that stores times in units of %v shows followers at most one renewal per unit", lec.RenewDeadline, time.Duration(JitterFactor*float64(p)), p)
	}
	if lec.RequestTimeout == 0 {
		lec.RequestTimeout = max(time.Second, lec.RenewDeadline/2)
		if lec.RequestTimeout >= lec.RenewDeadline {
			lec.RequestTimeout = lec.RenewDeadline / 2
		}
	}
	if lec.RequestTimeout >= lec.RenewDeadline {
		return invalid("RequestTimeout (%v) must be shorter than RenewDeadline (%v)", lec.RequestTimeout, lec.RenewDeadline)
	}
	if lec.ReleaseGrace == 0 {
		lec.ReleaseGrace = lec.RenewDeadline
	}
	if lec.Logger == nil {
		lec.Logger = slog.Default()
	}
	if lec.Clock == nil {
		lec.Clock = realClock{}
	}
	return nil
}

// validateLock is the lock's own check (resourcelock.Validator), which
// finds what would make every request fail (a nil Client, an invalid
// name) before the elector runs.
func validateLock(lock rl.Interface) error {
	if v, ok := lock.(rl.Validator); ok {
		return v.Validate()
	}
	return nil
}

// timePrecise is a lock that tells the unit its object stores times in
// (see rl.Interface).
type timePrecise interface {
	TimePrecision() time.Duration
}

// timePrecision is lock's TimePrecision, a second for a lock without one.
func timePrecision(lock rl.Interface) time.Duration {
	if p, ok := lock.(timePrecise); ok && p.TimePrecision() > 0 {
		return p.TimePrecision()
	}
	return time.Second
}
