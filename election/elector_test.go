//go:build go1.25

//go:debug asynctimerchan=0

package election_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
)

const (
	lease = 15 * time.Second
	renew = 10 * time.Second
	retry = 2 * time.Second
	// maxRetry is the longest wait between two attempts to acquire.
	maxRetry = time.Duration(float64(retry) * (1 + election.JitterFactor))
)

// candidate is one running elector and what its callbacks saw.
type candidate struct {
	le     *election.LeaderElector
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []string // guarded by mu
	t0     time.Time
}

func (c *candidate) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, fmt.Sprintf("%v ", time.Since(c.t0))+fmt.Sprintf(format, args...))
}

func (c *candidate) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// run starts an elector on lock; edit may change the config first.
func run(t *testing.T, lock rl.Interface, edit func(*election.LeaderElectionConfig)) *candidate {
	t.Helper()
	c := &candidate{done: make(chan error, 1), t0: time.Now()}
	cfg := election.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: lease,
		RenewDeadline: renew,
		RetryPeriod:   retry,
		Logger:        quiet,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				c.note("started")
				<-stop
				c.note("stop closed")
			},
			OnStoppedLeading: func() { c.note("stopped") },
			OnNewLeader:      func(id string) { c.note("leader %s", id) },
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	le, err := election.NewLeaderElector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.le, c.cancel = le, cancel
	go func() { c.done <- le.RunContext(ctx) }()
	t.Cleanup(func() { cancel(); <-c.done; c.done <- nil })
	return c
}

// wait returns RunContext's error.
func (c *candidate) wait() error {
	err := <-c.done
	c.done <- err
	return err
}

func TestAcquireMissingLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		if !c.le.IsLeader() || c.le.GetLeader() != "a" {
			t.Fatalf("IsLeader %v, GetLeader %q; want a to lead at once", c.le.IsLeader(), c.le.GetLeader())
		}
		if diff := cmp.Diff([]string{"a get", "a create"}, s.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		rec := s.record()
		if rec.HolderIdentity != "a" || rec.LeaseDurationSeconds != 15 || rec.LeaderTransitions != 0 || !rec.AcquireTime.Equal(c.t0) {
			t.Errorf("record = %+v", rec)
		}
		if diff := cmp.Diff([]string{"0s leader a", "0s started"}, sorted(c.log())); diff != "" {
			t.Errorf("callbacks (-want +got):\n%s", diff)
		}
	})
}

func TestAcquireReleasedLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		s.set(rl.LeaderElectionRecord{LeaseDurationSeconds: 1, LeaderTransitions: 4})
		c := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		if !c.le.IsLeader() {
			t.Fatal("a does not lead a released lock")
		}
		if diff := cmp.Diff([]string{"a get", "a update"}, s.takeCalls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if got := s.record().LeaderTransitions; got != 5 {
			t.Errorf("transitions = %d, want 5", got)
		}
		if term, ok := c.le.Term(); term != 5 || !ok {
			t.Errorf("Term() = %d, %v; want 5, true", term, ok)
		}
	})
}

// A lock held by another candidate is taken only once the holder's lease
// has expired by this candidate's clock, counted from when it saw the
// record, whatever the timestamps in the record say.
func TestAcquireExpiredLock(t *testing.T) {
	for _, tc := range []struct {
		name        string
		holderLease int
		renewTime   time.Time // what the holder wrote: ignored
	}{
		{"holder's lease as own", 15, time.Now()},
		{"holder's longer lease", 40, time.Now()},
		{"holder's shorter lease", 5, time.Now()},
		{"renew time far in the past", 15, time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"renew time far in the future", 15, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &memStore{}
				s.set(rl.LeaderElectionRecord{HolderIdentity: "old", LeaseDurationSeconds: tc.holderLease,
					RenewTime: rl.NewTime(tc.renewTime), LeaderTransitions: 2})
				c := run(t, &memLock{id: "a", store: s}, nil)
				expiry := time.Duration(tc.holderLease) * time.Second
				time.Sleep(expiry - time.Millisecond)
				if c.le.IsLeader() {
					t.Fatalf("a leads %v after it saw a fresh record with a %v lease", time.Since(c.t0), expiry)
				}
				if got := c.le.GetLeader(); got != "old" {
					t.Errorf("GetLeader = %q, want old", got)
				}
				time.Sleep(maxRetry + time.Millisecond)
				if !c.le.IsLeader() {
					t.Fatalf("a does not lead %v after the lease expired", time.Since(c.t0)-expiry)
				}
				if rec := s.record(); rec.HolderIdentity != "a" || rec.LeaderTransitions != 3 {
					t.Errorf("record = %+v, want holder a and 3 transitions", rec)
				}
			})
		})
	}
}

// A holder that keeps renewing keeps the lock: each change of the record
// restarts the follower's count.
func TestNoAcquireWhileHolderRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		s.set(rl.LeaderElectionRecord{HolderIdentity: "old", LeaseDurationSeconds: 15})
		holderDone := make(chan struct{})
		defer close(holderDone)
		go func() {
			for {
				select {
				case <-holderDone:
					return
				case <-time.After(5 * time.Second):
					s.set(rl.LeaderElectionRecord{HolderIdentity: "old", LeaseDurationSeconds: 15, RenewTime: rl.NewTime(time.Now())})
				}
			}
		}()
		c := run(t, &memLock{id: "a", store: s}, nil)
		time.Sleep(5 * time.Minute)
		if c.le.IsLeader() || c.le.GetLeader() != "old" {
			t.Fatalf("IsLeader %v, GetLeader %q: a took a lock that was renewed", c.le.IsLeader(), c.le.GetLeader())
		}
	})
}

// The leader renews with exactly one update per RetryPeriod and no read.
func TestRenewIsOneUpdatePerRetryPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		s.takeCalls()
		acquired := s.record()
		time.Sleep(time.Minute + time.Millisecond)
		want := make([]string, 30)
		for i := range want {
			want[i] = "a update"
		}
		if diff := cmp.Diff(want, s.takeCalls()); diff != "" {
			t.Errorf("calls in a minute of leading (-want +got):\n%s", diff)
		}
		rec := s.record()
		if !c.le.IsLeader() || rec.LeaderTransitions != 0 || !rec.AcquireTime.Equal(acquired.AcquireTime.Time) ||
			!rec.RenewTime.Equal(c.t0.Add(time.Minute)) {
			t.Errorf("after a minute: leader %v, record %+v", c.le.IsLeader(), rec)
		}
	})
}

// A conflict on renewal makes the leader read the lock: if it still holds
// it, it renews; if another candidate holds it, it stops leading at once.
func TestRenewConflict(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, nil)
		synctest.Wait()
		time.Sleep(3 * time.Second)
		// Someone rewrites a's record: the version moves, the holder stays.
		s.set(s.record())
		s.takeCalls()
		time.Sleep(2 * time.Second)
		if diff := cmp.Diff([]string{"a update", "a get", "a update"}, s.takeCalls()); diff != "" {
			t.Errorf("calls after a conflict (-want +got):\n%s", diff)
		}
		if !c.le.IsLeader() {
			t.Fatal("a lost a lock it still held")
		}

		time.Sleep(2 * time.Second)
		s.set(rl.LeaderElectionRecord{HolderIdentity: "b", LeaseDurationSeconds: 15, LeaderTransitions: 1})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if err := c.wait(); !errors.Is(err, election.ErrLeadershipLost) {
			t.Fatalf("RunContext = %v, want ErrLeadershipLost", err)
		}
		if c.le.IsLeader() || c.le.GetLeader() != "b" {
			t.Errorf("IsLeader %v, GetLeader %q; want b", c.le.IsLeader(), c.le.GetLeader())
		}
		if diff := cmp.Diff([]string{"0s leader a", "0s started", "8s leader b", "8s stop closed", "8s stopped"}, sorted(c.log())); diff != "" {
			t.Errorf("callbacks (-want +got):\n%s", diff)
		}
	})
}

// When the API server stops answering, or answers only errors, the leader
// stops leading RenewDeadline after it sent its last successful renewal:
// stop is closed first, then OnStoppedLeading is called, once.
func TestLeadershipLostWhenRenewalsFail(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*memStore)
	}{
		{"server hangs", func(s *memStore) { s.setHang(true) }},
		{"server errors", func(s *memStore) { s.setFail(errors.New("injected: 500 internal error")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &memStore{}
				c := run(t, &memLock{id: "a", store: s}, nil)
				time.Sleep(20*time.Second + time.Millisecond) // last renewal sent at 20s
				tc.fault(s)
				err := c.wait()
				lostAfter := time.Since(c.t0)
				if !errors.Is(err, election.ErrLeadershipLost) {
					t.Fatalf("RunContext = %v, want ErrLeadershipLost", err)
				}
				if want := 20*time.Second + renew; lostAfter != want {
					t.Errorf("leadership lost at %v, want %v (last renewal + RenewDeadline)", lostAfter, want)
				}
				if c.le.IsLeader() {
					t.Error("IsLeader after leadership was lost")
				}
				synctest.Wait()
				if diff := cmp.Diff([]string{"0s leader a", "0s started", "30s stop closed", "30s stopped"}, sorted(c.log())); diff != "" {
					t.Errorf("callbacks (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// IsLeader turns false at the renew deadline even while a renewal hangs.
func TestIsLeaderFalseAtRenewDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.RequestTimeout = 9 * time.Second
		})
		synctest.Wait()
		s.setHang(true)
		time.Sleep(renew - time.Millisecond)
		if !c.le.IsLeader() {
			t.Fatal("not leader before the renew deadline")
		}
		time.Sleep(time.Millisecond)
		if c.le.IsLeader() {
			t.Fatal("still leader at the renew deadline")
		}
	})
}

// OnNewLeader reports every change of holder, in order, even when the
// callback is slow, and not the empty holder of a released lock.
func TestOnNewLeaderOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		s.set(rl.LeaderElectionRecord{HolderIdentity: "x", LeaseDurationSeconds: 60})
		var mu sync.Mutex
		var got []string
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.Callbacks.OnNewLeader = func(id string) {
				time.Sleep(7 * time.Second)
				mu.Lock()
				got = append(got, id)
				mu.Unlock()
			}
		})
		for _, h := range []string{"y", "z", ""} {
			time.Sleep(5 * time.Second)
			s.set(rl.LeaderElectionRecord{HolderIdentity: h, LeaseDurationSeconds: 60})
		}
		time.Sleep(5 * time.Second)
		if !c.le.IsLeader() {
			t.Fatal("a did not take the released lock at its next try: the slow callback held up the elector")
		}
		time.Sleep(time.Minute)
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]string{"x", "y", "z", "a"}, got); diff != "" {
			t.Errorf("OnNewLeader identities (-want +got):\n%s", diff)
		}
	})
}

// sorted returns the callback log in a canonical order: callbacks that run
// in different goroutines at the same fake instant have no fixed order.
func sorted(events []string) []string {
	out := append([]string(nil), events...)
	sort.Strings(out)
	return out
}

// precisionLock is a memLock that stores times to a given precision.
type precisionLock struct {
	*memLock
	p time.Duration
}

func (l precisionLock) TimePrecision() time.Duration { return l.p }

// On a lock that stores whole seconds, every renewal stores new bytes: the
// leader renews at most once per second, so followers see each renewal, and
// its renew deadline counts from the send of the last one. On a Lease
// (microseconds) it renews every RetryPeriod.
func TestRenewDeadlineOnCoarseLock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		precision time.Duration
		calls     int           // by 1.9s: get, create, updates
		lostAt    time.Duration // the last renewal sent + 2s
	}{
		{"whole seconds", time.Second, 3, 3 * time.Second},
		{"microseconds", time.Microsecond, 6, 3600 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				if now := time.Now(); !now.Equal(now.Truncate(time.Second)) {
					t.Fatalf("the bubble's clock starts at %v, not on a whole second", now)
				}
				s := &memStore{}
				var renewals []time.Time
				s.onWrite = func(rec rl.LeaderElectionRecord) { renewals = append(renewals, rec.RenewTime.Time) }
				c := run(t, precisionLock{&memLock{id: "a", store: s}, tc.precision}, func(cfg *election.LeaderElectionConfig) {
					cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 4*time.Second, 2*time.Second, 400*time.Millisecond
				})
				time.Sleep(1900 * time.Millisecond)
				if got := len(s.takeCalls()); got != tc.calls {
					t.Fatalf("%d calls by 1.9s, want %d", got, tc.calls)
				}
				for i := 1; i < len(renewals); i++ {
					if renewals[i].Truncate(tc.precision).Equal(renewals[i-1].Truncate(tc.precision)) {
						t.Errorf("writes %d and %d store the same time %v", i-1, i, renewals[i].Truncate(tc.precision))
					}
				}
				s.setHang(true)
				if err := c.wait(); !errors.Is(err, election.ErrLeadershipLost) {
					t.Fatalf("RunContext = %v, want ErrLeadershipLost", err)
				}
				if lost := time.Since(c.t0); lost != tc.lostAt {
					t.Errorf("leadership lost at %v, want %v", lost, tc.lostAt)
				}
			})
		})
	}
}
