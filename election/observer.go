package election

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// ObserverConfig configures an Observer. Only Lock is required.
type ObserverConfig struct {
	// Lock is the lock object to follow. Give the observer a lock of its
	// own, not one a LeaderElector uses: a lock keeps the object it last
	// read for its next update, and the observer's reads would change what
	// the elector's updates are conditional on. The lock's identity is
	// never written (resourcelock.New wants one; any name will do).
	Lock rl.Interface

	// RetryPeriod is the interval between two reads while the lock is
	// polled: when it cannot be watched (MultiLock), when the server does
	// not allow the watch, and while a failed watch waits to be reopened.
	// Each interval gets up to JitterFactor of it added at random, as the
	// elector's do. A failed read is retried after the same interval, or
	// the server's Retry-After (up to the longer of 30s and
	// 8·RetryPeriod). Zero means DefaultRetryPeriod.
	RetryPeriod time.Duration
	// LeaseDuration is the lease counted for a record that names none: one
	// that does not decode, or a lock seen deleted before any of its
	// records was seen. Set it to the candidates' LeaseDuration. Zero
	// means DefaultLeaseDuration.
	LeaseDuration time.Duration
	// RequestTimeout bounds each read. Zero means max(1s, RetryPeriod).
	RequestTimeout time.Duration

	// OnChange, when set, is called with each change the observer sees
	// (each new Version), from one goroutine, in order. A slow OnChange
	// holds up later calls, never the observer: when more than 256
	// changes wait for it, the oldest are dropped (Version shows the gap).
	// No call is made after Run has returned; changes not yet delivered
	// then are dropped.
	OnChange func(Observation)

	// Logger receives the observer's log lines. Nil means slog.Default().
	Logger *slog.Logger
	// Clock is the source of time. Nil means the real clock.
	Clock Clock
}

// Observation is what an Observer has seen of its lock. The record's fields
// are as the holder wrote them; ObservedAt, Expiry and LastContact are
// times of the observer's own clock.
type Observation struct {
	// Version counts the changes the observer has seen: it grows by one
	// at each, and is 0 until the lock has first been read. A change is a
	// new record (new bytes: a renewal is one), the object appearing or
	// going, the lease running out unrenewed (Expired), or FencingToken
	// becoming known (or unknown) for the same record. Versions of
	// different Observers are unrelated.
	Version uint64

	// Exists reports whether the lock object exists. When it does not
	// but existed, the record fields keep the last record seen: the
	// electors count a deleted lock as its last record, unchanged since
	// it went, so its holder keeps its lease (and, if it still leads,
	// recreates the lock at once).
	Exists bool
	// Holder is the identity in the record: empty when the lock has been
	// released (or never existed), resourcelock.UnknownLeader when the
	// record does not decode or a MultiLock's two records disagree.
	Holder string
	// Term is the record's leaderTransitions: each new leadership writes
	// a higher one. It is no fencing token (anyone who writes the record
	// can set it lower, and a lock created again starts it at 0): see
	// FencingToken.
	Term int
	// FencingToken is the fencing token of the holder's leadership: the
	// resourceVersion of the write that began it, the token its
	// LeaderElector.FencingToken returns. It is not stored in the lock:
	// the observer knows it only when its watch delivered that very write
	// (the first event that showed this holder, term and acquire time,
	// right after an event it saw of the record before), and keeps it
	// while the same leadership goes on (the same holder, Term and
	// AcquireTime: renewals, transfer requests, the lock deleted and
	// recreated by its leader), across gaps in its watch too.
	//
	// It is 0 when the observer does not know it, never a guess: for a
	// leadership that began before the observer watched the lock, or that
	// it first saw in a state rather than a write (its first read, a read
	// while it polls, the current state a watch starts with: its first,
	// and one that starts over after 410 Gone, when writes may have been
	// missed), for a released lock, an unknown holder, a lock that tells
	// no resourceVersions (a MultiLock, which is polled; a lock of another
	// package) and a resourceVersion that is not a canonical positive
	// integer (see fencing.ParseToken).
	FencingToken fencing.Token
	// AcquireTime and RenewTime are as written in the record, by the
	// holder's clock: compare them with no local time.
	AcquireTime, RenewTime time.Time
	// LeaseDuration is the lease the record asks for (at most
	// MaxLeaseDuration), the config's LeaseDuration for a record that
	// names none, and 0 when no record has been seen.
	LeaseDuration time.Duration
	// ObservedAt is when, by the observer's clock, the record's bytes last
	// changed, or the object was seen gone. An observer counts a record it
	// has just started to follow as new.
	ObservedAt time.Time
	// Expiry is ObservedAt plus LeaseDuration: when the holder's lease
	// runs out unless the record changes, timed as the candidates time it.
	Expiry time.Time
	// Expired is set by the change the observer makes when Expiry passes
	// without a change of the record (and a holder, named or unknown, was
	// in it): the holder stopped renewing, or this observer stopped
	// hearing from the API server (see LastError).
	Expired bool

	// LastContact is when the API server last answered: a read, a watch
	// event, or a watch that the server ended normally. A watch that
	// delivers nothing leaves it as it was for up to
	// resourcelock.WatchTimeout. It is not a change: Version does not
	// count it.
	LastContact time.Time
	// LastError is the error of the last read or watch that failed, nil
	// once a later one succeeded. It is not a change: Version does not
	// count it.
	LastError error
}

// Leading reports whether, at now by the observer's clock, the record names
// a holder (not empty, not resourcelock.UnknownLeader) whose lease has not
// run out. It is what a candidate would conclude, no more: see Observer for
// what it does not promise.
func (ob Observation) Leading(now time.Time) bool {
	return ob.Holder != "" && ob.Holder != rl.UnknownLeader && now.Before(ob.Expiry)
}

// Observer follows one lock and tells who holds it, in which term, and
// when that changes, without ever writing to the lock: it only reads and
// watches, so it needs only the get and watch verbs (without watch, it
// polls). Services that route to the leader, dashboards and health checks
// use it. Run follows the lock; Current, Changed and Wait read what it saw
// from any goroutine. Its methods are safe for concurrent use.
//
// An Observer sees the lock, not the leader. What it reports is the last
// record written, as the watch or the last read delivered it:
//   - The observed holder may no longer act: a leader stops at its
//     RenewDeadline, before its lease runs out, and one that is paused,
//     cut off from the API server or crashed leaves no trace in the lock
//     until its lease has run out. Leading(now) means only that the
//     lease has not run out as this observer times it; the candidates
//     time it on their own clocks, from when they saw the record change
//     (perhaps a little earlier), so a new leader may take the lock
//     shortly before Expiry.
//   - A new leader shows only once its write reaches the observer: one
//     watch event later, or up to one polling interval when polling. A
//     polling observer can miss short-lived records altogether.
//   - Expiry and Expired are timed from when this observer saw the
//     record change, by its own clock, as the candidates time a lease; an
//     observer cut off from the API server sees every lease expire.
//
// So routing to the observed holder is a hint, not a fence. The leader
// itself must check its leadership (LeaderElector.IsLeader), and writes
// that must not come from two leaders should carry its fencing token
// (LeaderElector.FencingToken) to a system that rejects lower ones (see
// package fencing). Observation.FencingToken tells that token to others
// when this observer saw the write that began the leadership.
type Observer struct {
	config      ObserverConfig // validated, defaults filled in
	log         *slog.Logger
	ran         atomic.Bool
	deliverWake chan struct{} // buffered(1): OnChange has changes waiting

	mu        sync.Mutex
	observed  observedLock  // guarded by mu: the lock as last seen; a read that overlapped a watch event is dropped
	current   Observation   // guarded by mu: observed, as the API gives it
	changed   chan struct{} // guarded by mu: closed at the next change
	queue     []Observation // guarded by mu: changes waiting for OnChange
	loggedErr string        // guarded by mu: the last error logged, to log each once
	tokens    tokenTracker  // guarded by mu: what the watch showed of the leaderships' first writes
}

// NewObserver makes an Observer from cfg. The error wraps ErrInvalidConfig
// when cfg is not valid. Call Run to follow the lock.
func NewObserver(cfg ObserverConfig) (*Observer, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: observer: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case cfg.Lock == nil:
		return nil, invalid("Lock must not be nil")
	case cfg.RetryPeriod < 0:
		return nil, invalid("RetryPeriod must not be negative, got %v", cfg.RetryPeriod)
	case cfg.LeaseDuration < 0:
		return nil, invalid("LeaseDuration must not be negative, got %v", cfg.LeaseDuration)
	case cfg.LeaseDuration > MaxLeaseDuration:
		return nil, invalid("LeaseDuration (%v) must not be longer than MaxLeaseDuration (%v)", cfg.LeaseDuration, MaxLeaseDuration)
	case cfg.RequestTimeout < 0:
		return nil, invalid("RequestTimeout must not be negative, got %v", cfg.RequestTimeout)
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = max(time.Second, cfg.RetryPeriod)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &Observer{
		config:      cfg,
		log:         cfg.Logger.With("lock", cfg.Lock.Describe(), "observer", true),
		observed:    observedLock{lease: cfg.LeaseDuration},
		deliverWake: make(chan struct{}, 1),
		changed:     make(chan struct{}),
	}, nil
}

// Current returns the latest observation.
func (o *Observer) Current() Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current
}

// Changed returns a channel that is closed at the next change: a broadcast
// to every caller that holds it. Read Current after taking the channel, not
// before, or a change in between goes unnoticed.
func (o *Observer) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// Wait returns the current observation as soon as its Version is not known:
// at once when it already differs, else at the next change. It suits long
// polling: a client passes the Version it has (0 for none) and gets an
// answer when there is news; a Version from another Observer (a restarted
// server) is answered at once. When ctx ends first, Wait returns the
// current observation and ctx's error. Wait waits for changes even while
// Run is not running.
func (o *Observer) Wait(ctx context.Context, known uint64) (Observation, error) {
	for {
		o.mu.Lock()
		cur, changed := o.current, o.changed
		o.mu.Unlock()
		if cur.Version != known {
			return cur, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}

// observerFollow is the state of the observer's watch, shared between the
// goroutine that watches and Run's loop.
type observerFollow struct {
	live atomic.Bool   // the watch delivers events: no need to poll
	wake chan struct{} // buffered(1): an event arrived, or live changed
}

func (f *observerFollow) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run follows the lock until ctx ends, then returns ctx's error. It reads
// the lock once, then watches it when the lock is a
// resourcelock.RecordWatcher: a watch that ran for at least RetryPeriod is
// reopened at once when it ends, one that ended sooner after a backoff that
// doubles from RetryPeriod, with jitter, up to the longer of 30s and
// 8·RetryPeriod (or the server's Retry-After, up to as long), and one the
// server forbids is given up for polling. The observer reads the lock
// every RetryPeriod, with jitter, whenever no watch delivers (a lock
// without a watch, a forbidden watch, a watch being reopened or not yet
// delivering). A failed read is retried as long after, or after the
// server's Retry-After (up to the same bound); Current shows the error in
// LastError meanwhile.
//
// Run never writes to the lock. It returns when its goroutines have ended,
// an OnChange call in progress included. An Observer runs once, like a
// LeaderElector: a second call, while the first runs or after it
// returned, returns ErrAlreadyRun; make a new Observer to follow the lock
// again.
func (o *Observer) Run(ctx context.Context) error {
	if !o.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	inner, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		o.mu.Lock()
		o.queue = nil
		o.mu.Unlock()
	}()
	if o.config.OnChange != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.deliver(inner)
		}()
	}

	clock := o.config.Clock
	nextPoll := o.poll(inner)
	f := &observerFollow{wake: make(chan struct{}, 1)}
	if w, ok := o.config.Lock.(rl.RecordWatcher); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.follow(inner, w, f)
		}()
	}
	wasLive := false
	for {
		if inner.Err() != nil {
			return ctx.Err()
		}
		now := clock.Now()
		live := f.live.Load()
		if wasLive && !live {
			// The watch ended: give its successor a polling interval to
			// deliver (a resumed watch replays what it missed at once)
			// before reading; a read that overlaps a watch event anyway
			// is dropped (see poll).
			if d := now.Add(jittered(o.config.RetryPeriod)); d.After(nextPoll) {
				nextPoll = d
			}
		}
		wasLive = live
		if !live && !now.Before(nextPoll) {
			nextPoll = o.poll(inner)
			continue
		}
		due, ok := o.expire(now)
		if !live && (!ok || nextPoll.Before(due)) {
			due, ok = nextPoll, true
		}
		var t Timer
		var fired <-chan time.Time
		if ok {
			t = clock.NewTimer(due.Sub(now))
			fired = t.C()
		}
		select {
		case <-inner.Done():
		case <-fired:
		case <-f.wake:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// poll reads the lock once and returns when the next read is due.
func (o *Observer) poll(ctx context.Context) time.Time {
	o.mu.Lock()
	events := o.observed.events
	o.mu.Unlock()
	rctx, cancel := withTimeout(ctx, o.config.Clock, o.config.RequestTimeout)
	rec, raw, err := o.config.Lock.Get(rctx)
	now := o.config.Clock.Now()
	if err != nil && !k8sapi.IsNotFound(err) && !(errors.Is(err, rl.ErrInvalidRecord) && rec != nil) {
		err = requestError(rctx, "observer: read the lock", err)
		cancel()
		if ctx.Err() == nil {
			o.failed(err, true)
		}
		d := watchloop.RetryAfter(jittered(o.config.RetryPeriod), err, watchloop.MaxWait(o.config.RetryPeriod))
		return now.Add(d)
	}
	cancel()
	if err != nil && !errors.Is(err, rl.ErrInvalidRecord) {
		rec, raw = nil, nil // not found
	}
	o.mu.Lock()
	// A watch event that arrived while the read was in flight may be newer
	// than what the read returned: the watch has the last word.
	changed := o.observed.events == events && o.observeLocked(rec, raw, now, false)
	o.contactLocked(now)
	o.mu.Unlock()
	if changed {
		o.noteUnknown(rec, raw)
	}
	return now.Add(jittered(o.config.RetryPeriod))
}

// observerMaxQueue is how many changes may wait for OnChange.
const observerMaxQueue = 256

// follow watches the lock until ctx ends or the server forbids the watch
// (see watchloop.Loop), and applies every record it sees.
func (o *Observer) follow(ctx context.Context, w rl.RecordWatcher, f *observerFollow) {
	// resourcelock's locks tell each event's resourceVersion through ctx,
	// before observe: the fencing tokens come from them.
	ctx = lockwatch.WithEvents(ctx, func(ev lockwatch.Event[*rl.LeaderElectionRecord]) {
		o.mu.Lock()
		o.tokens.told(ev)
		o.mu.Unlock()
	})
	loop := lockWatch(o.config.Clock, o.config.RetryPeriod, w, func(rec *rl.LeaderElectionRecord, raw []byte) {
		o.watched(rec, raw, f)
	})
	loop.Ended = func(err error, idle bool) {
		f.live.Store(false)
		f.signal()
		if ctx.Err() == nil {
			o.watchEnded(err, idle)
		}
	}
	loop.Forbidden = func(err error) {
		o.failed(fmt.Errorf("election: observer: watch the lock: %w", err), false)
		o.log.Warn("election: observer may not watch the lock; polling it every RetryPeriod instead", "err", err)
	}
	loop.Again = func(err error, wait time.Duration) {
		if wait > 0 {
			o.log.Debug("election: observer's watch ended at once; watching again after a backoff", "err", err, "backoff", wait)
		}
	}
	loop.Run(ctx)
}

// watched applies a record the watch delivered (nil: the lock was
// deleted).
func (o *Observer) watched(rec *rl.LeaderElectionRecord, raw []byte, f *observerFollow) {
	now := o.config.Clock.Now()
	o.mu.Lock()
	o.observed.event(rec, raw)
	o.tokens.observed(rec)
	changed := o.observeLocked(rec, raw, now, rec == nil)
	if !changed && o.current.Version > 0 {
		// The same record, whose token the watch has just shown (or
		// shown to be unknown): a change of its own.
		if t := o.tokenLocked(); t != o.current.FencingToken {
			o.current.FencingToken = t
			o.changeLocked()
		}
	}
	o.contactLocked(now)
	o.mu.Unlock()
	f.live.Store(true)
	f.signal()
	if changed {
		o.noteUnknown(rec, raw)
	}
}

// watchEnded records how a watch ended: a server that ended it normally
// answered; one that failed is the last error. A forbidden watch is the
// loop's to report.
func (o *Observer) watchEnded(err error, idle bool) {
	switch {
	case idle:
		o.log.Debug("election: observer's watch delivered nothing for too long; watching again", "idle", watchIdle)
	case errors.Is(err, io.EOF):
		o.mu.Lock()
		o.contactLocked(o.config.Clock.Now())
		o.mu.Unlock()
	case k8sapi.IsForbidden(err):
	default:
		o.failed(fmt.Errorf("election: observer: watch the lock: %w", err), true)
	}
}

// observeLocked applies what a read or the watch showed at now: rec, or nil
// when the object does not exist (deleted: the watch saw it go). It reports
// whether that was a change. The first read is one, whatever it finds.
func (o *Observer) observeLocked(rec *rl.LeaderElectionRecord, raw []byte, now time.Time, deleted bool) bool {
	first := o.current.Version == 0
	if rec == nil {
		if !first && !o.observed.exists() {
			return false
		}
		o.observed.goneAt(now, deleted)
		o.setLocked(now)
		return true
	}
	if !first && o.observed.sameBytes(raw) && (raw != nil || sameStored(*rec, o.observed.rec, 0)) {
		return false
	}
	o.observed.set(*rec, raw, now)
	o.setLocked(now)
	return true
}

// setLocked makes the observation of the lock as seen at now a change.
func (o *Observer) setLocked(now time.Time) {
	r := o.observed.rec
	var lease time.Duration
	if o.observed.seen {
		lease = o.observed.holderLease()
	}
	c := &o.current
	c.Exists = o.observed.exists()
	c.Holder = r.HolderIdentity
	c.Term = r.LeaderTransitions
	c.AcquireTime, c.RenewTime = r.AcquireTime.Time, r.RenewTime.Time
	c.LeaseDuration = lease
	c.ObservedAt, c.Expiry = now, now.Add(lease)
	c.Expired = false
	c.FencingToken = o.tokenLocked()
	o.changeLocked()
}

// tokenLocked is the fencing token of the observed record's leadership:
// the one the watch saw begin, if the record is of that leadership.
func (o *Observer) tokenLocked() fencing.Token {
	r := o.observed.rec
	if !o.observed.seen || !named(r.HolderIdentity) || !o.tokens.hasLead || !o.tokens.lead.is(r) {
		return 0
	}
	return o.tokens.token
}

// named reports whether holder names a candidate: not a released lock,
// not an unknown holder.
func named(holder string) bool { return holder != "" && holder != rl.UnknownLeader }

// leadershipID names one leadership: each new one writes a new holder,
// term or acquire time (this library's candidates write all three anew;
// client-go's a new acquire time and, for another holder, a new term).
type leadershipID struct {
	holder  string
	term    int
	acquire time.Time
}

func leadershipOf(r rl.LeaderElectionRecord) leadershipID {
	return leadershipID{r.HolderIdentity, r.LeaderTransitions, r.AcquireTime.Time}
}

// is reports whether r is a record of the leadership l names.
func (l leadershipID) is(r rl.LeaderElectionRecord) bool {
	return l.holder == r.HolderIdentity && l.term == r.LeaderTransitions && l.acquire.Equal(r.AcquireTime.Time)
}

// tokenTracker learns fencing tokens from the observer's own watch. The
// token of a leadership is the resourceVersion of the write that began it,
// which the lock does not keep: only a watch that delivered that write,
// and the record before it, shows it. The lock's watch tells each event
// of its stream (told) before it passes the record on (observed); an
// event counts only when the stream is followed without a gap: its From is
// where the last event told left the stream (no watch from the current
// state, no 410 Gone, no event told to someone else), and each record told
// is the one observed (a wrapper of the lock that drops, delays or makes
// up records breaks the chain). A lock that tells nothing (of another
// package, or a MultiLock, which is polled) gives no token.
type tokenTracker struct {
	at      string                                     // where the stream stood after the last event told
	pending *lockwatch.Event[*rl.LeaderElectionRecord] // told, not yet observed
	known   bool                                       // prev is the record just before the next event
	prev    rl.LeaderElectionRecord                    // the last record observed in the chain
	hasLead bool                                       // lead is set
	lead    leadershipID                               // the last leadership (a named holder) observed
	token   fencing.Token                              // lead's token; 0 when its first write was not seen
}

// told takes an event the lock's watch is about to pass on.
func (t *tokenTracker) told(ev lockwatch.Event[*rl.LeaderElectionRecord]) {
	if t.pending != nil || ev.From == "" || ev.From != t.at {
		// A record told and never observed, a watch from the current
		// state, or a stream that moved on without this observer: what
		// was written in between is not known.
		t.known = false
	}
	t.pending = nil
	if ev.ResourceVersion != "" {
		t.at = ev.ResourceVersion
	}
	switch ev.Kind {
	case lockwatch.RecordEvent, lockwatch.DeletedEvent:
		t.pending = &ev
	case lockwatch.BookmarkEvent:
	default:
		t.known = false // a write this observer cannot read
	}
}

// observed takes what the watch passed on: rec, or nil for a deletion.
func (t *tokenTracker) observed(rec *rl.LeaderElectionRecord) {
	ev := t.pending
	t.pending = nil
	if ev == nil || (ev.Kind == lockwatch.DeletedEvent) != (rec == nil) || ev.Record != rec {
		// Not the record the lock told of, or no lock told.
		t.known = false
		return
	}
	if rec == nil {
		// Deleted: the last record stands, as for the candidates; its
		// leader recreates the lock in the same leadership.
		return
	}
	switch {
	case !named(rec.HolderIdentity):
	case t.hasLead && t.lead.is(*rec):
		// The same leadership: a renewal, a transfer request, the lock
		// recreated by its leader. Its token stands.
	default:
		// Another leadership. This event began it when the record just
		// before it is known and is of another leadership.
		began := t.known && !leadershipOf(t.prev).is(*rec)
		t.hasLead, t.lead, t.token = true, leadershipOf(*rec), 0
		if began {
			t.token, _ = fencing.ParseToken(ev.ResourceVersion) // 0 unless canonical
		}
	}
	t.prev, t.known = *rec, true
}

// expire marks the observation expired when its lease has run out at now;
// otherwise it returns when it will, if it is held at all.
func (o *Observer) expire(now time.Time) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := &o.current
	if c.Version == 0 || c.Holder == "" || c.Expired {
		return time.Time{}, false
	}
	if now.Before(c.Expiry) {
		return c.Expiry, true
	}
	c.Expired = true
	o.changeLocked()
	return time.Time{}, false
}

// changeLocked counts a change, wakes its waiters and queues it for
// OnChange.
func (o *Observer) changeLocked() {
	o.current.Version++
	close(o.changed)
	o.changed = make(chan struct{})
	if o.config.OnChange == nil {
		return
	}
	if len(o.queue) >= observerMaxQueue {
		o.queue = o.queue[1:]
	}
	o.queue = append(o.queue, o.current)
	select {
	case o.deliverWake <- struct{}{}:
	default:
	}
}

// deliver calls OnChange with the queued changes, in order, until ctx ends.
func (o *Observer) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.deliverWake:
		}
		for ctx.Err() == nil {
			o.mu.Lock()
			if len(o.queue) == 0 {
				o.mu.Unlock()
				break
			}
			next := o.queue[0]
			o.queue = o.queue[1:]
			o.mu.Unlock()
			o.config.OnChange(next)
		}
	}
}

// contactLocked records an answer of the API server at now.
func (o *Observer) contactLocked(now time.Time) {
	o.current.LastContact = now
	o.current.LastError = nil
	o.loggedErr = ""
}

// failed records a failed request and, when log is set, logs it unless it
// was the last error logged.
func (o *Observer) failed(err error, log bool) {
	o.mu.Lock()
	o.current.LastError = err
	msg := err.Error()
	logged := msg == o.loggedErr
	if log {
		o.loggedErr = msg
	}
	o.mu.Unlock()
	if log && !logged {
		o.log.Warn("election: observer: a request for the lock failed", "err", err)
	}
}

// noteUnknown logs, once for each, a record that does not decode.
func (o *Observer) noteUnknown(rec *rl.LeaderElectionRecord, raw []byte) {
	if rec == nil || rec.HolderIdentity != rl.UnknownLeader {
		return
	}
	o.mu.Lock()
	first := o.observed.odd.first(raw)
	o.mu.Unlock()
	if first {
		o.log.Warn("election: observer: the lock's holder is unknown (a record that does not decode, or records that disagree)",
			"record", short(string(raw)))
	}
}
