//go:build go1.25

package election_test

// Regression tests for the safety bugs of issue 8, each reproduced in fake
// time on a lock in memory. Each one failed before the fix it names.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// logHook is a slog.Handler that calls fn with every record, in the
// goroutine that logs it, and keeps the formatted lines.
type logHook struct {
	fn    func(slog.Record)
	attrs []slog.Attr

	mu    *sync.Mutex
	lines *[]string // guarded by mu
}

func newLogHook(fn func(slog.Record)) *logHook {
	return &logHook{fn: fn, mu: new(sync.Mutex), lines: new([]string)}
}

func (h *logHook) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHook) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	if h.fn != nil {
		h.fn(r)
	}
	return nil
}

func (h *logHook) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *logHook) WithGroup(string) slog.Handler { return h }

func (h *logHook) logged() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.lines...)
}

// stopAt returns when c's stop channel was closed, as noted by run.
func stopAt(t *testing.T, c *candidate) time.Duration {
	t.Helper()
	synctest.Wait() // the callback notes it
	for _, e := range c.log() {
		if d, ok := strings.CutSuffix(e, " stop closed"); ok {
			at, err := time.ParseDuration(d)
			if err != nil {
				t.Fatal(err)
			}
			return at
		}
	}
	t.Fatalf("stop never closed: %v", c.log())
	return 0
}

// Bug 1: after a slow answer to the acquiring write, the renew loop slept
// a whole RetryPeriod and closed stop at 16.9s, although the deadline was
// 10s after the send; a follower starts at 15s. Every wait of a leader ends
// by its deadline.
func TestStopAtDeadlineAfterSlowAcquire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		s.setSlow(8900 * time.Millisecond)
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod, cfg.RequestTimeout = 15*time.Second, 10*time.Second, 8*time.Second, 9*time.Second
			started := cfg.Callbacks.OnStartedLeading
			cfg.Callbacks.OnStartedLeading = func(stop <-chan struct{}) {
				s.setSlow(0)
				s.setHang(true) // no renewal gets through
				started(stop)
			}
		})
		if err := c.wait(); !errors.Is(err, election.ErrLeadershipLost) {
			t.Fatalf("RunContext = %v, want ErrLeadershipLost", err)
		}
		if at := stopAt(t, c); at != 10*time.Second {
			t.Errorf("stop closed at %v, want at the deadline, 10s after the acquiring write was sent", at)
		}
	})
}

// Bug 1: log calls sat on the path to closing stop, so a slow log handler
// held the step-down up. stop closes at the deadline whatever the logger
// does.
func TestStopAtDeadlineWithSlowLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		slow := newLogHook(func(r slog.Record) {
			if r.Level >= slog.LevelWarn {
				time.Sleep(5 * time.Second)
			}
		})
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.Logger = slog.New(slow)
			started := cfg.Callbacks.OnStartedLeading
			cfg.Callbacks.OnStartedLeading = func(stop <-chan struct{}) {
				s.setHang(true)
				started(stop)
			}
		})
		c.wait()
		if at := stopAt(t, c); at != renew {
			t.Errorf("stop closed at %v, want %v", at, renew)
		}
	})
}

// Bug 2: when a renewal conflicted and the re-read showed another holder,
// Term and IsLeader reported (their term, true) until the renew loop
// returned. Term never reports another holder's term as ours.
func TestTermNeverAnotherHolders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		var elector atomic.Pointer[election.LeaderElector]
		var mu sync.Mutex
		var seen []string
		hook := newLogHook(func(slog.Record) {
			le := elector.Load()
			if le == nil {
				return
			}
			term, leading := le.Term()
			mu.Lock()
			seen = append(seen, fmt.Sprint(term, leading))
			mu.Unlock()
		})
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.Logger = slog.New(hook)
		})
		le := c.le
		elector.Store(le)
		synctest.Wait()
		if term, ok := le.Term(); !ok || term != 0 {
			t.Fatalf("Term = %d, %v; want 0, true", term, ok)
		}
		s.set(rl.LeaderElectionRecord{HolderIdentity: "b", LeaseDurationSeconds: 15, LeaderTransitions: 7,
			AcquireTime: rl.NewTime(time.Now()), RenewTime: rl.NewTime(time.Now())})
		if err := c.wait(); !errors.Is(err, election.ErrLeadershipLost) {
			t.Fatalf("RunContext = %v, want ErrLeadershipLost", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, got := range seen {
			if got == "7 true" {
				t.Fatalf("Term reported the new holder's term 7 as ours while leading; all reports: %v", seen)
			}
		}
		if term, ok := le.Term(); ok || term != 0 {
			t.Errorf("Term after losing = %d, %v; want 0, false", term, ok)
		}
	})
}

// Bug 3: a restarted process with the same identity took its old record
// over in the same term, so a fenced store could not tell its writes from
// its predecessor's. Every new leadership gets a higher term; and a record
// with our identity that this elector did not write is another holder's
// until it expires.
func TestSameIdentityLeadsAgainInNewTerm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		first := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		if term, ok := first.le.Term(); !ok || term != 0 {
			t.Fatalf("first process: Term = %d, %v", term, ok)
		}
		first.cancel() // a crash: no release
		first.wait()
		restart := time.Now()
		second := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		if second.le.IsLeader() {
			t.Fatal("the restarted process took its predecessor's unexpired record at once")
		}
		time.Sleep(lease + maxRetry)
		term, ok := second.le.Term()
		if !ok || term <= 0 {
			t.Fatalf("restarted process: Term = %d, %v; want a term above 0", term, ok)
		}
		if rec := s.record(); rec.LeaderTransitions != term || rec.AcquireTime.Before(restart) {
			t.Errorf("record %+v: want leaderTransitions %d and a new acquireTime", rec, term)
		}
	})
}

// Bug 4: on a lock that stores whole seconds, renewals within one second
// stored identical bytes and did not move the deadline, so a healthy
// leader at (5s, 1.4s, 0.7s) stepped down again and again. A healthy leader
// never steps down.
func TestHealthyLeaderOnCoarseLockNeverStepsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		var writes []time.Time
		s.onWrite = func(rec rl.LeaderElectionRecord) { writes = append(writes, rec.RenewTime.Time) }
		time.Sleep(300 * time.Millisecond) // not on a whole second
		c := run(t, precisionLock{&memLock{id: "a", store: s}, time.Second}, func(cfg *election.LeaderElectionConfig) {
			cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 5*time.Second, 1400*time.Millisecond, 700*time.Millisecond
		})
		time.Sleep(time.Minute)
		if !c.le.IsLeader() {
			t.Fatalf("the leader stepped down on a healthy lock: %v", c.log())
		}
		for _, e := range c.log() {
			if strings.HasSuffix(e, "stop closed") {
				t.Fatalf("stop closed on a healthy lock: %v", c.log())
			}
		}
		for i := 1; i < len(writes); i++ {
			if writes[i].Truncate(time.Second).Equal(writes[i-1].Truncate(time.Second)) {
				t.Fatalf("writes %d and %d store the same second", i-1, i)
			}
		}
	})
}

// Bug 6: release checked only the identity after a conflict, so an old
// elector winding down emptied the record of a newer elector with the same
// identity. Release only the exact record this elector wrote.
func TestReleaseOnlyOwnRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		old := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.ReleaseOnCancel = true
			cfg.ReleaseGrace = time.Minute
			cfg.Callbacks.OnStartedLeading = func(stop <-chan struct{}) {
				<-stop
				time.Sleep(30 * time.Second) // winding down
			}
		})
		synctest.Wait()
		old.cancel()
		newer := run(t, &memLock{id: "a", store: s}, nil)
		time.Sleep(lease + maxRetry)
		if !newer.le.IsLeader() {
			t.Fatal("the newer elector does not lead")
		}
		term, _ := newer.le.Term()
		old.wait() // the old elector's callback returns and it releases
		if rec := s.record(); rec.HolderIdentity != "a" || rec.LeaderTransitions != term {
			t.Errorf("record after the old elector's release = %+v; want the newer elector's (term %d) untouched", rec, term)
		}
		if !newer.le.IsLeader() {
			t.Error("the newer elector lost the lock to the old one's release")
		}
	})
}

// Bug 14: a renewal that timed out was reported as "context canceled",
// and a long identity went whole into every log line.
func TestTimeoutReportedAsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		var mu sync.Mutex
		var renewErr error
		hook := newLogHook(func(r slog.Record) {
			if !strings.Contains(r.Message, "failed to renew") {
				return
			}
			r.Attrs(func(a slog.Attr) bool {
				if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
					mu.Lock()
					renewErr = err
					mu.Unlock()
				}
				return true
			})
		})
		id := strings.Repeat("x", 10<<10)
		c := run(t, &memLock{id: id, store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.Logger = slog.New(hook)
			started := cfg.Callbacks.OnStartedLeading
			cfg.Callbacks.OnStartedLeading = func(stop <-chan struct{}) {
				s.setHang(true)
				started(stop)
			}
		})
		c.wait()
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(renewErr, context.DeadlineExceeded) || errors.Is(renewErr, context.Canceled) {
			t.Errorf("renewal error %v: want context.DeadlineExceeded, not Canceled", renewErr)
		}
		for _, line := range hook.logged() {
			if len(line) > 2<<10 {
				t.Errorf("a log line of %d bytes: %.120s...", len(line), line)
			}
		}
	})
}

// Found by the chaos campaign (seeds 4, 14, 133): when every renewal
// answered 409 Conflict and the re-read showed the leader's own record, the
// leader took that for a renewal and renewed again at once, in a hot loop
// at one instant. A conflict over our own record is renewed once more; then
// the leader waits RetryPeriod, and steps down at the deadline when nothing
// is stored.
func TestConflictsOverOwnRecordNoHotLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		s.mu.Lock()
		s.conflicts = true
		s.mu.Unlock()
		s.takeCalls()
		if err := c.wait(); !errors.Is(err, election.ErrLeadershipLost) {
			t.Fatalf("RunContext = %v, want ErrLeadershipLost", err)
		}
		// Renewals at 2, 4, 6 and 8s: update, get, update each.
		if got := len(s.takeCalls()); got > 12 {
			t.Errorf("%d calls before the deadline, want at most 12", got)
		}
		if at := stopAt(t, c); at != renew {
			t.Errorf("stop closed at %v, want %v", at, renew)
		}
	})
}

// Found by the real-server campaign (scenario lock-deleted): kube-apiserver
// answers the update of a deleted Lease with 409 (the update carries the
// old object's uid), not 404, and the leader then read 404 and failed until
// its deadline, leaving a restarted candidate to recreate the lock in term
// 0. The leader recreates a lock it finds deleted after a conflict, in its
// own term, and goes on leading.
func TestLeaderRecreatesLockDeletedUnderIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{uidPrecondition: true}
		c := run(t, &memLock{id: "a", store: s}, nil)
		time.Sleep(5 * time.Second)
		s.remove()
		time.Sleep(time.Minute)
		if !c.le.IsLeader() {
			t.Fatalf("the leader lost its lock when it was deleted: %v", c.log())
		}
		if rec := s.record(); rec.HolderIdentity != "a" || rec.LeaderTransitions != 0 {
			t.Errorf("record = %+v, want a's, in term 0", rec)
		}
	})
}

// Found by issue 20's herd test: a renewal that conflicts over the
// leader's own record (another field of the object changed: an offer to
// succeed, a label) is sent again; when that second write was stored but
// its answer lost, the leader forgot it had sent it, took the record for
// someone else's, and did not release it: the followers waited a whole
// lease. It must know the record as its own, and release it.
func TestReleaseAfterLostAnswerToRenewalAfterConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.ReleaseOnCancel = true
		})
		synctest.Wait()
		bump := func() { s.mu.Lock(); s.rv++; s.mu.Unlock() } // another field changed
		bump()
		s.setSlow(time.Minute)
		time.Sleep(retry + time.Millisecond) // the renewal: update (409), get, update (stored, no answer yet)
		synctest.Wait()
		renewal := s.record()
		if renewal.HolderIdentity != "a" || !renewal.RenewTime.After(renewal.AcquireTime.Time) {
			t.Fatalf("record %+v: want a's renewal stored", renewal)
		}
		bump()
		s.setSlow(0)
		c.cancel() // the renewal's answer is lost
		c.wait()
		if rec := s.record(); rec.HolderIdentity != "" {
			t.Errorf("record after cancel = %+v, want released", rec)
		}
	})
}
