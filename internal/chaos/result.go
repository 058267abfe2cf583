package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Result is what a run found.
type Result struct {
	Plan       Plan
	Violations []Violation // failures of the run
	// Overlaps counts pairs of leaderships that overlapped; in a run
	// within the bound each is also a violation, outside it they are only
	// counted.
	Overlaps      int
	OverlapsLimit int           // those of Overlaps within the bound that fall under a documented limit
	OverlapTime   time.Duration // total time two leaders acted at once
	WithinBound   bool
	Leaderships   int
	// The fenced store (a fencing.Checker; every leader's writes carry
	// the FencingToken() of its leadership): writes accepted, refused
	// (a paused or deposed leader) and accepted although stale.
	FencedWrites  int
	FenceRejected int
	StaleWrites   int
	// Deletions counts deletions of the lock object (of one that
	// existed); FreshCreates the leaderships that began by creating it
	// again from a candidate that never saw it before the deletion (the
	// documented deletion limit).
	Deletions    int
	FreshCreates int
	// Reelection is how long after Heal a leader was there (0 if one
	// led at Heal); Reelected is false if none came before End.
	Reelection time.Duration
	Reelected  bool
	HealBound  time.Duration
	// Faults counts the faults carried out by kind; Injected the requests
	// a fault acted on; Under the requests sent while a fault's window
	// held, and UnderSeconds the candidate-seconds of those windows.
	Faults       map[FaultKind]int
	Injected     map[FaultKind]int
	Under        map[FaultKind]int
	UnderSeconds map[FaultKind]float64
	// Healthy is requests and candidate-seconds after Heal.
	HealthyRequests int
	HealthySeconds  float64
	// RetryAfterIgnored counts 429 answers after which the candidate sent
	// more than two requests before Retry-After had passed on its clock.
	RetryAfterIgnored    int
	MaxRequestsPerWindow int // the most requests one candidate sent in one rate window
	// StandLeaderships counts the leaderships of electors that Stand, and
	// StandAgain those of them after an elector's first term.
	StandLeaderships int
	StandAgain       int
	// Handovers counts releases stored for a preferred holder; HandedOver
	// the RunContext calls that returned ErrHandedOver.
	Handovers  int
	HandedOver int
	Transfers  []TransferOutcome // one per Transfer fault
	Notes      []string          // what a scenario's check noticed without failing
	Log        []string
}

// TransferOutcome is what became of one transfer request: figures, not
// failures (the invariants are checked over the whole run).
type TransferOutcome struct {
	// What the request named: "candidate" (another candidate than the
	// holder), "leader" (the holder itself) or "absent" (no candidate).
	What string
	// Written is false when no write stored it (NotWritten says why:
	// no Lease yet, no holder to name, already named).
	Written    bool
	NotWritten string
	// NamedRunning: a candidate was named and its process ran at the
	// request.
	NamedRunning bool
	// Next is who began to lead first after the request: "named",
	// "holder" (the candidate that held the lock at the request, again, in
	// a new term), "other" or "none" before the end; ToNamed is the time
	// from the request to the named candidate leading, when Next is
	// "named".
	Next    string
	ToNamed time.Duration
	// HolderStand: Next is "holder" and its elector Stands (one elector
	// across the request, which still counts the record as its own).
	HolderStand bool
	// Cleared: a later write of the fleet stored the Lease without the
	// request, ClearedAfter the request. Superseded: another request was
	// written first; Deleted: the lock was deleted first.
	Cleared      bool
	ClearedAfter time.Duration
	Superseded   bool
	Deleted      bool
}

// Failed reports whether the run broke an invariant (outside the
// documented limits).
func (r *Result) Failed() bool {
	for _, v := range r.Violations {
		if v.Limit == "" {
			return true
		}
	}
	return false
}

// firstFailure is the first violation that fails the run, else the first
// of those under a documented limit (which fail it with -strict).
func (r *Result) firstFailure() Violation {
	for _, v := range r.Violations {
		if v.Limit == "" {
			return v
		}
	}
	if len(r.Violations) > 0 {
		return r.Violations[0]
	}
	return Violation{}
}

// outsideArg is the replay flag for a plan drawn outside the bound.
func outsideArg(p Plan) string {
	if p.Outside {
		return " -outside"
	}
	return ""
}

// Limited reports whether the run hit a documented limit.
func (r *Result) Limited() bool {
	for _, v := range r.Violations {
		if v.Limit != "" {
			return true
		}
	}
	return false
}

// Report is the failure report: seed, plan, violations, replay command and
// the last events of the run.
func (r *Result) Report() string {
	var b strings.Builder
	p := r.Plan
	if p.Name != "" {
		fmt.Fprintf(&b, "scenario %s\n", p.Name)
	} else {
		fmt.Fprintf(&b, "seed %d\n", p.Seed)
	}
	b.WriteString(p.String())
	fmt.Fprintf(&b, "violations (%d):\n", len(r.Violations))
	for _, v := range r.Violations {
		b.WriteString("  " + v.String() + "\n")
	}
	fmt.Fprintf(&b, "leaderships %d, overlaps %d (%v), fenced writes (fencing token) %d accepted %d refused %d stale accepted, lock deletions %d (%d recreated by a candidate that never saw the lock), re-elected after heal: %v in %v (bound %v)\n",
		r.Leaderships, r.Overlaps, r.OverlapTime, r.FencedWrites, r.FenceRejected, r.StaleWrites, r.Deletions, r.FreshCreates, r.Reelected, r.Reelection, r.HealBound)
	if p.Name != "" {
		fmt.Fprintf(&b, "replay: go test ./internal/chaos -run 'TestRegression/%s$' -v\n", p.Name)
	} else {
		fmt.Fprintf(&b, "replay: go test ./internal/chaos -run TestCampaign -seed=%d%s -v\n", p.Seed, outsideArg(p))
	}
	b.WriteString("last events:\n")
	for _, l := range r.Log {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// healBound is how long after the faults heal a leader must be there:
//
//	(3·RequestTimeout + 2·lease + 1s + 3·RetryPeriod·(1+JitterFactor)) / minRate + 3s
//
// where lease is LeaseDuration rounded up to whole seconds (as the record
// holds it). A request sent before the heal may hang for RequestTimeout
// and land, restarting the followers' count; the record may then need a
// lease to expire, plus the annotation locks' second; a follower whose watch
// broke needs up to a few retry periods to notice; a record that nobody
// can decode (or a deleted one) waits a lease of its own; and all of these
// are measured on the slowest clock. The 3s are the largest Retry-After
// the campaign injects.
func healBound(p Plan) time.Duration {
	t := p.Timing
	lo, _ := p.rateRange()
	lease := time.Duration(leaseSeconds(t.LeaseDuration)) * time.Second
	d := 3*t.requestTimeout() + 2*lease + time.Second + time.Duration(3*float64(t.RetryPeriod)*2.2)
	return time.Duration(float64(d)/lo) + 3*time.Second + p.ExtraHeal
}

// rateWindow and rateLimit bound a candidate's requests: at most rateLimit
// in any rateWindow, where rateWindow is ten RetryPeriods on the
// candidate's clock. A leader sends one to three requests per RetryPeriod
// (three for MultiLock), a failing follower about one attempt (up to five
// requests with MultiLock) per RetryPeriod plus a watch; ten per
// RetryPeriod and a burst of twenty leave room for all of that and catch
// a loop that retries at once.
const (
	rateWindowPeriods = 10
	rateLimit         = 10*rateWindowPeriods + 20
)

// result checks the invariants that need the whole run and returns the
// result.
func (rc *recorder) result() *Result {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	p := rc.h.plan
	end := rc.h.start.Add(p.End)
	heal := rc.h.start.Add(p.Heal)
	r := &Result{Plan: p, WithinBound: p.withinBound(), Leaderships: len(rc.leaderships),
		Faults: rc.faults, Injected: rc.injected, Under: rc.under, UnderSeconds: map[FaultKind]float64{}, HealBound: healBound(p)}
	r.FencedWrites, r.FenceRejected, r.StaleWrites = rc.store.counts()
	for _, pl := range rc.plants {
		if pl.kind == DeleteLock {
			r.Deletions++
		}
	}

	// Fencing tokens grow with the order in which the leaderships began,
	// whoever took the lock, after deletions, garbage and foreign records
	// too.
	byBegin := append([]*leadership(nil), rc.leaderships...)
	sort.Slice(byBegin, func(i, j int) bool { return byBegin[j].beganAfter(byBegin[i]) })
	var prev *leadership
	for _, l := range byBegin {
		if l.fresh && l.created {
			r.FreshCreates++
		}
		if l.token == 0 {
			continue
		}
		if prev != nil && l.token <= prev.token {
			rc.violationLocked(l.start, "token-order", fmt.Sprintf("%s began after %s (acquiring writes stored at %v and %v, resourceVersions %d and %d) with fencing token %d, not above %d",
				l.name, prev.name, rc.at(l.stored), rc.at(prev.stored), l.rv, prev.rv, l.token, prev.token))
		}
		prev = l
	}

	ls := append([]*leadership(nil), rc.leaderships...)
	sort.Slice(ls, func(i, j int) bool { return ls[i].start.Before(ls[j].start) })

	// Overlaps.
	for i, a := range ls {
		for _, b := range ls[i+1:] {
			if !b.start.Before(a.end) {
				break
			}
			r.Overlaps++
			d := minTime(a.end, b.end).Sub(b.start)
			r.OverlapTime += d
			if r.WithinBound {
				rc.limitLocked(b.start, "overlap", fmt.Sprintf("%s led %v–%v (%s) and %s from %v: %v at once",
					a.name, rc.at(a.start), rc.at(a.end), a.how, b.name, rc.at(b.start), d), limitOf(b))
				if b.fresh {
					r.OverlapsLimit++
				}
			} else {
				rc.noteLocked(b.start, fmt.Sprintf("overlap outside the bound: %s and %s for %v", a.name, b.name, d))
			}
		}
	}

	// Takeovers of deleted, undecodable or foreign records.
	lease := p.Timing.LeaseDuration
	for i, pl := range rc.plants {
		if !pl.held {
			continue
		}
		next := end
		if i+1 < len(rc.plants) {
			next = rc.plants[i+1].at
		}
		for _, l := range ls {
			if l.start.Before(pl.at) {
				continue
			}
			if !l.start.Before(next) || rc.releasedBetween(pl.at, l.start) {
				break
			}
			if l.sent.Before(pl.at) {
				continue // its acquiring write went out before: not a takeover of what was written
			}
			if pl.kind == DeleteLock && p.Candidates[l.cand].ID == pl.holder {
				break // the holder of the deleted record may recreate it at once
			}
			if pl.kind == DeleteLock && !l.created {
				// It took a record someone wrote since (a release that
				// landed late, say), not the missing lock: judged by the
				// other checks.
				break
			}
			if min := pl.at.Add(l.proc.clock.toTrue(lease)); l.start.Before(min.Add(-time.Microsecond)) {
				rc.limitLocked(l.start, "early-takeover", fmt.Sprintf("%s took the lock %v after a %s, before a lease (%v on its clock) had passed",
					l.name, l.start.Sub(pl.at), pl.kind, lease), limitOf(l))
			}
			break
		}
	}

	// Takeovers of a handover by a candidate it did not name: the others
	// wait a lease for it, as for a holder. A transfer request written
	// onto the release after it was stored names whom the release is for
	// from then on (it changes the annotation only, so the others' lease
	// still counts from the release).
	for i, ho := range rc.handovers {
		next := end
		if i+1 < len(rc.handovers) {
			next = rc.handovers[i+1].at
		}
		for _, pl := range rc.plants {
			if pl.at.After(ho.at) && pl.at.Before(next) {
				next = pl.at
			}
		}
		for _, l := range ls {
			if l.start.Before(ho.at) {
				continue
			}
			if !l.start.Before(next) || rc.releasedBetween(ho.at, l.start) {
				break
			}
			if l.sent.Before(ho.at) {
				continue
			}
			if rc.namedSince(ho, l.sent, p.Candidates[l.cand].ID) {
				break
			}
			if min := ho.at.Add(l.proc.clock.toTrue(lease)); l.start.Before(min.Add(-time.Microsecond)) {
				rc.limitLocked(l.start, "early-takeover", fmt.Sprintf("%s took the lock %v after %s handed it over to %s, before a lease (%v on its clock) had passed",
					l.name, l.start.Sub(ho.at), ho.from, ho.to, lease), limitOf(l))
			}
			break
		}
	}
	rc.transferOutcomes(r, ls, end)
	seenElector := map[*electorState]bool{}
	for _, l := range ls {
		if l.es == nil || !l.es.stand {
			continue
		}
		r.StandLeaderships++
		if seenElector[l.es] {
			r.StandAgain++
		}
		seenElector[l.es] = true
	}
	r.Handovers, r.HandedOver = len(rc.handovers), rc.handedOverN

	// A leader within the bound after the faults heal, and no step-down
	// once healed.
	bound := r.HealBound
	for _, l := range ls {
		if !l.start.After(heal) && l.end.After(heal) {
			r.Reelected = true
			break
		}
		if l.start.After(heal) {
			r.Reelected, r.Reelection = true, l.start.Sub(heal)
			break
		}
	}
	if !r.Reelected || r.Reelection > bound {
		if heal.Add(bound).Before(end) {
			what := "none before the end"
			if r.Reelected {
				what = fmt.Sprintf("the first after %v", r.Reelection)
			}
			rc.violationLocked(heal.Add(bound), "no-leader", fmt.Sprintf("no leader within %v after the faults healed (%s)", bound, what))
		}
	}
	for _, l := range ls {
		if l.how == "stop" && l.end.After(heal.Add(bound)) && l.end.Before(end) {
			what := fmt.Sprintf("%s stopped leading %v after the faults healed", l.name, l.end.Sub(heal))
			if !r.WithinBound {
				// Clocks outside the bound let a follower take a live
				// leader's lock: the step-down follows the overlap,
				// which is counted as such.
				rc.noteLocked(l.end, what+" (clock rates outside the bound)")
				continue
			}
			rc.violationLocked(l.end, "stepped-down", what)
		}
	}

	// Request rates and Retry-After.
	n := len(p.Candidates)
	for c := range n {
		reqs := rc.requests[c]
		window := time.Duration(float64(rateWindowPeriods*p.Timing.RetryPeriod) / p.Candidates[c].Rate)
		j := 0
		for i := range reqs {
			for reqs[j].at.Add(window).Before(reqs[i].at) || reqs[j].at.Add(window).Equal(reqs[i].at) {
				j++
			}
			if k := i - j + 1; k > r.MaxRequestsPerWindow {
				r.MaxRequestsPerWindow = k
				if k == rateLimit+1 && p.CheckRates {
					rc.violationLocked(reqs[i].at, "request-rate", fmt.Sprintf("%s sent more than %d requests in %v (%d RetryPeriods on its clock)",
						p.Candidates[c].ID, rateLimit, window, rateWindowPeriods))
				}
			}
			if !reqs[i].at.Before(heal) {
				r.HealthyRequests++
			}
		}
		for _, ra := range rc.retries[c] {
			until := ra.at.Add(time.Duration(float64(ra.until) / p.Candidates[c].Rate))
			early := 0
			for _, q := range reqs {
				if q.at.After(ra.at) && q.at.Before(until) && q.verb != "watch" {
					early++
				}
			}
			if early > 2 {
				r.RetryAfterIgnored++
			}
		}
	}
	r.HealthySeconds = float64(n) * (p.End - p.Heal).Seconds()
	for _, f := range p.Faults {
		if requestFaults[f.Kind] {
			targets := 1
			if f.Target < 0 {
				targets = n
			}
			r.UnderSeconds[f.Kind] += f.For.Seconds() * float64(targets)
		}
	}
	r.Violations = append(r.Violations, rc.violations...)
	sort.SliceStable(r.Violations, func(i, j int) bool { return r.Violations[i].At < r.Violations[j].At })
	if rc.logged > len(rc.log) {
		k := rc.logged % len(rc.log)
		r.Log = append(append(r.Log, rc.log[k:]...), rc.log[:k]...)
	} else {
		r.Log = append(r.Log, rc.log...)
	}
	return r
}

// namedSince reports whether id is the preferred holder the handover ho
// named, or one that a transfer request written after it and before until
// (the send of the write that took it) named.
func (rc *recorder) namedSince(ho handover, until time.Time, id string) bool {
	if id == ho.to {
		return true
	}
	for _, tr := range rc.transfers {
		if tr.written && tr.to == id && !tr.at.Before(ho.at) && !tr.at.After(until) {
			return true
		}
	}
	return false
}

// transferOutcomes works out what became of each transfer request: who
// led next, and whether a later write cleared it.
func (rc *recorder) transferOutcomes(r *Result, ls []*leadership, end time.Time) {
	writes := append([]storedWrite(nil), rc.leaseWrites...)
	sort.SliceStable(writes, func(i, j int) bool { return writes[i].rv < writes[j].rv })
	for _, tr := range rc.transfers {
		o := TransferOutcome{What: tr.what, Written: tr.written, NotWritten: tr.err, NamedRunning: tr.what == "candidate" && tr.alive, Next: "none"}
		for _, l := range ls {
			if l.start.Before(tr.at) || l.sent.Before(tr.at) {
				continue
			}
			switch o.Next = "other"; l.cand {
			case tr.named:
				o.Next, o.ToNamed = "named", l.start.Sub(tr.at)
			case tr.holder:
				o.Next, o.HolderStand = "holder", l.es != nil && l.es.stand
			}
			break
		}
		if tr.written {
			clearedAt := end
			for _, w := range writes {
				if w.rv <= tr.rv {
					continue
				}
				if w.request {
					o.Superseded = true
					clearedAt = w.at
					break
				}
				if w.preferred == "" {
					o.Cleared, o.ClearedAfter, clearedAt = true, w.at.Sub(tr.at), w.at
					break
				}
			}
			for _, pl := range rc.plants {
				if pl.kind == DeleteLock && !pl.at.Before(tr.at) && pl.at.Before(clearedAt) {
					o.Cleared, o.ClearedAfter, o.Superseded, o.Deleted = false, 0, false, true
				}
			}
		}
		r.Transfers = append(r.Transfers, o)
	}
}

// releasedBetween reports whether a release fault ran in [a, b]: a
// released record may be taken at once.
func (rc *recorder) releasedBetween(a, b time.Time) bool {
	for _, t := range rc.releases {
		if !t.Before(a) && !t.After(b) {
			return true
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
