// Package fakeclock is an election.Clock for tests: its time moves only
// when the test says so (Advance), and a test can wait until the code under
// test has set a timer (WaitTimer) before moving it.
//
// It is for tests that cannot run in a testing/synctest bubble (they run a
// child process, say); inside a bubble the real clock is already fake.
package fakeclock

import (
	"sync"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
)

// Clock is an election.Clock that moves only when told. Its zero value is
// not usable: make one with New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time     // guarded by mu
	timers []*timer      // guarded by mu: the pending ones, in the order set
	added  chan struct{} // guarded by mu: closed and replaced when a timer is set
}

// timer is a pending or fired timer of a Clock.
type timer struct {
	clock *Clock
	when  time.Time
	d     time.Duration  // as asked for, for WaitTimer
	c     chan time.Time // nil for an AfterFunc timer
	f     func()
}

var _ election.Clock = (*Clock)(nil)

// New returns a clock that reads now until it is advanced.
func New(now time.Time) *Clock {
	return &Clock{now: now, added: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer whose channel receives the clock's time once the
// clock has moved d past now; at once for d ≤ 0.
func (c *Clock) NewTimer(d time.Duration) election.Timer {
	return c.add(&timer{d: d, c: make(chan time.Time, 1)})
}

// AfterFunc calls f in its own goroutine once the clock has moved d past
// now; at once for d ≤ 0. The timer's C is nil.
func (c *Clock) AfterFunc(d time.Duration, f func()) election.Timer {
	return c.add(&timer{d: d, f: f})
}

func (c *Clock) add(t *timer) *timer {
	c.mu.Lock()
	t.clock = c
	t.when = c.now.Add(t.d)
	c.timers = append(c.timers, t)
	close(c.added)
	c.added = make(chan struct{})
	c.mu.Unlock()
	if t.d <= 0 {
		c.Advance(0)
	}
	return t
}

// Advance moves the clock by d and fires the timers due: a channel timer's
// channel receives the new time, an AfterFunc timer's function starts in
// its own goroutine.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*timer
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.when.After(c.now) {
			kept = append(kept, t)
		} else {
			due = append(due, t)
		}
	}
	clear(c.timers[len(kept):])
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

// WaitTimer waits until a timer set for d (as NewTimer or AfterFunc was
// given it) is pending, and fails the test if none is within 30 seconds
// of real time.
func (c *Clock) WaitTimer(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		added := c.added
		for _, tm := range c.timers {
			if tm.d == d {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		select {
		case <-added:
		case <-deadline:
			t.Fatalf("fakeclock: no timer of %s was set", d)
		}
	}
}

// Waiting is the number of channel timers pending: the goroutines that
// wait on them have nothing to do until the clock moves (AfterFunc timers,
// which bound work under way, are not counted).
func (c *Clock) Waiting() int {
	return c.DueWithin(-1)
}

// DueWithin is the number of channel timers pending that are due once the
// clock has moved d; all of them for a negative d.
func (c *Clock) DueWithin(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.c != nil && (d < 0 || !t.when.After(c.now.Add(d))) {
			n++
		}
	}
	return n
}

// C returns the channel the timer fires on; nil for an AfterFunc timer.
func (t *timer) C() <-chan time.Time { return t.c }

// Stop keeps the timer from firing: false if it has fired or was stopped.
func (t *timer) Stop() bool {
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
