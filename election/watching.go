package election

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// follower watches the lock for a candidate: while it does not lead, every
// record it sees is observed; while it leads, a deletion or a record this
// elector did not write is urgent. It watches the lock object on its own
// (a goroutine and a stream of its own) or, when other locks of the
// process share its client, namespace and kind, through the shared watch
// of their collection (see sharedwatch.go): then it has no goroutine.
type follower struct {
	changed chan struct{} // buffered(1): a record was observed
	urgent  chan struct{} // buffered(1): the leader should renew now
	live    atomic.Bool   // the watch is established
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	le     *LeaderElector
	ctx    context.Context  // the run's, ended by cancel
	w      rl.RecordWatcher // the lock, for a watch of its own
	hub    *watchHub        // nil when the lock cannot share a watch
	name   string           // the lock object's name, for the hub
	decode func(*k8sapi.Object) (*rl.LeaderElectionRecord, []byte, error)

	// Guarded by hub.mu.
	shared  bool               // served by the hub's stream
	stopped bool               // stop has begun: no new goroutine
	kick    context.CancelFunc // ends the own watch under way, so that it moves to the hub
	kicked  bool               // kick was called since the own watch last checked
}

// watching reports whether the follower currently sees every change.
func (f *follower) watching() bool { return f != nil && f.live.Load() }

// stop ends the watch and waits for its goroutine; no record is observed
// after it returns.
func (f *follower) stop() {
	if f.hub != nil {
		f.hub.leave(f)
	}
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// lockHooks are what package resourcelock tells about its own single
// locks: the watch they can share, the record they last saw.
func lockHooks() lockwatch.Hooks[*rl.LeaderElectionRecord] {
	return lockwatch.Get[*rl.LeaderElectionRecord]()
}

// startFollowing watches the lock when it can be watched; the follower it
// returns never signals otherwise.
func (le *LeaderElector) startFollowing(ctx context.Context) *follower {
	f := &follower{changed: make(chan struct{}, 1), urgent: make(chan struct{}, 1), le: le}
	w, ok := le.config.Lock.(rl.RecordWatcher)
	if !ok {
		return f
	}
	f.w = w
	f.ctx, f.cancel = context.WithCancel(ctx)
	if t, decode, ok := lockHooks().Shared(w); ok {
		f.name, f.decode = t.Name, decode
		f.hub = joinHub(t, le.config.Clock, f) // nil when the clock cannot be a key
	}
	if f.hub == nil || !f.hub.share(f) {
		f.startOwn()
	}
	return f
}

// startOwn starts the follower's own watch.
func (f *follower) startOwn() {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.le.follow(f.ctx, f.w, f)
	}()
}

// watchIdle is how long a watch may deliver nothing before it is taken to
// be stuck and restarted: the server ends a healthy one sooner.
const watchIdle = rl.WatchTimeout + rl.WatchTimeout/10

// loopClock is a Clock as the watch loop takes it.
type loopClock struct{ c Clock }

func (l loopClock) Now() time.Time                           { return l.c.Now() }
func (l loopClock) NewTimer(d time.Duration) watchloop.Timer { return l.c.NewTimer(d) }
func (l loopClock) AfterFunc(d time.Duration, f func()) watchloop.Timer {
	return l.c.AfterFunc(d, f)
}

// lockWatch is the watch loop of a lock's own object, for a follower or an
// observer that retries every retry: observe gets each record it delivers.
func lockWatch(clock Clock, retry time.Duration, w rl.RecordWatcher, observe func(*rl.LeaderElectionRecord, []byte)) watchloop.Loop {
	return watchloop.Loop{
		Clock:        loopClock{clock},
		JitterFactor: JitterFactor,
		Idle:         watchIdle,
		RetryPeriod:  func() time.Duration { return retry },
		Watch: func(ctx context.Context, touch func()) error {
			return w.WatchRecord(ctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
				touch()
				observe(rec, raw)
			})
		},
	}
}

// follow keeps a watch on the lock open (see watchloop.Loop: backoff,
// Retry-After, idle restart) and records every record it sees as observed
// now. When the server forbids the watch it gives up: the candidate polls
// every RetryPeriod instead, as it does while a watch waits to be
// reopened. When the lock's watch can be shared with other locks of the
// process, the goroutine hands the lock over to the shared watch and
// returns.
func (le *LeaderElector) follow(ctx context.Context, w rl.RecordWatcher, f *follower) {
	loop := lockWatch(le.config.Clock, le.config.RetryPeriod, w, func(rec *rl.LeaderElectionRecord, raw []byte) {
		le.watched(f, rec, raw)
	})
	loop.Ended = func(error, bool) { f.live.Store(false) }
	loop.Forbidden = func(err error) {
		le.log.Warn("election: may not watch the lock; polling it every RetryPeriod instead", "err", err)
	}
	loop.Again = func(err error, wait time.Duration) {
		le.watchRestarted(err)
		if wait == 0 {
			le.log.Debug("election: watch of the lock ended; watching again", "err", err)
			return
		}
		le.log.Debug("election: watch of the lock ended at once; watching again after a backoff", "err", err, "backoff", wait)
	}
	if f.hub != nil {
		// The shared watch can take the lock over: before each watch or
		// wait, and by ending the one under way (a kick).
		loop.Begin = func(cancel context.CancelFunc) bool { return f.hub.ownWatch(f, cancel) }
		loop.Kicked = func() bool { return f.hub.takeKick(f) }
	}
	loop.Run(ctx)
}

// watchRestarted reports a watch that ended to Metrics.
func (le *LeaderElector) watchRestarted(err error) {
	if m := le.config.Metrics; m != nil && m.WatchRestart != nil {
		m.WatchRestart(err)
	}
}

// watched records what the watch delivered now: rec, or nil for a
// deletion. A follower observes it; for the leader, a deletion or a record
// of another leadership is urgent. It never blocks.
func (le *LeaderElector) watched(f *follower, rec *rl.LeaderElectionRecord, raw []byte) {
	now := le.config.Clock.Now()
	le.mu.Lock()
	le.observed.event(rec, raw)
	leading := le.lead.leading
	// A record of this leadership (a renewal's echo, however
	// late) is not news; a deletion or any other record is.
	urgent := leading && (rec == nil || rec.HolderIdentity != le.config.Lock.Identity() || rec.LeaderTransitions != le.lead.term)
	switch {
	case leading && !urgent:
		urgent = le.transferRequestedLocked(*rec)
	case leading:
	case rec == nil:
		le.observed.goneAt(now, true)
	default:
		le.observeLocked(rec, raw, now)
	}
	le.mu.Unlock()
	f.live.Store(true)
	signal := f.changed
	if urgent {
		signal = f.urgent
	}
	select {
	case signal <- struct{}{}:
	default:
	}
}
