package election

import (
	"context"
	"sync"
	"sync/atomic"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// follower watches the lock for a candidate that does not lead.
type follower struct {
	changed chan struct{} // buffered(1): a record was observed
	live    atomic.Bool   // the watch is established
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// watching reports whether the follower currently sees every change.
func (f *follower) watching() bool { return f != nil && f.live.Load() }

// stop ends the watch and waits for its goroutine.
func (f *follower) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// startFollowing watches the lock when it can be watched; the follower it
// returns never signals otherwise.
func (le *LeaderElector) startFollowing(ctx context.Context) *follower {
	f := &follower{changed: make(chan struct{}, 1)}
	w, ok := le.config.Lock.(rl.RecordWatcher)
	if !ok {
		return f
	}
	ctx, f.cancel = context.WithCancel(ctx)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		le.follow(ctx, w, f)
	}()
	return f
}

// follow keeps a watch on the lock open, resuming it after failures, and
// records every record it sees as observed now. When the server forbids
// the watch it gives up: the candidate polls instead.
func (le *LeaderElector) follow(ctx context.Context, w rl.RecordWatcher, f *follower) {
	for {
		err := w.WatchRecord(ctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
			now := le.config.Clock.Now()
			le.mu.Lock()
			if !le.leading {
				le.observeLocked(*rec, raw, now)
			}
			le.mu.Unlock()
			f.live.Store(true)
			select {
			case f.changed <- struct{}{}:
			default:
			}
		})
		f.live.Store(false)
		if ctx.Err() != nil {
			return
		}
		if k8sapi.IsForbidden(err) {
			le.log.Warn("election: may not watch the lock; polling it every RetryPeriod instead", "err", err)
			return
		}
		le.log.Debug("election: watch of the lock ended; watching again", "err", err)
		if !le.sleep(ctx, le.config.RetryPeriod) {
			return
		}
	}
}
