package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The lock object every run elects through.
const (
	namespace = "chaos"
	lockName  = "chaos-lock"
)

// harness is one run in progress.
type harness struct {
	plan  Plan
	srv   *testapiserver.Server
	start time.Time // true time at the start of the run
	rec   *recorder
	wg    sync.WaitGroup // every goroutine the harness starts
	done  chan struct{}  // closed at the end of the run

	shutdown atomic.Bool

	rngMu sync.Mutex
	rng   *rand.Rand // guarded by rngMu: per-request fault draws

	transferMu sync.Mutex // one Transfer fault at a time
	transfers  bool       // the plan has Transfer faults

	mu    sync.Mutex
	procs []*process // guarded by mu: every process started, in order
}

// process is one life of a candidate, from its start (or restart) to its
// crash: its own clock view, clients, locks and electors.
type process struct {
	h     *harness
	cand  int
	gen   int // 0 for the first life, then one more per restart
	kind  string
	clock skewedClock
	log   *slog.Logger
	dead  atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	runs []*electorRun // guarded by mu
}

func (p *process) isDead() bool { return p.dead.Load() }

// electorRun is a loop of electors on one lock object and client: a new
// elector stands again whenever the last one lost leadership, until the
// run is cancelled (a release fault) or its process crashes.
type electorRun struct {
	proc      *process
	n         int
	ctx       context.Context
	cancel    context.CancelFunc
	transport *transport

	mu          sync.Mutex
	lastOK      time.Time     // guarded by mu: send time of the last write the server stored
	lastCreated bool          // guarded by mu: that write created the object
	lastStored  storedWrite   // guarded by mu: what that write stored
	seen        []time.Time   // guarded by mu: when a 2xx answer (read, write or watch) reached this loop's client
	cur         *electorState // guarded by mu: the elector running now (the loop runs one at a time)
}

// setCurrent makes es the elector this loop runs now.
func (r *electorRun) setCurrent(es *electorState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = es
}

// current is the elector this loop runs now, or nil.
func (r *electorRun) current() *electorState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// lastStoredWrite is what the last stored write of this loop holds.
func (r *electorRun) lastStoredWrite() storedWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastStored
}

// answered records a 2xx answer delivered to the client at t.
func (r *electorRun) answered(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, t)
}

// sawBetween reports whether a 2xx answer reached the client in [a, b).
func (r *electorRun) sawBetween(a, b time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := sort.Search(len(r.seen), func(i int) bool { return !r.seen[i].Before(a) })
	return i < len(r.seen) && r.seen[i].Before(b)
}

// wroteOK records a write sent at sent that the server stored as sw.
func (r *electorRun) wroteOK(sent time.Time, created bool, sw storedWrite) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent.After(r.lastOK) {
		r.lastOK, r.lastCreated, r.lastStored = sent, created, sw
	}
}

// lastWriteCreated reports whether the last stored write created the
// object.
func (r *electorRun) lastWriteCreated() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastCreated
}

func (r *electorRun) lastWrite() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastOK
}

// Run executes plan and checks its invariants. It must be called inside a
// testing/synctest bubble; it returns once every goroutine it started has
// ended.
func Run(plan Plan) *Result {
	h := &harness{
		plan:  plan,
		srv:   testapiserver.New(testapiserver.Options{}),
		start: time.Now(),
		done:  make(chan struct{}),
		rng:   rand.New(rand.NewPCG(plan.Seed, 0x636861)),
	}
	for _, f := range plan.Faults {
		h.transfers = h.transfers || f.Kind == Transfer
	}
	h.rec = newRecorder(h)
	for i, c := range plan.Candidates {
		h.after(c.Join, func() { h.startProcess(i, c.Kind, 0) })
	}
	for i, f := range plan.Faults {
		h.after(f.At, func() { h.inject(i, f) })
	}
	h.after(plan.Heal, func() { h.rec.note("faults healed") })
	time.Sleep(time.Until(h.start.Add(plan.End)))
	h.stop()
	return h.rec.result()
}

// after runs f at offset d from the start of the run, unless it ended.
func (h *harness) after(d time.Duration, f func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if !sleepUntil(h.done, h.start.Add(d)) {
			return
		}
		f()
	}()
}

// sleepUntil waits until t; false if done closed first.
func sleepUntil(done <-chan struct{}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-done:
		return false
	}
}

func (h *harness) isShutdown() bool { return h.shutdown.Load() }

// stop ends the run: open leaderships end now, requests fail at once,
// every elector is cancelled, and Run waits for all of them.
func (h *harness) stop() {
	h.rec.endAll(time.Now(), "end")
	h.shutdown.Store(true)
	close(h.done)
	h.mu.Lock()
	procs := append([]*process(nil), h.procs...)
	h.mu.Unlock()
	for _, p := range procs {
		p.cancel()
	}
	h.srv.Close()
	for _, p := range procs {
		p.mu.Lock()
		runs := append([]*electorRun(nil), p.runs...)
		p.mu.Unlock()
		for _, r := range runs {
			if r.transport != nil {
				r.transport.cutWatches()
			}
		}
	}
	h.wg.Wait()
}

// offset is t as a duration from the start of the run.
func (h *harness) offset(t time.Time) time.Duration { return t.Sub(h.start) }

// activeFaults returns the request faults whose window holds now for a
// request of cand with verb, and among them those that act on it (drawn
// with each fault's probability).
func (h *harness) activeFaults(cand int, verb, path string, now time.Time) (window, active []*Fault) {
	at := h.offset(now)
	for i := range h.plan.Faults {
		f := &h.plan.Faults[i]
		if !requestFaults[f.Kind] || at < f.At || at >= f.At+f.For || (f.Target >= 0 && f.Target != cand) {
			continue
		}
		if f.Verbs != "" && f.Verbs != verb && f.Kind != Partition {
			continue
		}
		if f.Resource != "" && !strings.Contains(path+"/", "/"+f.Resource+"/") {
			continue
		}
		if (f.Kind == WatchEmpty || f.Kind == WatchGone) && verb != "watch" {
			continue
		}
		if f.Kind == LostAnswer && verb != "write" {
			continue
		}
		window = append(window, f)
		if f.Prob > 0 && f.Prob < 1 {
			h.rngMu.Lock()
			skip := h.rng.Float64() >= f.Prob
			h.rngMu.Unlock()
			if skip {
				continue
			}
		}
		active = append(active, f)
	}
	return window, active
}

// current is the live process of cand, or nil.
func (h *harness) current(cand int) *process {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.procs) - 1; i >= 0; i-- {
		if p := h.procs[i]; p.cand == cand {
			if p.isDead() {
				return nil
			}
			return p
		}
	}
	return nil
}

// startProcess starts a life of candidate cand with a lock of kind.
func (h *harness) startProcess(cand int, kind string, gen int) *process {
	c := h.plan.Candidates[cand]
	p := &process{h: h, cand: cand, gen: gen, kind: kind,
		clock: skewedClock{origin: time.Now(), offset: c.Offset, rate: c.Rate}}
	p.log = slog.New(&logHandler{h: h, who: fmt.Sprintf("%s/%d", c.ID, gen), slow: c.SlowLog})
	p.ctx, p.cancel = context.WithCancel(context.Background())
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	h.rec.note(fmt.Sprintf("%s/%d starts (%s)", c.ID, gen, kind))
	p.startRun()
	return p
}

// startRun starts a new loop of electors with its own client and lock.
func (p *process) startRun() {
	h := p.h
	c := h.plan.Candidates[p.cand]
	ctx, cancel := context.WithCancel(p.ctx)
	p.mu.Lock()
	r := &electorRun{proc: p, n: len(p.runs), ctx: ctx, cancel: cancel}
	p.runs = append(p.runs, r)
	p.mu.Unlock()
	r.transport = &transport{h: h, cand: p.cand, proc: p, run: r, watches: map[*cutBody]struct{}{}}
	cfg := h.srv.Config()
	cfg.Logger = slog.New(discardHandler{})
	cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
		r.transport.next = next
		return r.transport
	}
	client, err := k8sapi.New(cfg)
	if err != nil {
		h.rec.violation("harness", fmt.Sprintf("k8sapi.New: %v", err))
		return
	}
	lock, err := rl.New(p.kind, namespace, lockName, client, rl.ResourceLockConfig{Identity: c.ID})
	if err != nil {
		h.rec.violation("harness", fmt.Sprintf("resourcelock.New: %v", err))
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if c.Stand {
			// One elector for the life of this run: Stand leads term
			// after term and returns only when ctx ends.
			name := fmt.Sprintf("%s/%d.%d", c.ID, p.gen, r.n)
			err := p.runElector(r, lock, name, true)
			if ctx.Err() == nil && !p.isDead() {
				h.rec.violation("stand", fmt.Sprintf("%s: Stand returned while its context was live: %v", name, err))
			}
			return
		}
		for k := 0; ctx.Err() == nil; k++ {
			name := fmt.Sprintf("%s/%d.%d.%d", c.ID, p.gen, r.n, k)
			err := p.runElector(r, lock, name, false)
			if ctx.Err() != nil || p.isDead() {
				return
			}
			if errors.Is(err, election.ErrHandedOver) {
				h.rec.handedOver(name, err)
			}
			// A handover is a lost leadership too: a new elector stands.
			if !errors.Is(err, election.ErrLeadershipLost) {
				h.rec.violation("harness", fmt.Sprintf("%s: RunContext: %v", name, err))
				return
			}
		}
	}()
}

// runElector makes one elector and runs it: RunContext until it returns,
// or with stand, Stand until the run's context ends.
func (p *process) runElector(r *electorRun, lock rl.Interface, name string, stand bool) error {
	h := p.h
	t := h.plan.Timing
	c := h.plan.Candidates[p.cand]
	var le *election.LeaderElector
	ready := make(chan struct{})
	es := newElectorState(p, name, stand)
	r.setCurrent(es)
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   t.LeaseDuration,
		RenewDeadline:   t.RenewDeadline,
		RetryPeriod:     t.RetryPeriod,
		RequestTimeout:  t.RequestTimeout,
		ReleaseOnCancel: t.ReleaseOnCancel,
		Name:            name,
		Logger:          p.log,
		Clock:           p.clock,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				<-ready
				p.lead(r, es, le, stop, c.SlowCallback)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return fmt.Errorf("chaos: plan timing rejected: %w", err)
	}
	close(ready)
	if stand {
		return le.Stand(r.ctx)
	}
	return le.RunContext(r.ctx)
}

// lead is OnStartedLeading: it records the leadership, reads its fencing
// token once, as a program would, and writes to the fenced store with it
// until stop closes (a leader acts until told to stop, whatever the lock
// meanwhile says); it checks that Term() and FencingToken() stay the ones
// the leadership started with, and winds down for slow before returning,
// when they must say that it does not lead.
func (p *process) lead(r *electorRun, es *electorState, le *election.LeaderElector, stop <-chan struct{}, slow time.Duration) {
	h := p.h
	name := es.begin(stop)
	defer es.end()
	if p.isDead() {
		<-stop // a crashed process does not act
		return
	}
	term, ok := le.Term()
	token, tokErr := le.FencingToken()
	es.led(name, term, ok)
	l := h.rec.startLeading(p, r, es, name, term, ok, token, tokErr)
	tick := time.NewTicker(h.rec.writeEvery)
	defer tick.Stop()
	for leading := true; leading; {
		select {
		case <-stop:
			now := time.Now()
			h.rec.endLeading(l, now, "stop")
			es.stopped(now)
			leading = false
		case <-tick.C:
			if p.isDead() {
				continue
			}
			term, ok := le.Term()
			now, err := le.FencingToken()
			h.rec.fencedWrite(l, term, ok, now, err)
		}
	}
	deadline := time.Now().Add(slow)
	for time.Now().Before(deadline) {
		select {
		case <-tick.C:
		case <-h.done:
			return
		}
		if p.isDead() {
			continue
		}
		if tm, ok := le.Term(); ok {
			h.rec.violationAt(time.Now(), "term-after-stop", fmt.Sprintf("%s: Term() = (%d, true) after its stop channel closed", name, tm))
		} else if le.IsLeader() {
			h.rec.violationAt(time.Now(), "term-after-stop", fmt.Sprintf("%s: IsLeader() after its stop channel closed", name))
		} else if tok, err := le.FencingToken(); err == nil {
			h.rec.violationAt(time.Now(), "token-after-stop", fmt.Sprintf("%s: FencingToken() = %d after its stop channel closed", name, tok))
		}
	}
}

// inject carries out fault i at its time.
func (h *harness) inject(i int, f Fault) {
	h.rec.faultStarted(i, f)
	switch f.Kind {
	case Partition, WatchEmpty, WatchGone:
		// Open watches break with the connection (or the proxy that
		// starts answering watches badly).
		for c := range h.plan.Candidates {
			if f.Target < 0 || f.Target == c {
				if p := h.current(c); p != nil {
					p.cutWatches()
				}
			}
		}
	case CloseWatches:
		if f.Target >= 0 {
			if p := h.current(f.Target); p != nil {
				p.cutWatches()
			}
		} else {
			h.srv.CloseWatches()
		}
	case Crash:
		p := h.current(f.Target)
		if p == nil {
			return
		}
		p.crash()
		kind := p.kind
		if f.Variant != "" {
			kind = f.Variant
		}
		if f.For >= 0 {
			h.after(f.At+f.For, func() { h.startProcess(f.Target, kind, p.gen+1) })
		}
	case Release:
		p := h.current(f.Target)
		if p == nil {
			return
		}
		p.mu.Lock()
		var r *electorRun
		if len(p.runs) > 0 {
			r = p.runs[len(p.runs)-1]
		}
		p.mu.Unlock()
		if r != nil {
			r.cancel()
		}
		if f.For < 0 {
			return
		}
		h.after(f.At+f.For, func() {
			if !p.isDead() {
				p.startRun()
			}
		})
	case DeleteLock:
		holder, existed := h.lockHolder()
		for _, res := range lockResources {
			h.srv.Delete(res[0], res[1], namespace, lockName)
		}
		if existed {
			h.rec.plant(f.Kind, holder, holder != "", false)
		}
	case Garbage:
		h.rec.plant(f.Kind, "", true, h.writeGarbage(f.Variant))
	case Intruder:
		h.writeIntruder(f.Variant == "huge")
		h.rec.plant(f.Kind, "", true, false)
	case Transfer:
		h.transfer(f)
	}
}

// cutWatches ends the open watches of every run of p.
func (p *process) cutWatches() {
	p.mu.Lock()
	runs := append([]*electorRun(nil), p.runs...)
	p.mu.Unlock()
	for _, r := range runs {
		r.transport.cutWatches()
	}
}

// crash stops the process at once: it acts no more (its leadership ends
// now), its requests never reach the server, and its electors are
// cancelled, which cannot release since nothing gets through.
func (p *process) crash() {
	p.dead.Store(true)
	p.h.rec.crashed(p, time.Now())
	p.cutWatches()
	p.cancel()
}

// lockResources are the objects a lock of any kind may use.
var lockResources = [][2]string{{"coordination.k8s.io", "leases"}, {"", "endpoints"}, {"", "configmaps"}}

// resourceOf is the object that holds the record for a single-object kind.
func resourceOf(kind string) [2]string {
	switch kind {
	case rl.EndpointsResourceLock:
		return lockResources[1]
	case rl.ConfigMapsResourceLock:
		return lockResources[2]
	}
	return lockResources[0]
}

// lockObject reads the lock object of the plan's (single) kind.
func (h *harness) lockObject() (res [2]string, obj map[string]any, ok bool) {
	res = resourceOf(h.plan.Candidates[0].Kind)
	raw, ok := h.srv.Get(res[0], res[1], namespace, lockName)
	if !ok {
		return res, map[string]any{"metadata": map[string]any{"namespace": namespace, "name": lockName}}, false
	}
	_ = json.Unmarshal(raw, &obj)
	return res, obj, true
}

// record reads the record fields out of obj as a map (spec of a Lease, the
// annotation's JSON otherwise); nil when absent or undecodable.
func recordOf(res [2]string, obj map[string]any) map[string]any {
	if res[1] == "leases" {
		spec, _ := obj["spec"].(map[string]any)
		return spec
	}
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	s, _ := ann[rl.LeaderElectionRecordAnnotationKey].(string)
	var rec map[string]any
	if json.Unmarshal([]byte(s), &rec) != nil {
		return nil
	}
	return rec
}

// lockHolder is the holder in the lock object now, and whether it exists.
func (h *harness) lockHolder() (string, bool) {
	if migrating(h.plan) {
		_, ok := h.srv.Get("", "endpoints", namespace, lockName)
		return "?", ok
	}
	res, obj, ok := h.lockObject()
	rec := recordOf(res, obj)
	holder, _ := rec["holderIdentity"].(string)
	if rec == nil {
		holder = "?"
	}
	return holder, ok
}

// transitions is the current record's transition count.
func transitions(res [2]string, rec map[string]any) float64 {
	key := "leaderTransitions"
	if res[1] == "leases" {
		key = "leaseTransitions"
	}
	n, _ := rec[key].(float64)
	return n
}

// setRecord writes rec (field → value, in the record's JSON names) into
// obj, or raw annotation text when raw is set.
func setRecord(res [2]string, obj map[string]any, rec map[string]any, raw string) {
	if res[1] == "leases" {
		spec := map[string]any{}
		for k, v := range rec {
			if k == "leaderTransitions" {
				k = "leaseTransitions"
			}
			spec[k] = v
		}
		obj["spec"] = spec
		return
	}
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	if raw == "" {
		b, _ := json.Marshal(rec)
		raw = string(b)
	}
	ann[rl.LeaderElectionRecordAnnotationKey] = raw
}

// writeGarbage overwrites the record with an undecodable variant and
// reports whether the term was lost with it.
func (h *harness) writeGarbage(variant string) (termLost bool) {
	res, obj, _ := h.lockObject()
	old := recordOf(res, obj)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	rec := map[string]any{"holderIdentity": "unknown-writer", "leaseDurationSeconds": json.RawMessage("15"),
		"acquireTime": now, "renewTime": now, "leaderTransitions": transitions(res, old) + 1}
	raw := ""
	switch variant {
	case "annotation-json":
		// The time makes each write new bytes: the checker times the
		// lease from this write, and an identical rewrite would be no
		// change to a candidate (rightly), so it would take over earlier.
		raw = `{"holderIdentity":"unknown-writer","renewTime":"` + now + `","leaseDurationSeconds":`
	case "lease-duration-float":
		rec["leaseDurationSeconds"] = json.RawMessage("15.0")
	case "lease-duration-string":
		rec["leaseDurationSeconds"] = "15"
	case "renew-time-garbage":
		rec["renewTime"] = "yesterday at noon"
	}
	setRecord(res, obj, rec, raw)
	h.put(res, obj)
	// No candidate can read the term out of an undecodable record.
	return true
}

// writeIntruder writes a valid record held by a candidate outside the
// fleet, with a normal lease or a huge one (18446744074 s, which wraps to
// 290ms when multiplied by time.Second).
func (h *harness) writeIntruder(huge bool) {
	res, obj, _ := h.lockObject()
	old := recordOf(res, obj)
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	lease := json.RawMessage(fmt.Sprint(leaseSeconds(h.plan.Timing.LeaseDuration)))
	if huge {
		lease = json.RawMessage("18446744074")
	}
	// A foreign candidate that plays by the rules continues the term, even
	// over a lock deleted meanwhile.
	rec := map[string]any{"holderIdentity": "intruder", "leaseDurationSeconds": lease,
		"acquireTime": now, "renewTime": now, "leaderTransitions": max(transitions(res, old), float64(h.rec.highestTerm())) + 1}
	setRecord(res, obj, rec, "")
	h.put(res, obj)
}

func (h *harness) put(res [2]string, obj map[string]any) {
	md, _ := obj["metadata"].(map[string]any)
	delete(md, "resourceVersion")
	b, _ := json.Marshal(obj)
	if err := h.srv.Put(res[0], res[1], b); err != nil {
		h.rec.violation("harness", "put: "+err.Error())
	}
}

// leaseSeconds is d in whole seconds, rounded up, at least 1, as the
// elector writes it.
func leaseSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

// logHandler keeps the electors' log lines for a failure report; a slow
// one takes its time on lines at Warn and above.
type logHandler struct {
	h    *harness
	who  string
	slow time.Duration
}

func (l *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (l *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(l.who)
	b.WriteString(" ")
	b.WriteString(r.Level.String())
	b.WriteString(" ")
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "lock" || a.Key == "identity" {
			return true
		}
		v := a.Value.String()
		if len(v) > 120 {
			v = v[:120] + "…"
		}
		fmt.Fprintf(&b, " %s=%s", a.Key, v)
		return true
	})
	l.h.rec.note(b.String())
	if l.slow > 0 && r.Level >= slog.LevelWarn {
		time.Sleep(l.slow)
	}
	return nil
}

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler { return l }
func (l *logHandler) WithGroup(string) slog.Handler            { return l }

// discardHandler drops the REST client's log lines.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
