package watchloop

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// stepClock is a Clock that moves only by the waits of the loop: a timer
// fires at once, moving the time to its end, unless still is set;
// AfterFunc timers never fire.
type stepClock struct {
	now   time.Time
	still bool
}

type firedTimer struct{ c chan time.Time }

func (t firedTimer) C() <-chan time.Time { return t.c }
func (t firedTimer) Stop() bool          { return false }

func (c *stepClock) Now() time.Time { return c.now }

func (c *stepClock) NewTimer(d time.Duration) Timer {
	t := firedTimer{make(chan time.Time, 1)}
	if !c.still {
		c.now = c.now.Add(d)
		t.c <- c.now
	}
	return t
}

func (c *stepClock) AfterFunc(time.Duration, func()) Timer { return firedTimer{} }

// waits runs a loop whose watches each last ran[i] and end with errs[i],
// and returns the waits the loop chose after each (0: at once).
func waits(t *testing.T, retry time.Duration, ran []time.Duration, errs []error) []time.Duration {
	t.Helper()
	clock := &stepClock{now: time.Unix(0, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []time.Duration
	n := 0
	l := Loop{
		Clock:       clock,
		Idle:        time.Hour,
		RetryPeriod: func() time.Duration { return retry },
		Watch: func(context.Context, func()) error {
			clock.now = clock.now.Add(ran[n])
			err := errs[n]
			n++
			return err
		},
		Forbidden: func(error) { t.Error("Forbidden called") },
		Again: func(_ error, wait time.Duration) {
			got = append(got, wait)
			if len(got) == len(ran) {
				cancel()
			}
		},
	}
	l.Run(ctx)
	return got
}

func eq(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A watch that ends at once backs off, doubling from RetryPeriod up to
// MaxWait; one that ran for a RetryPeriod is reopened at once and resets
// the backoff.
func TestBackoffDoublesAndResets(t *testing.T) {
	fail := errors.New("refused")
	ran := []time.Duration{0, 0, 0, 0, 0, 0, 0, time.Second, 0}
	errs := make([]error, len(ran))
	for i := range errs {
		errs[i] = fail
	}
	errs[7] = io.EOF
	got := waits(t, time.Second, ran, errs)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 0, 1}
	for i := range want {
		want[i] *= time.Second
	}
	// JitterFactor 0: the waits are exact.
	if !eq(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

// The disagreement the watch loops had: the elector's follower and the
// shared watch cut Retry-After at 30s, the Observer at
// max(8·RetryPeriod, 30s). The one rule now: Retry-After is honoured up to
// MaxWait, the ceiling of the loop's own backoff, so that a server that
// asks for a wait is never answered sooner than an unasked backoff would
// have waited. A wait there is no danger in (the watcher polls meanwhile,
// and writes only after reads of its own).
func TestRetryAfterHonouredUpToMaxWait(t *testing.T) {
	throttled := func(ra time.Duration) error {
		return &k8sapi.StatusError{Code: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: ra}
	}
	const retry = 10 * time.Second // MaxWait: 80s
	got := waits(t, retry, []time.Duration{0, 0, 0},
		[]error{throttled(60 * time.Second), throttled(5 * time.Minute), throttled(time.Second)})
	want := []time.Duration{60 * time.Second, 80 * time.Second, 40 * time.Second}
	if !eq(got, want) {
		t.Errorf("waits = %v, want %v (Retry-After up to MaxWait, never below the backoff)", got, want)
	}
}

// A forbidden watch ends the loop: the watcher polls instead.
func TestForbiddenEndsLoop(t *testing.T) {
	clock := &stepClock{now: time.Unix(0, 0)}
	watches, forbidden := 0, 0
	l := Loop{
		Clock:       clock,
		Idle:        time.Hour,
		RetryPeriod: func() time.Duration { return time.Second },
		Watch: func(context.Context, func()) error {
			watches++
			return &k8sapi.StatusError{Code: http.StatusForbidden, Reason: "Forbidden"}
		},
		Forbidden: func(error) { forbidden++ },
	}
	l.Run(context.Background())
	if watches != 1 || forbidden != 1 {
		t.Errorf("watches %d, Forbidden calls %d; want 1 and 1", watches, forbidden)
	}
}

// A kick (a cancel given to Begin) ends the wait and reopens the watch at
// once, without doubling the backoff.
func TestKickSkipsBackoff(t *testing.T) {
	clock := &stepClock{now: time.Unix(0, 0), still: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kicks, pending := 0, false
	var got []time.Duration
	l := Loop{
		Clock:       clock,
		Idle:        time.Hour,
		RetryPeriod: func() time.Duration { return time.Second },
		Watch:       func(context.Context, func()) error { return io.ErrUnexpectedEOF },
		Begin: func(c context.CancelFunc) bool {
			if len(got) == 1 && kicks == 0 { // the first wait is kicked
				kicks++
				pending = true
				c()
			}
			return true
		},
		Kicked: func() bool {
			k := pending
			pending = false
			return k
		},
		Again: func(_ error, wait time.Duration) {
			got = append(got, wait)
			if len(got) == 2 {
				cancel()
			}
		},
	}
	l.Run(ctx)
	if want := []time.Duration{time.Second, time.Second}; !eq(got, want) {
		t.Errorf("waits = %v, want %v (a kicked wait does not double the backoff)", got, want)
	}
}
