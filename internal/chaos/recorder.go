package chaos

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// Violation is one broken invariant.
type Violation struct {
	At   time.Duration // from the start of the run
	Kind string        // "overlap", "stop-late", "term", ...
	Msg  string
	// Limit, when set, names the documented limit the violation falls
	// under: it is counted and reported, and does not fail the run.
	Limit string
}

func (v Violation) String() string {
	s := fmt.Sprintf("%12v %-16s %s", v.At, v.Kind, v.Msg)
	if v.Limit != "" {
		s += " [documented limit: " + v.Limit + "]"
	}
	return s
}

// limitFreshAfterDelete is the elector's documented limit: a candidate
// that never saw the lock before it was deleted creates it at once and
// cannot know the old term. It covers overlaps, terms that do not grow and
// early takeovers by such a candidate; not stale fenced writes: its
// fencing token (the resourceVersion of its creating write) is above every
// token before the deletion.
const limitFreshAfterDelete = "a candidate that never saw the lock before its deletion"

// leadership is one [OnStartedLeading, stop closed] interval of one
// elector, in true time.
type leadership struct {
	n       int
	cand    int
	name    string
	proc    *process
	run     *electorRun
	start   time.Time
	end     time.Time
	sent    time.Time // send of the last write its loop had stored when it started: its acquiring write
	created bool      // that write created the lock object
	// stored and rv are when the server stored the acquiring write and
	// its resourceVersion, as the transport saw them: the leadership
	// began then, and the fenced store's ground truth orders leaderships
	// so (see beganAfter).
	stored time.Time
	rv     int64
	ended  bool
	how    string // "stop", "crash" or "end"
	term   int
	termOK bool
	// token is FencingToken() read in its OnStartedLeading (0 when that
	// failed): every write of the leadership to the fenced store carries
	// it.
	token fencing.Token
	// fresh is set when this is the first leadership after a deletion of
	// the lock and its elector never saw the lock before the deletion: it
	// falls under limitFreshAfterDelete.
	fresh bool
	es    *electorState // its elector
}

// beganAfter reports whether leadership a began after b: its acquiring
// write was stored later, in the server's order of writes. This is the
// harness's own view (the transport sees each write stored), not the
// elector's, and it is the order in which the leaderships held the lock.
// OnStartedLeading is not: a leader may learn of its acquisition late (a
// slow answer, a lost one read back), and with clock rates outside the
// bound a faster clock can take the lock over meanwhile.
func (a *leadership) beganAfter(b *leadership) bool {
	if !a.stored.Equal(b.stored) {
		return a.stored.After(b.stored)
	}
	if a.rv != b.rv {
		return a.rv > b.rv
	}
	return a.n > b.n
}

// handover is a release the transport saw stored that names a preferred
// holder: a leader handing over after a transfer request. Only the
// candidate named may take it before a lease has passed.
type handover struct {
	at   time.Time
	to   string
	from string // the elector that released
}

// plantEvent is a write to the lock from outside the fleet: a deletion, a
// garbage record or an intruder's record.
type plantEvent struct {
	at     time.Time
	kind   FaultKind
	held   bool   // the record before it named a holder: a lease must pass before a takeover
	holder string // for a deletion, the holder of the deleted record (who may recreate it at once)
}

type requestRec struct {
	at   time.Time
	verb string
}

type retryRec struct {
	at    time.Time
	until time.Duration // Retry-After on the candidate's clock
}

// recorder collects what happens in a run and checks it.
type recorder struct {
	h          *harness
	writeEvery time.Duration // how often a leader writes to the fenced store

	store *fencedStore // the fenced store every leader writes to

	mu          sync.Mutex
	leaderships []*leadership     // guarded by mu
	maxTerm     int               // guarded by mu: highest term of any leadership since the last record that lost the term
	haveTerm    bool              // guarded by mu
	requests    [][]requestRec    // guarded by mu: per candidate
	retries     [][]retryRec      // guarded by mu: per candidate, injected 429s
	plants      []plantEvent      // guarded by mu
	releases    []time.Time       // guarded by mu: release faults carried out
	faults      map[FaultKind]int // guarded by mu: faults carried out, by kind
	injected    map[FaultKind]int // guarded by mu: requests a fault acted on, by kind
	under       map[FaultKind]int // guarded by mu: requests sent while a fault's window held, by kind
	violations  []Violation       // guarded by mu
	log         []string          // guarded by mu: the last logLines events
	logged      int               // guarded by mu

	handovers   []handover     // guarded by mu: releases for a preferred holder, in order
	transfers   []*transferRec // guarded by mu: Transfer faults carried out
	leaseWrites []storedWrite  // guarded by mu: writes stored on the Lease, in plans with transfers
	handedOverN int            // guarded by mu: RunContext returns wrapping ErrHandedOver
}

const logLines = 2000

func newRecorder(h *harness) *recorder {
	n := len(h.plan.Candidates)
	every := min(max(h.plan.Timing.RenewDeadline/8, 5*time.Millisecond), 250*time.Millisecond)
	return &recorder{h: h, writeEvery: every, requests: make([][]requestRec, n), retries: make([][]retryRec, n),
		faults: map[FaultKind]int{}, injected: map[FaultKind]int{}, under: map[FaultKind]int{},
		store: newFencedStore()}
}

func (rc *recorder) at(t time.Time) time.Duration { return rc.h.offset(t) }

// note adds a line to the run's event log.
func (rc *recorder) note(s string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.noteLocked(time.Now(), s)
}

func (rc *recorder) noteLocked(t time.Time, s string) {
	line := fmt.Sprintf("%12v %s", rc.at(t), s)
	limit := logLines
	if trace {
		limit = 200000
	}
	if len(rc.log) < limit {
		rc.log = append(rc.log, line)
	} else {
		rc.log[rc.logged%limit] = line
	}
	rc.logged++
}

func (rc *recorder) violation(kind, msg string) { rc.violationAt(time.Now(), kind, msg) }

func (rc *recorder) violationAt(t time.Time, kind, msg string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.violationLocked(t, kind, msg)
}

func (rc *recorder) violationLocked(t time.Time, kind, msg string) {
	rc.limitLocked(t, kind, msg, "")
}

// limitLocked records a violation that falls under a documented limit
// (none if limit is empty).
func (rc *recorder) limitLocked(t time.Time, kind, msg, limit string) {
	// One report of each kind per elector is enough.
	for _, v := range rc.violations {
		if v.Kind == kind && v.Msg == msg {
			return
		}
	}
	rc.violations = append(rc.violations, Violation{At: rc.at(t), Kind: kind, Msg: msg, Limit: limit})
	if limit != "" {
		rc.noteLocked(t, "LIMIT "+kind+": "+msg)
		return
	}
	rc.noteLocked(t, "VIOLATION "+kind+": "+msg)
}

// limitOf is the documented limit a violation by l falls under, if any.
func limitOf(l *leadership) string {
	if l != nil && l.fresh {
		return limitFreshAfterDelete
	}
	return ""
}

func (rc *recorder) request(cand int, verb string, t time.Time, window, active []*Fault) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests[cand] = append(rc.requests[cand], requestRec{at: t, verb: verb})
	for _, f := range window {
		rc.under[f.Kind]++
	}
	for _, f := range active {
		rc.injected[f.Kind]++
	}
}

func (rc *recorder) retryAfter(cand int, t time.Time, d time.Duration) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.retries[cand] = append(rc.retries[cand], retryRec{at: t, until: d})
}

func (rc *recorder) faultStarted(i int, f Fault) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.faults[f.Kind]++
	if f.Kind == Release {
		rc.releases = append(rc.releases, time.Now())
	}
	rc.noteLocked(time.Now(), "fault "+f.String())
}

func (rc *recorder) plant(kind FaultKind, holder string, held, termLost bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.plants = append(rc.plants, plantEvent{at: time.Now(), kind: kind, held: held, holder: holder})
	if termLost {
		// The term check starts again from the next leadership; the
		// fenced store needs no such reset: this write raised the
		// resourceVersion, and with it every later leadership's token.
		rc.haveTerm = false
	}
}

// stored is a write the server stored: of a candidate's loop r (seen by
// its transport), or of the harness (r nil). A release (an empty holder)
// must come after the releasing elector's OnStartedLeading returned; one
// that names a preferred holder is a handover.
func (rc *recorder) stored(r *electorRun, sw storedWrite) {
	var es *electorState
	if r != nil {
		es = r.current()
	}
	early := es != nil && sw.decoded && sw.holder == "" && es.callbackRunning()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if sw.resource == "leases" && rc.h.transfers {
		rc.leaseWrites = append(rc.leaseWrites, sw)
	}
	if es == nil || !sw.decoded || sw.holder != "" {
		return
	}
	if early {
		rc.violationLocked(sw.at, "release-early", fmt.Sprintf("%s released the lock (%s) while its OnStartedLeading still ran", es.name, sw.resource))
	}
	if sw.preferred != "" {
		rc.handovers = append(rc.handovers, handover{at: sw.at, to: sw.preferred, from: es.name})
		rc.noteLocked(sw.at, fmt.Sprintf("%s released the lock for %s (handover, term %d)", es.name, sw.preferred, sw.term))
	}
}

// transferred records a Transfer fault as carried out.
func (rc *recorder) transferred(tr *transferRec) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.transfers = append(rc.transfers, tr)
	what := fmt.Sprintf("transfer request naming %q (%s", tr.to, tr.what)
	if tr.named >= 0 && !tr.alive {
		what += ", not running"
	}
	what += ")"
	if tr.written {
		rc.noteLocked(tr.at, fmt.Sprintf("%s written, resourceVersion %d", what, tr.rv))
	} else {
		rc.noteLocked(tr.at, fmt.Sprintf("%s not written: %s", what, tr.err))
	}
}

// handedOver records a RunContext that returned ErrHandedOver. Only a
// transfer request makes a leader hand over.
func (rc *recorder) handedOver(name string, err error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.handedOverN++
	if !rc.h.transfers {
		rc.violationLocked(time.Now(), "handover", fmt.Sprintf("%s: RunContext returned %v in a run without transfer requests", name, err))
	}
}

// highestTerm is the highest term any leadership began with since the
// last record that lost the term.
func (rc *recorder) highestTerm() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.maxTerm
}

// startLeading records the start of a leadership and checks its term and
// its fencing token (FencingToken() in OnStartedLeading: token, or tokErr).
func (rc *recorder) startLeading(p *process, r *electorRun, es *electorState, name string, term int, termOK bool, token fencing.Token, tokErr error) *leadership {
	now := time.Now()
	made := es.made
	acquiring := r.lastStoredWrite()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	l := &leadership{n: len(rc.leaderships), cand: p.cand, name: name, proc: p, run: r, start: now,
		sent: r.lastWrite(), created: r.lastWriteCreated(), stored: acquiring.at, rv: acquiring.rv,
		term: term, termOK: termOK, es: es}
	if tokErr == nil {
		l.token = token
	} else if termOK {
		rc.violationLocked(now, "token", fmt.Sprintf("%s: FencingToken() in OnStartedLeading: %v", name, tokErr))
	}
	if acquiring.rv == 0 {
		rc.violationLocked(now, "harness", fmt.Sprintf("%s leads, but the transport saw no write of its loop stored", name))
	}
	if acquiring.decoded && acquiring.preferred != "" && acquiring.holder == rc.h.plan.Candidates[p.cand].ID {
		// Any acquisition clears a transfer request.
		rc.violationLocked(now, "request-kept", fmt.Sprintf("%s leads on a write that kept the transfer request naming %q", name, acquiring.preferred))
	}
	if n := len(rc.plants); n > 0 && rc.plants[n-1].kind == DeleteLock {
		del := rc.plants[n-1].at
		// Its elector never saw the lock before the deletion: made
		// after it, or no answer reached it from then until the deletion.
		l.fresh = !made.Before(del) || !r.sawBetween(made, del)
	}
	rc.leaderships = append(rc.leaderships, l)
	rc.noteLocked(now, fmt.Sprintf("%s starts leading, term %d (leading %v), fencing token %d (acquiring write stored at %v, resourceVersion %d)",
		name, term, termOK, l.token, rc.at(acquiring.at), acquiring.rv))
	if l.fresh && termOK && rc.haveTerm && term <= rc.maxTerm {
		// The documented limit: such a candidate cannot know the old
		// term. The term check goes on from its term. (Its fencing token
		// is judged like every other: see fencedStore.)
		rc.limitLocked(now, "term", fmt.Sprintf("%s: term %d does not grow (an earlier leadership had %d)", name, term, rc.maxTerm), limitFreshAfterDelete)
		rc.maxTerm = term
		return l
	}
	switch {
	case !termOK:
		rc.violationLocked(now, "term", fmt.Sprintf("%s: Term() in OnStartedLeading says it does not lead", name))
	case rc.haveTerm && term <= rc.maxTerm:
		rc.limitLocked(now, "term", fmt.Sprintf("%s: term %d does not grow (an earlier leadership had %d)", name, term, rc.maxTerm), limitOf(l))
	}
	if termOK && (!rc.haveTerm || term > rc.maxTerm) {
		rc.maxTerm, rc.haveTerm = term, true
	}
	return l
}

// endLeading records that stop closed (how "stop"), checking the renew
// deadline, or that the process crashed or the run ended.
func (rc *recorder) endLeading(l *leadership, t time.Time, how string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if l.ended {
		return
	}
	l.end, l.ended, l.how = t, true, how
	rc.noteLocked(t, fmt.Sprintf("%s stops leading (%s)", l.name, how))
	if how != "stop" {
		return
	}
	last := l.run.lastWrite()
	if last.IsZero() {
		return
	}
	limit := last.Add(l.proc.clock.toTrue(rc.h.plan.Timing.RenewDeadline))
	if t.After(limit.Add(time.Microsecond)) {
		rc.violationLocked(t, "stop-late", fmt.Sprintf("%s: stop closed %v after the send of its last stored write, RenewDeadline is %v on its clock (%v true)",
			l.name, t.Sub(last), rc.h.plan.Timing.RenewDeadline, limit.Sub(last)))
	}
}

// crashed ends the leaderships of a crashed process at once.
func (rc *recorder) crashed(p *process, t time.Time) {
	rc.mu.Lock()
	ls := append([]*leadership(nil), rc.leaderships...)
	rc.noteLocked(t, fmt.Sprintf("%s/%d crashes", rc.h.plan.Candidates[p.cand].ID, p.gen))
	rc.mu.Unlock()
	for _, l := range ls {
		if l.proc == p {
			rc.endLeading(l, t, "crash")
		}
	}
}

// endAll ends every open leadership at the end of the run.
func (rc *recorder) endAll(t time.Time, how string) {
	rc.mu.Lock()
	ls := append([]*leadership(nil), rc.leaderships...)
	rc.mu.Unlock()
	for _, l := range ls {
		rc.endLeading(l, t, how)
	}
}

// fencedWrite is one write of leadership l to the fenced store, with the
// token l read in its OnStartedLeading. term, termOK, now and nowErr are
// what Term() and FencingToken() say at the time of the write: while they
// say l leads, they must be what the leadership started with.
func (rc *recorder) fencedWrite(l *leadership, term int, termOK bool, now fencing.Token, nowErr error) {
	at := time.Now()
	rc.mu.Lock()
	if l.ended {
		rc.mu.Unlock()
		return // the process crashed between its check and the write
	}
	if termOK && l.termOK && term != l.term {
		rc.violationLocked(at, "term-changed", fmt.Sprintf("%s: Term() = %d while leading, the leadership started with %d", l.name, term, l.term))
	}
	if nowErr == nil && l.token != 0 && now != l.token {
		rc.violationLocked(at, "token-changed", fmt.Sprintf("%s: FencingToken() = %d while leading, the leadership started with %d", l.name, now, l.token))
	}
	rc.mu.Unlock()
	if l.token == 0 {
		return // no token: reported when it started
	}
	// The store is called without rc.mu: the Checker holds its own lock
	// while the write runs, and the write takes the store's.
	kind, msg := rc.store.write(l, l.token)
	if kind != "" {
		rc.violationAt(at, kind, msg)
	}
}

// fencedStore is the store every leader's side effects go to: a
// fencing.Checker, as a program would keep one in front of its database,
// wrapped by the recorder. The Checker alone decides what is accepted;
// the wrapper judges each decision by the harness's ground truth, the
// order in which the leaderships began (leadership.beganAfter):
//
//   - a write accepted after a write of a leadership that began later was
//     accepted is stale ("stale-write"): the invariant;
//   - a write refused although no leadership that began later had a write
//     accepted means a token out of order ("fence-refused"): the current
//     leader locked out.
type fencedStore struct {
	checker *fencing.Checker

	mu       sync.Mutex
	latest   *leadership // guarded by mu: the latest-begun leadership with a write accepted
	accepted int         // guarded by mu
	refused  int         // guarded by mu: refused with a *fencing.StaleError (a paused or deposed leader)
	stale    int         // guarded by mu: accepted although stale
}

func newFencedStore() *fencedStore { return &fencedStore{checker: fencing.NewChecker(0, nil)} }

// write offers one write of l carrying token t. It returns the kind of
// violation and its message when the Checker's decision contradicts the
// ground truth, else "".
func (s *fencedStore) write(l *leadership, t fencing.Token) (kind, msg string) {
	err := s.checker.Do(t, func() error {
		// Runs while the Checker holds t admitted: no higher token is
		// admitted until it returns, so the order of these calls is the
		// order of the writes in the store.
		s.mu.Lock()
		defer s.mu.Unlock()
		s.accepted++
		switch {
		case s.latest != nil && s.latest.beganAfter(l):
			s.stale++
			kind, msg = "stale-write", fmt.Sprintf("%s wrote with token %d after %s, which began later, wrote with token %d: accepted",
				l.name, t, s.latest.name, s.latest.token)
		case s.latest == nil || l.beganAfter(s.latest):
			s.latest = l
		}
		return nil
	})
	if err == nil {
		return kind, msg
	}
	var se *fencing.StaleError
	if !errors.As(err, &se) || !errors.Is(err, fencing.ErrStale) {
		return "fence", fmt.Sprintf("%s: the Checker refused token %d: %v", l.name, t, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused++
	if s.latest == nil || !s.latest.beganAfter(l) {
		// A refusal comes after the write that raised the highest token
		// ran, so latest is its leadership or one that began later still.
		latest := "none"
		if s.latest != nil {
			latest = s.latest.name
		}
		return "fence-refused", fmt.Sprintf("%s's write with token %d refused (highest %d), but no leadership that began after it has written (latest: %s)",
			l.name, t, se.Highest, latest)
	}
	return "", ""
}

// counts returns the store's figures.
func (s *fencedStore) counts() (accepted, refused, stale int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.refused, s.stale
}
