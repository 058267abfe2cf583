package election

import "time"

// Clock is the elector's source of time. Tests inject a fake one; nil in
// LeaderElectionConfig means the real clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer whose channel receives once, after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d. The returned
	// timer's C is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C delivers the time when the timer fires (nil for AfterFunc timers).
	C() <-chan time.Time
	// Stop prevents the timer from firing; false if it already fired or
	// was stopped.
	Stop() bool
}

// RealClock returns the Clock of package time: the one a nil Clock in
// LeaderElectionConfig or ObserverConfig stands for. Programs that time
// their own work around an elector (as the kubelect command times CMD's
// kill) take it from here, so that one Clock serves both.
func RealClock() Clock { return realClock{} }

// realClock is the Clock of package time.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
