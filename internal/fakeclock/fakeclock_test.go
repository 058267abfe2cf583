package fakeclock_test

import (
	"testing"
	"time"

	"github.com/kubelect/kubelect/internal/fakeclock"
)

var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// fired reports whether ch has received, without waiting.
func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-ch:
		return at, true
	default:
		return time.Time{}, false
	}
}

func TestTimerFiresWhenAdvancedPastIt(t *testing.T) {
	c := fakeclock.New(start)
	tm := c.NewTimer(10 * time.Second)
	c.Advance(10*time.Second - time.Nanosecond)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("fired before its time")
	}
	if got := c.Waiting(); got != 1 {
		t.Errorf("Waiting = %d, want 1", got)
	}
	c.Advance(time.Nanosecond)
	if at, ok := fired(tm.C()); !ok || !at.Equal(start.Add(10*time.Second)) {
		t.Fatalf("fired %v at %v, want at %v", ok, at, start.Add(10*time.Second))
	}
	if !c.Now().Equal(start.Add(10 * time.Second)) {
		t.Errorf("Now = %v", c.Now())
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer = true")
	}
	if got := c.Waiting(); got != 0 {
		t.Errorf("Waiting after firing = %d, want 0", got)
	}
}

func TestStop(t *testing.T) {
	c := fakeclock.New(start)
	tm := c.NewTimer(time.Second)
	if !tm.Stop() {
		t.Error("Stop of a pending timer = false")
	}
	if tm.Stop() {
		t.Error("second Stop = true")
	}
	c.Advance(time.Hour)
	if _, ok := fired(tm.C()); ok {
		t.Error("a stopped timer fired")
	}
}

func TestAfterFunc(t *testing.T) {
	c := fakeclock.New(start)
	done := make(chan time.Time, 1)
	tm := c.AfterFunc(time.Minute, func() { done <- c.Now() })
	if tm.C() != nil {
		t.Error("an AfterFunc timer has a channel")
	}
	if got := c.Waiting(); got != 0 {
		t.Errorf("Waiting counts an AfterFunc timer: %d", got)
	}
	c.Advance(time.Minute)
	if at := <-done; !at.Equal(start.Add(time.Minute)) {
		t.Errorf("f ran at %v", at)
	}
}

func TestZeroDurationFiresAtOnce(t *testing.T) {
	c := fakeclock.New(start)
	if _, ok := fired(c.NewTimer(0).C()); !ok {
		t.Error("NewTimer(0) did not fire at once")
	}
	done := make(chan struct{})
	c.AfterFunc(-time.Second, func() { close(done) })
	<-done
}

func TestDueWithin(t *testing.T) {
	c := fakeclock.New(start)
	c.NewTimer(time.Second)
	c.NewTimer(time.Minute)
	c.AfterFunc(time.Second, func() {})
	if got := c.DueWithin(time.Second); got != 1 {
		t.Errorf("DueWithin(1s) = %d, want 1", got)
	}
	if got, all := c.DueWithin(time.Hour), c.Waiting(); got != 2 || all != 2 {
		t.Errorf("DueWithin(1h) = %d, Waiting = %d; want 2, 2", got, all)
	}
}

// WaitTimer returns once the code under test, on another goroutine, has
// set a timer of that duration, and not for a timer of another.
func TestWaitTimer(t *testing.T) {
	c := fakeclock.New(start)
	c.NewTimer(time.Second)
	set := make(chan struct{})
	go func() {
		<-set
		c.NewTimer(3 * time.Second)
	}()
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		c.WaitTimer(t, 3*time.Second)
	}()
	select {
	case <-returned:
		t.Fatal("WaitTimer returned before a timer of 3s was set")
	case <-time.After(10 * time.Millisecond):
	}
	close(set)
	<-returned
}
