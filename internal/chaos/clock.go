package chaos

import (
	"math"
	"time"

	"github.com/kubelect/kubelect/election"
)

// skewedClock is a candidate's clock: it runs at rate times true time (the
// bubble's) and is set off from it by offset. Its timers are true-time
// timers scaled by 1/rate, rounded up, so that a timer for d never fires
// before d has passed on this clock.
type skewedClock struct {
	origin time.Time // true time at which this clock read origin+offset
	offset time.Duration
	rate   float64
}

var _ election.Clock = skewedClock{}

func (c skewedClock) Now() time.Time {
	elapsed := time.Since(c.origin)
	return c.origin.Add(c.offset + time.Duration(float64(elapsed)*c.rate))
}

// trueDuration is how long d on this clock takes in true time.
func (c skewedClock) trueDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(d)/c.rate)) + 1
}

// toTrue converts a duration measured on this clock to true time, rounded
// down: used for limits, where rounding up would hide a violation.
func (c skewedClock) toTrue(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.rate)
}

func (c skewedClock) NewTimer(d time.Duration) election.Timer {
	return timer{time.NewTimer(c.trueDuration(d))}
}

func (c skewedClock) AfterFunc(d time.Duration, f func()) election.Timer {
	return timer{time.AfterFunc(c.trueDuration(d), f)}
}

type timer struct{ t *time.Timer }

func (t timer) C() <-chan time.Time { return t.t.C }
func (t timer) Stop() bool          { return t.t.Stop() }
