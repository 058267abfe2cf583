package watchloop

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// Clock is the source of time of a Loop: the election package's Clock,
// whose timers have the same methods.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// Loop keeps one watch open until its context ends or the server forbids
// the watch. A watch that ran for at least RetryPeriod is reopened at once
// when it ends: the server ends healthy ones. One that ended sooner (an
// error, a proxy that does not stream, 410 Gone on every try) is reopened
// after a backoff that doubles from RetryPeriod up to MaxWait, with jitter,
// or as long as the server's Retry-After asks (up to MaxWait): a watch
// that fails at once must not become a hot loop. A watch that delivers
// nothing for Idle is taken to be stuck and restarted.
type Loop struct {
	Clock        Clock
	JitterFactor float64
	// Idle is how long a watch may go without calling touch.
	Idle time.Duration
	// RetryPeriod is read before each watch; 0 ends the loop (the shared
	// watch: no follower left).
	RetryPeriod func() time.Duration
	// Watch runs one watch until it ends, and returns what ended it. It
	// calls touch at each event, which restarts the idle timer.
	Watch func(ctx context.Context, touch func()) error
	// Ended, when set, is called after each watch, before anything else
	// (even when the loop's context has ended): idle tells a watch cut
	// short for its silence.
	Ended func(err error, idle bool)
	// Forbidden is called when the server forbids the watch; the loop then
	// ends, and the caller polls instead.
	Forbidden func(err error)
	// Again, when set, is called when the loop will watch again after wait
	// (0: at once): for logs and metrics.
	Again func(err error, wait time.Duration)
	// Begin, when set, is called before each watch and each wait with a
	// cancel that ends it early; false ends the loop. With Kicked, it lets
	// another watch take over (the follower's move to the shared watch).
	Begin func(cancel context.CancelFunc) bool
	// Kicked, when set, reports (and forgets) whether the watch or wait
	// just ended was ended by a cancel given to Begin: the loop then
	// watches again at once, with the backoff as it was.
	Kicked func() bool
}

// Run runs the loop until ctx ends, the server forbids the watch, or
// RetryPeriod or Begin end it.
func (l *Loop) Run(ctx context.Context) {
	var backoff time.Duration
	for {
		retry := l.RetryPeriod()
		if retry <= 0 {
			return
		}
		if backoff == 0 {
			backoff = retry
		}
		start := l.Clock.Now()
		ok, err := l.watchOnce(ctx)
		if !ok {
			return
		}
		if l.kicked() {
			continue
		}
		if k8sapi.IsForbidden(err) {
			l.Forbidden(err)
			return
		}
		if l.Clock.Now().Sub(start) >= retry {
			backoff = retry
			l.again(err, 0)
			continue
		}
		wait := RetryAfter(Jitter(backoff, l.JitterFactor), err, MaxWait(retry))
		l.again(err, wait)
		slept, ok := l.wait(ctx, wait)
		if !ok {
			return
		}
		if !slept && l.kicked() {
			continue
		}
		backoff = min(2*backoff, MaxWait(retry))
	}
}

// watchOnce runs one watch, restarted by the idle timer when it goes
// silent; false when the loop is to end.
func (l *Loop) watchOnce(ctx context.Context) (bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l.Begin != nil && !l.Begin(cancel) {
		return false, nil
	}
	var idled atomic.Bool
	cut := func() {
		idled.Store(true)
		cancel()
	}
	idle := l.Clock.AfterFunc(l.Idle, cut)
	err := l.Watch(wctx, func() {
		idle.Stop()
		idle = l.Clock.AfterFunc(l.Idle, cut)
	})
	idle.Stop()
	cancel()
	if l.Ended != nil {
		l.Ended(err, idled.Load() && ctx.Err() == nil)
	}
	return ctx.Err() == nil, err
}

// wait waits d; slept is false when a cancel given to Begin cut it short,
// ok false when the loop is to end.
func (l *Loop) wait(ctx context.Context, d time.Duration) (slept, ok bool) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l.Begin != nil && !l.Begin(cancel) {
		return false, false
	}
	t := l.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		slept = true
	case <-sctx.Done():
	}
	return slept, ctx.Err() == nil
}

func (l *Loop) kicked() bool { return l.Kicked != nil && l.Kicked() }

func (l *Loop) again(err error, wait time.Duration) {
	if l.Again != nil {
		l.Again(err, wait)
	}
}
