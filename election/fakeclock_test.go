package election_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time    // guarded by mu
	timers []*fakeTimer // guarded by mu
}

type fakeTimer struct {
	clock *fakeClock
	when  time.Time
	c     chan time.Time
	f     func()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) election.Timer {
	return c.add(&fakeTimer{clock: c, c: make(chan time.Time, 1)}, d)
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) election.Timer {
	return c.add(&fakeTimer{clock: c, f: f}, d)
}

func (c *fakeClock) add(t *fakeTimer, d time.Duration) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.when = c.now.Add(d)
	c.timers = append(c.timers, t)
	return t
}

// advance moves the clock by d and fires the timers due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.when.After(c.now) {
			due = append(due, t)
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
	now := c.now
	c.mu.Unlock()
	for _, t := range due {
		if t.f != nil {
			go t.f()
		} else {
			t.c <- now
		}
	}
}

// waiting is the number of channel timers not yet fired: the elector waits
// on one between attempts (AfterFunc timers bound requests in flight).
func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.c != nil {
			n++
		}
	}
	return n
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// The elector takes all its time from the injected Clock: a follower takes
// an expired lock when the fake clock says the lease is over.
func TestInjectedClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := &memStore{}
	s.set(rl.LeaderElectionRecord{HolderIdentity: "old", LeaseDurationSeconds: 15})
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:          &memLock{id: "a", store: s},
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Clock:         clock,
		Logger:        quiet,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(<-chan struct{}) {},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- le.RunContext(ctx) }()

	// Step the fake clock 100ms at a time; the elector waits on its timers.
	waitTimer := func() {
		for clock.waiting() == 0 {
			runtime.Gosched() // until the elector waits on a timer
		}
	}
	var leadAt time.Duration
	for elapsed := time.Duration(0); elapsed < time.Minute; elapsed += 100 * time.Millisecond {
		waitTimer()
		if le.IsLeader() {
			leadAt = elapsed
			break
		}
		clock.advance(100 * time.Millisecond)
	}
	if leadAt < 15*time.Second || leadAt > 15*time.Second+4400*time.Millisecond {
		t.Errorf("took the lock after %v of fake time, want within [15s, 19.4s]", leadAt)
	}
	if rec := s.record(); rec.HolderIdentity != "a" || !rec.RenewTime.Equal(clock.Now()) {
		t.Errorf("record = %+v, want holder a renewed at the fake clock's now (%v)", rec, clock.Now())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RunContext = %v", err)
	}
	if err := le.RunContext(context.Background()); !errors.Is(err, election.ErrAlreadyRun) {
		t.Errorf("second RunContext = %v, want ErrAlreadyRun", err)
	}
}
