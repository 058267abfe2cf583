package election

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// ErrRenewalStuck is wrapped by CheckLive's error when the leader's renew loop
// has made no attempt for longer than it should: a request that hangs, a
// logger or a Metrics hook that blocks.
var ErrRenewalStuck = errors.New("election: the renew loop is stuck")

// ErrCallbackStuck is wrapped by CheckLive's error when OnStartedLeading has
// not returned long after its stop channel was closed: the program may
// still act as the leader while another candidate leads.
var ErrCallbackStuck = errors.New("election: OnStartedLeading has not returned after its leadership ended")

// ErrNoAPIAccess is wrapped by CheckReady's error when this candidate has
// not been able to reach or use the API server for longer than the
// tolerance (every request failed: 401, 403, a missing namespace, TLS,
// DNS, a refused connection, 5xx, timeouts). The error also wraps the last
// failure, so that k8sapi.IsForbidden and the like work on it.
var ErrNoAPIAccess = errors.New("election: no access to the API server")

// health is what the elector knows of its own health; guarded by the
// elector's mu.
type health struct {
	started      time.Time // when the run started; zero before
	lastContact  time.Time // the last request the server answered as it may
	failingSince time.Time // the first failed try since the last good one (the start, before any); zero after a good one
	failures     int       // failed tries since the last good one
	lastErr      error     // the last failure
	lastErrAt    time.Time

	renewing  bool      // the renew loop runs
	renewBeat time.Time // when the renew loop last ended an attempt (or started)

	callbackRunning bool      // OnStartedLeading has not returned
	callbackStopped time.Time // when the running callback's stop was closed; zero while it leads
}

func (h *health) start(now time.Time) {
	h.started = now
	if h.lastContact.IsZero() && h.failingSince.IsZero() {
		h.failingSince = now
	}
}

// ok records a try that went as it may: the streak of failures ends.
func (h *health) ok(now time.Time) {
	h.failingSince, h.failures = time.Time{}, 0
}

func (h *health) failed(now time.Time, err error) {
	if h.failingSince.IsZero() {
		h.failingSince = now
	}
	h.failures++
	h.lastErr, h.lastErrAt = err, now
}

// Status is a snapshot of an elector, for programs, health pages and logs.
// Times are by this candidate's clock.
type Status struct {
	// Identity is this candidate's identity.
	Identity string
	// Running is true while Run, RunContext or Stand runs.
	Running bool
	// Leading is true while this candidate leads (IsLeader).
	Leading bool
	// Term is this candidate's term while it leads, else 0 (Term).
	Term int
	// FencingToken is this candidate's fencing token while it leads (see
	// LeaderElector.FencingToken); 0 while it does not lead, or when the
	// lock or the server gives no token.
	FencingToken fencing.Token
	// LeadingUntil is, while this candidate leads, when its leadership
	// ends unless renewed: LeaderElectionConfig.RenewDeadline after it sent
	// its last stored record. Zero while it does not lead.
	LeadingUntil time.Time
	// LastRenewal is when the leader sent its last stored record.
	LastRenewal time.Time

	// Holder is the holder of the lock as last observed: "" when released
	// or never seen, resourcelock.UnknownLeader for a record that does not
	// decode.
	Holder string
	// HolderTerm is the observed record's leaderTransitions.
	HolderTerm int
	// LockExists is false when the lock object was not found or was seen
	// deleted.
	LockExists bool
	// ObservedAt is when the observed record last changed.
	ObservedAt time.Time
	// LeaseExpiry is when the observed holder's lease runs out by this
	// candidate's clock, unless the record changes.
	LeaseExpiry time.Time
	// Watching is true while a watch of the lock is established.
	Watching bool

	// LastContact is when the API server last answered a request as it may
	// in an election (a success, a conflict, a lock not found on a read).
	LastContact time.Time
	// FailingSince is when this candidate's tries to acquire or renew
	// started failing (the start of the run, before any try went as it
	// may); zero when the last try went as it may: the lock taken or
	// renewed, found held by another, or a race lost.
	FailingSince time.Time
	// Failures counts the failed tries since the last good one.
	Failures int
	// LastError is the last failed try's error, with its cause.
	LastError error
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time
}

// MarshalJSON writes the times that are set (in RFC 3339), and LastError
// as its text with its kind (ErrorKind).
func (s Status) MarshalJSON() ([]byte, error) {
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	out := struct {
		Identity      string     `json:"identity"`
		Running       bool       `json:"running"`
		Leading       bool       `json:"leading"`
		Term          int        `json:"term,omitempty"`
		FencingToken  string     `json:"fencingToken,omitempty"`
		LeadingUntil  *time.Time `json:"leadingUntil,omitempty"`
		LastRenewal   *time.Time `json:"lastRenewal,omitempty"`
		Holder        string     `json:"holder"`
		HolderTerm    int        `json:"holderTerm"`
		LockExists    bool       `json:"lockExists"`
		ObservedAt    *time.Time `json:"observedAt,omitempty"`
		LeaseExpiry   *time.Time `json:"leaseExpiry,omitempty"`
		Watching      bool       `json:"watching"`
		LastContact   *time.Time `json:"lastContact,omitempty"`
		FailingSince  *time.Time `json:"failingSince,omitempty"`
		Failures      int        `json:"failures"`
		LastError     string     `json:"lastError,omitempty"`
		LastErrorKind string     `json:"lastErrorKind,omitempty"`
		LastErrorAt   *time.Time `json:"lastErrorAt,omitempty"`
	}{
		s.Identity, s.Running, s.Leading, s.Term, "", at(s.LeadingUntil), at(s.LastRenewal),
		s.Holder, s.HolderTerm, s.LockExists, at(s.ObservedAt), at(s.LeaseExpiry), s.Watching,
		at(s.LastContact), at(s.FailingSince), s.Failures, "", "", at(s.LastErrorAt),
	}
	if s.FencingToken != 0 {
		out.FencingToken = s.FencingToken.String()
	}
	if s.LastError != nil {
		out.LastError, out.LastErrorKind = s.LastError.Error(), string(ErrorKind(s.LastError))
	}
	return json.Marshal(out)
}

// Status returns a snapshot of the elector.
func (le *LeaderElector) Status() Status {
	le.mu.Lock()
	defer le.mu.Unlock()
	now := le.config.Clock.Now()
	h := le.health
	s := Status{
		Identity:     le.config.Lock.Identity(),
		Running:      le.running,
		LastContact:  h.lastContact,
		FailingSince: h.failingSince,
		Failures:     h.failures,
		LastError:    h.lastErr,
		LastErrorAt:  h.lastErrAt,
		Watching:     le.watching != nil && le.watching.watching(),
	}
	if le.isLeadingLocked(now) {
		s.Leading, s.Term, s.LeadingUntil = true, le.lead.term, le.deadlineLocked()
		s.FencingToken, _ = fencing.ParseToken(le.lead.version)
	}
	if !le.lead.mineSent.IsZero() {
		s.LastRenewal = le.lead.mineSent
	}
	if le.observed.seen {
		s.Holder, s.HolderTerm = le.observed.rec.HolderIdentity, le.observed.rec.LeaderTransitions
		s.LockExists = le.observed.exists()
		s.ObservedAt, s.LeaseExpiry = le.observed.at, le.observed.expiry()
	}
	return s
}

// CheckLive is a liveness check: it returns an error when this elector is
// stuck, and nil otherwise (also before it runs and after it returned).
// Stuck means either of:
//
//   - the leader's renew loop has ended no attempt for RetryPeriod +
//     tolerance (a request that hangs, a blocking logger or Metrics hook);
//     the error wraps ErrRenewalStuck. Renewals that fail do not count:
//     the loop is running, and the renew deadline ends the leadership on
//     its own.
//   - OnStartedLeading is still running tolerance after its stop channel
//     was closed: the program may still act as the leader while another
//     candidate leads. The error wraps ErrCallbackStuck.
//
// Restarting the process is the cure for both, so this is the check for a
// liveness probe (LivenessHandler). A tolerance of a few RetryPeriods
// suits; it must cover the time the program takes to stop acting after
// stop is closed.
func (le *LeaderElector) CheckLive(tolerance time.Duration) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	now := le.config.Clock.Now()
	h := le.health
	if h.renewing {
		if late := now.Sub(h.renewBeat); late > le.config.RetryPeriod+tolerance {
			return fmt.Errorf("%w: no renewal attempt ended for %v (RetryPeriod %v, tolerance %v)",
				ErrRenewalStuck, late.Round(time.Millisecond), le.config.RetryPeriod, tolerance)
		}
	}
	if h.callbackRunning && !h.callbackStopped.IsZero() {
		if late := now.Sub(h.callbackStopped); late > tolerance {
			return fmt.Errorf("%w: stop was closed %v ago (tolerance %v)", ErrCallbackStuck, late.Round(time.Millisecond), tolerance)
		}
	}
	return nil
}

// CheckReady is a readiness check: it returns an error wrapping
// ErrNoAPIAccess and the last failure when, for longer than tolerance,
// every try of this candidate to acquire or renew failed (or none went as
// it may since the run started): a replica that cannot reach or use the
// API server (401, 403, a missing namespace, TLS, DNS, a refused
// connection, 5xx, timeouts) can never lead, and says so instead of
// retrying silently. A try that finds the lock held by another candidate,
// or loses a race, went as it may. It returns nil before the elector runs.
//
// A follower that watches the lock makes requests only when the lease
// runs out, so it notices a lost access at its next try.
func (le *LeaderElector) CheckReady(tolerance time.Duration) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	now := le.config.Clock.Now()
	h := le.health
	if !le.running || h.failingSince.IsZero() {
		return nil
	}
	since := now.Sub(h.failingSince)
	if since <= tolerance {
		return nil
	}
	if h.lastErr == nil {
		return fmt.Errorf("%w: no try done in %v since the start", ErrNoAPIAccess, since.Round(time.Millisecond))
	}
	return fmt.Errorf("%w: every try failed for %v (%d failures, the last %s): %w",
		ErrNoAPIAccess, since.Round(time.Millisecond), h.failures, ErrorKind(h.lastErr), h.lastErr)
}

// LivenessHandler serves CheckLive(tolerance): 200 "ok", or 503 with the
// error's text.
func (le *LeaderElector) LivenessHandler(tolerance time.Duration) http.Handler {
	return checkHandler(func() error { return le.CheckLive(tolerance) })
}

// ReadinessHandler serves CheckReady(tolerance): 200 "ok", or 503 with
// the error's text.
func (le *LeaderElector) ReadinessHandler(tolerance time.Duration) http.Handler {
	return checkHandler(func() error { return le.CheckReady(tolerance) })
}

// LeaderHandler serves 200 "leading" while this candidate leads and 503
// otherwise: a readiness probe with it sends a Service's traffic to the
// leader only (subject to the kubelet's probe period, so briefly to a
// former leader too).
func (le *LeaderElector) LeaderHandler() http.Handler {
	return checkHandler(func() error {
		if !le.IsLeader() {
			return errors.New("not leading")
		}
		return nil
	}, "leading")
}

// checkHandler answers GET and HEAD with check's result.
func checkHandler(check func() error, ok ...string) http.Handler {
	body := "ok"
	if len(ok) > 0 {
		body = ok[0]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := check(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, body)
	})
}
