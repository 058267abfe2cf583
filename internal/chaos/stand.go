package chaos

import (
	"fmt"
	"sync"
	"time"
)

// electorState is one LeaderElector of a run as the checker follows it:
// its OnStartedLeading calls, their stop channels and terms. An elector
// run with RunContext leads at most once; one that Stands leads term
// after term, and these checks span its terms:
//
//   - OnStartedLeading never runs twice at once ("callback-overlap");
//   - every term gets a stop channel never handed out before
//     ("stop-reused");
//   - Term() at the start of a term is above the one at the start of the
//     term before ("stand-term");
//   - a term starts no sooner than RetryPeriod (on the candidate's clock)
//     after the end of the one before and the return of its callback
//     ("stand-gap");
//   - the lock is never released while its OnStartedLeading runs
//     ("release-early", checked when the transport sees the release).
type electorState struct {
	h     *harness
	proc  *process
	name  string
	stand bool
	made  time.Time // when NewLeaderElector made it: what it could have seen starts here

	mu       sync.Mutex
	running  int                      // guarded by mu: OnStartedLeading calls running now
	stops    map[<-chan struct{}]bool // guarded by mu: every stop channel handed to it
	terms    int                      // guarded by mu: OnStartedLeading calls so far
	lastTerm int                      // guarded by mu: Term() at the start of the last term that led
	haveTerm bool                     // guarded by mu
	lastStop time.Time                // guarded by mu: when the last term's stop closed
	returned time.Time                // guarded by mu: when the last OnStartedLeading returned
}

func newElectorState(p *process, name string, stand bool) *electorState {
	return &electorState{h: p.h, proc: p, name: name, stand: stand, made: time.Now(), stops: map[<-chan struct{}]bool{}}
}

// begin is called first in OnStartedLeading with its stop channel; it
// returns the leadership's name (the elector's, and with Stand the term's
// number after it).
func (es *electorState) begin(stop <-chan struct{}) string {
	now := time.Now()
	rp := es.proc.clock.toTrue(es.h.plan.Timing.RetryPeriod)
	var problems [][2]string
	es.mu.Lock()
	es.terms++
	name := es.name
	if es.stand {
		name = fmt.Sprintf("%s.t%d", es.name, es.terms)
	}
	if es.running > 0 {
		problems = append(problems, [2]string{"callback-overlap", fmt.Sprintf("%s: OnStartedLeading called while %d earlier call(s) of the same elector still run", name, es.running)})
	}
	if es.stops[stop] {
		problems = append(problems, [2]string{"stop-reused", fmt.Sprintf("%s: OnStartedLeading got a stop channel an earlier term of the same elector had", name)})
	}
	if es.terms > 1 {
		for _, after := range []struct {
			what string
			t    time.Time
		}{{"its stop closed", es.lastStop}, {"its OnStartedLeading returned", es.returned}} {
			if !after.t.IsZero() && now.Before(after.t.Add(rp)) {
				problems = append(problems, [2]string{"stand-gap", fmt.Sprintf("%s: a new term %v after the last one's %s, under RetryPeriod (%v on its clock, %v true)",
					name, now.Sub(after.t), after.what, es.h.plan.Timing.RetryPeriod, rp)})
			}
		}
	}
	es.running++
	es.stops[stop] = true
	es.mu.Unlock()
	for _, p := range problems {
		es.h.rec.violationAt(now, p[0], p[1])
	}
	return name
}

// led checks the term a leadership started with (Term() in its
// OnStartedLeading) against the term before it.
func (es *electorState) led(name string, term int, ok bool) {
	if !ok {
		return // startLeading reports it
	}
	es.mu.Lock()
	prev, had := es.lastTerm, es.haveTerm
	es.lastTerm, es.haveTerm = term, true
	es.mu.Unlock()
	if had && term <= prev {
		es.h.rec.violation("stand-term", fmt.Sprintf("%s: Term() = %d, not above %d of the same elector's term before", name, term, prev))
	}
}

// stopped notes that the current term's stop closed at t.
func (es *electorState) stopped(t time.Time) {
	es.mu.Lock()
	defer es.mu.Unlock()
	es.lastStop = t
}

// end is deferred by OnStartedLeading: the call returns now.
func (es *electorState) end() {
	es.mu.Lock()
	defer es.mu.Unlock()
	es.running--
	es.returned = time.Now()
}

// callbackRunning reports whether an OnStartedLeading call of this
// elector runs now.
func (es *electorState) callbackRunning() bool {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.running > 0
}
