package election

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// The shared watch. A process that runs many electors (sharded work: one
// lock per shard) would otherwise hold one watch stream, one goroutine for
// it and one in the HTTP/2 transport for every lock. When the electors of
// one process follow locks of the same kind in the same namespace through
// the same client (and clock), and at least two distinct lock objects are
// among them, one watch of the namespace's collection follows them all:
// its events are handed, by object name, to the electors of that name, on
// the hub's goroutine. Such a follower needs no goroutine of its own while
// it waits; its timers are runtime timers.
//
// The shared stream keeps what each elector's own watch does: every
// record is seen (the elector's callback is the same), deletions too;
// the stream resumes from the last resourceVersion it saw, restarts from
// the current state after 410 Gone, is reopened at once after a long run
// and after a backoff (RetryPeriod doubling to the longer of 30s and
// 8·RetryPeriod, the shortest RetryPeriod among its electors; Retry-After
// honoured up to as long) after a
// short one, and is restarted when it delivers nothing for watchIdle. An
// elector counts its follower as live (so it does not poll) while the
// stream runs and has delivered an event (of any object: it streams),
// from when it joins; a watch of its own waits for an event of its object
// (the first, the current state, comes at once). When the server forbids the collection watch
// (a Role that names its objects), every elector of the hub goes back to
// a watch of its own object, which falls back to polling in turn if that
// is forbidden too. A lone lock always watches its own object.
//
// Safety does not rest on the watch: an elector writes only after a fresh
// read, conditionally, so an event missed in a hand-over between the two
// kinds of watch costs at most a read at the expiry, as a missed event of
// a watch of its own does.

// hubKey is what electors must share to share a watch.
type hubKey struct {
	client    *k8sapi.Client
	resource  k8sapi.Resource
	namespace string
	clock     Clock
}

// hubs holds the hubs that have members.
var hubs = struct {
	mu sync.Mutex
	m  map[hubKey]*watchHub // guarded by mu
}{m: map[hubKey]*watchHub{}}

// watchHub is the shared watch of one key.
type watchHub struct {
	key hubKey

	mu        sync.Mutex
	members   map[*follower]struct{}            // guarded by mu: every running follower of the key
	names     map[string]int                    // guarded by mu: members per lock name
	shared    map[string]map[*follower]struct{} // guarded by mu: followers served by the stream, by name
	nshared   int                               // guarded by mu: followers in shared
	forbidden bool                              // guarded by mu: the server refused the collection watch
	gen       uint64                            // guarded by mu: the current stream; an older one delivers nothing
	up        bool                              // guarded by mu: the current stream has delivered an event
	stopRun   context.CancelFunc                // guarded by mu: ends the current stream; nil when none runs
}

// joinHub makes f a member of its key's hub, made if need be. It returns
// nil when the clock cannot be a map key (a clock of an incomparable
// type): such electors watch on their own.
func joinHub(t lockwatch.Target, clock Clock, f *follower) *watchHub {
	if clock == nil || !reflect.TypeOf(clock).Comparable() {
		return nil
	}
	key := hubKey{client: t.Client, resource: t.Resource, namespace: t.Namespace, clock: clock}
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	h := hubs.m[key]
	if h == nil {
		h = &watchHub{key: key, members: map[*follower]struct{}{}, names: map[string]int{}, shared: map[string]map[*follower]struct{}{}}
		hubs.m[key] = h
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.members[f] = struct{}{}
	h.names[f.name]++
	return h
}

// shareableLocked reports whether f should be served by the stream.
func (h *watchHub) shareableLocked(f *follower) bool {
	return !h.forbidden && !f.stopped && len(h.names) >= 2
}

// share puts f on the shared stream when it should be there, and tells
// the members that watch on their own to move over; false when f is to
// watch on its own.
func (h *watchHub) share(f *follower) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.shareableLocked(f) {
		return false
	}
	h.addSharedLocked(f)
	for g := range h.members {
		if !g.shared && h.shareableLocked(g) {
			g.kicked = true
			if g.kick != nil {
				g.kick()
			}
		}
	}
	return true
}

// addSharedLocked puts f on the stream, starting the stream if none runs.
func (h *watchHub) addSharedLocked(f *follower) {
	byName := h.shared[f.name]
	if byName == nil {
		byName = map[*follower]struct{}{}
		h.shared[f.name] = byName
	}
	byName[f] = struct{}{}
	f.shared = true
	f.live.Store(h.up)
	h.nshared++
	if h.stopRun == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.gen++
		h.stopRun = cancel
		go h.run(ctx, h.gen)
	}
}

// ownWatch is asked by a follower's own watch before each watch and wait:
// false when f has just been put on the shared stream (its goroutine then
// returns); otherwise cancel is what a kick calls.
func (h *watchHub) ownWatch(f *follower, cancel context.CancelFunc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	f.kicked = false
	if h.shareableLocked(f) {
		f.kick = nil
		h.addSharedLocked(f)
		return false
	}
	f.kick = cancel
	return true
}

// takeKick reports, and forgets, whether f's own watch was ended by a
// kick.
func (h *watchHub) takeKick(f *follower) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := f.kicked
	f.kicked, f.kick = false, nil
	return k
}

// leave takes f out of the hub: no record is delivered to it once leave
// has returned. The last member out removes the hub; the stream stops
// when no follower is left on it.
func (h *watchHub) leave(f *follower) {
	hubs.mu.Lock()
	defer hubs.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	f.stopped = true
	if _, ok := h.members[f]; !ok {
		return
	}
	delete(h.members, f)
	if h.names[f.name]--; h.names[f.name] == 0 {
		delete(h.names, f.name)
	}
	if f.shared {
		delete(h.shared[f.name], f)
		if len(h.shared[f.name]) == 0 {
			delete(h.shared, f.name)
		}
		f.shared = false
		h.nshared--
		f.live.Store(false)
	}
	if h.nshared == 0 && h.stopRun != nil {
		h.stopRun()
		h.stopRun = nil
		h.gen++
		h.up = false
	}
	if len(h.members) == 0 && hubs.m[h.key] == h {
		delete(hubs.m, h.key)
	}
}

// run keeps the shared stream open until ctx ends (no follower left on
// it) or the server forbids it.
func (h *watchHub) run(ctx context.Context, gen uint64) {
	var at watchloop.Position
	log := slog.Default()
	var restarted []*LeaderElector
	loop := watchloop.Loop{
		Clock:        loopClock{h.key.clock},
		JitterFactor: JitterFactor,
		Idle:         watchIdle,
		RetryPeriod: func() time.Duration {
			var retry time.Duration
			retry, log = h.settings(gen)
			return retry
		},
		Watch:     func(ctx context.Context, touch func()) error { return h.stream(ctx, gen, &at, touch) },
		Ended:     func(error, bool) { restarted = h.ended(gen) },
		Forbidden: func(err error) { h.forbid(gen, log, err) },
		Again: func(err error, wait time.Duration) {
			for _, le := range restarted {
				le.watchRestarted(err)
			}
			if wait == 0 {
				log.Debug("election: shared watch of the locks ended; watching again", "err", err)
				return
			}
			log.Debug("election: shared watch of the locks ended at once; watching again after a backoff", "err", err, "backoff", wait)
		},
	}
	loop.Run(ctx)
}

// settings returns the shortest RetryPeriod among the stream's followers
// (0 when none is left) and a logger for the stream.
func (h *watchHub) settings(gen uint64) (time.Duration, *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var retry time.Duration
	log := slog.Default()
	if h.gen != gen {
		return 0, log
	}
	for _, byName := range h.shared {
		for f := range byName {
			if retry == 0 || f.le.config.RetryPeriod < retry {
				retry = f.le.config.RetryPeriod
				log = f.le.config.Logger
			}
		}
	}
	return retry, log.With("namespace", h.key.namespace, "resource", h.key.resource.String(), "sharedWatch", true)
}

// stream runs one watch of the collection from at, delivering each
// event to the followers of its object, and returns the error that ended
// it. touch is called at each event, bookmarks included.
func (h *watchHub) stream(ctx context.Context, gen uint64, at *watchloop.Position, touch func()) error {
	open := func(ctx context.Context, opts k8sapi.WatchOptions) (*k8sapi.Watcher, error) {
		return h.key.client.WatchAll(ctx, h.key.resource, h.key.namespace, opts)
	}
	return watchloop.Read(ctx, at, rl.WatchTimeout, open, func(e k8sapi.WatchEvent, _, _ string) {
		touch()
		h.streaming(gen)
		switch {
		case e.Object == nil:
		case e.Type == k8sapi.Added, e.Type == k8sapi.Modified, e.Type == k8sapi.Deleted:
			h.deliver(gen, e.Object, e.Type == k8sapi.Deleted)
		}
	})
}

// deliver hands an event's object to the followers of its name: its
// record, or a deletion. An object whose record cannot be read at all
// (not an invalid record: that is delivered, as held by an unknown
// holder) is skipped for that follower, which then learns of it by its
// next read: see resourcelock's watchRecord, which skips it likewise.
func (h *watchHub) deliver(gen uint64, obj *k8sapi.Object, deleted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		return
	}
	for f := range h.shared[obj.Name()] {
		if deleted {
			f.le.watched(f, nil, nil)
			continue
		}
		rec, raw, err := f.decode(obj)
		if err != nil && !errors.Is(err, rl.ErrInvalidRecord) {
			f.le.log.Debug("election: shared watch: the lock's object does not read", "err", err)
			continue
		}
		f.le.watched(f, rec, raw)
	}
}

// streaming notes that the stream delivers: its followers (and those that
// join while it runs) see every change from now on, and need not poll.
func (h *watchHub) streaming(gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen || h.up {
		return
	}
	h.up = true
	for _, byName := range h.shared {
		for f := range byName {
			f.live.Store(true)
		}
	}
}

// ended marks the followers of the stream not live, and returns their
// electors, whose metrics count the restart.
func (h *watchHub) ended(gen uint64) []*LeaderElector {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		return nil
	}
	h.up = false
	var les []*LeaderElector
	for _, byName := range h.shared {
		for f := range byName {
			f.live.Store(false)
			les = append(les, f.le)
		}
	}
	return les
}

// forbid gives up the shared stream for good: its followers go back to
// watches of their own objects.
func (h *watchHub) forbid(gen uint64, log *slog.Logger, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		return
	}
	log.Info("election: may not watch the locks' collection; each lock watches its own object instead", "err", err)
	h.forbidden = true
	h.stopRun = nil
	h.gen++
	h.up = false
	for name, byName := range h.shared {
		for f := range byName {
			f.shared = false
			if !f.stopped {
				f.startOwn()
			}
		}
		delete(h.shared, name)
	}
	h.nshared = 0
}
