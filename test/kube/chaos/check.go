package chaos

import (
	"fmt"
	"sort"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// Window is a span of time.
type Window struct{ From, To time.Time }

// Proc is what the checker knows of one candidate process: its events and
// what the campaign did to it.
type Proc struct {
	ID     string
	Inst   int // 0 for the first process of an identity, 1 for its restart
	Events []Event
	Killed time.Time // SIGKILL, zero if never
	Paused []Window  // SIGSTOP to SIGCONT
	Log    string    // path of its log, for reports
}

// Name is the identity and instance, as logs name them.
func (p *Proc) Name() string { return fmt.Sprintf("%s#%d", p.ID, p.Inst) }

// Interval is one leadership of one process: from OnStartedLeading to the
// stop channel closing, or to the process's death.
type Interval struct {
	Proc *Proc
	// Token is the fencing token the leadership read when it began (0:
	// none), Term its term.
	Token      fencing.Token
	Term       int64
	Start, End time.Time
	// EndCause is "stop", "exit", "killed" or "lost" (no end event: the
	// last event of the process).
	EndCause string
	// Pause is the pause this leadership spans, if any.
	Pause *Window
}

// Intervals are a process's leaderships.
func (p *Proc) Intervals() []Interval {
	var out []Interval
	var open *Interval
	var last time.Time
	for _, e := range p.Events {
		last = e.Time()
		switch e.Kind {
		case EvLead:
			if open != nil {
				open.End, open.EndCause = e.Time(), "lead"
				out = append(out, *open)
			}
			open = &Interval{Proc: p, Token: e.Token, Term: e.Term, Start: e.Time()}
		case EvStop, EvEnded, EvExit:
			if open != nil {
				open.End, open.EndCause = e.Time(), e.Kind
				out = append(out, *open)
				open = nil
			}
		}
	}
	if open != nil {
		open.End, open.EndCause = last, "lost"
		if !p.Killed.IsZero() {
			open.End, open.EndCause = p.Killed, "killed"
		}
		out = append(out, *open)
	}
	for i := range out {
		for j := range p.Paused {
			w := p.Paused[j]
			if out[i].Start.Before(w.To) && out[i].End.After(w.From) {
				out[i].Pause = &p.Paused[j]
			}
		}
	}
	return out
}

// ResumeGrace is how long a leader resumed from SIGSTOP may take to see
// that its deadline has passed and close stop. Overlap within the pause
// and this grace is the fencing case; beyond it, a violation.
const ResumeGrace = 500 * time.Millisecond

// Facts describe one round for the checker.
type Facts struct {
	Procs []*Proc
	// FaultStart and Heal bound the fault (equal for an instant fault);
	// End is when the campaign began stopping the candidates.
	FaultStart, Heal, End time.Time
	// Bound is the longest acceptable time from Heal to a stable leader.
	Bound time.Duration
	// Provoked is how long after Heal a step-down may still be the
	// fault's doing.
	Provoked time.Duration
	// Target is the process the fault hit, nil for a fault of all.
	Target *Proc
}

// Findings are what the checker concludes about one round.
type Findings struct {
	// Overlaps are pairs of live, unpaused leaderships that overlapped.
	Overlaps []string
	// PausedOverlaps are overlaps of a paused leader with the next one
	// (the fencing case), and PausedOverlap their total length.
	PausedOverlaps []string
	PausedOverlap  time.Duration
	// ResumeToStop is how long the paused leader took, from SIGCONT, to
	// close stop; -1 if it did not lead through the pause.
	ResumeToStop time.Duration
	// LateActs are writes a leader sent while another process's
	// leadership that began later had begun: what an unfenced store would
	// have taken.
	LateActs int
	// TokenNotGrown are leaderships whose fencing token was not higher
	// than the one of the leadership that began before (or that had none).
	TokenNotGrown []string
	// TermNotGrown are leaderships whose term was not higher than the one
	// before.
	TermNotGrown []string
	// Unprovoked are step-downs with no fault to explain them.
	Unprovoked []string
	// Takeover is from FaultStart to the first leadership of another
	// process, -1 if none (or no target).
	Takeover time.Duration
	// Reelect is from Heal to the start of leadership that lasted to End,
	// -1 if no one led at End.
	Reelect time.Duration
	// Leaderships is how many leaderships began in the round.
	Leaderships int
}

// Safety are the safety failures among the findings: two leaders, a
// fencing token or a term that did not grow.
func (f *Findings) Safety() []string {
	var v []string
	for _, o := range f.Overlaps {
		v = append(v, "two leaders: "+o)
	}
	for _, t := range f.TokenNotGrown {
		v = append(v, "fencing token did not grow: "+t)
	}
	for _, t := range f.TermNotGrown {
		v = append(v, "term did not grow: "+t)
	}
	return v
}

// Liveness are the liveness failures among the findings: a healthy leader
// that stepped down, no leader within bound of the heal (0: no bound).
func (f *Findings) Liveness(bound time.Duration) []string {
	var v []string
	for _, u := range f.Unprovoked {
		v = append(v, "healthy leader stepped down: "+u)
	}
	switch {
	case bound == 0:
	case f.Reelect < 0:
		v = append(v, "no leader at the end of the round")
	case f.Reelect > bound:
		v = append(v, fmt.Sprintf("leader again only %v after the heal (bound %v)", f.Reelect.Round(time.Millisecond), bound))
	}
	return v
}

// Check computes the findings of a round.
func Check(facts Facts) Findings {
	f := Findings{ResumeToStop: -1, Takeover: -1, Reelect: -1}
	var all []Interval
	for _, p := range facts.Procs {
		all = append(all, p.Intervals()...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Start.Before(all[j].Start) })
	f.Leaderships = len(all)
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	at := func(t time.Time) string { return t.Format("15:04:05.000") }

	// Overlaps, with the paused part set apart.
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			a, b := all[i], all[j]
			if a.Proc == b.Proc {
				continue
			}
			from, to := later(a.Start, b.Start), earlier(a.End, b.End)
			if !to.After(from) {
				continue
			}
			// The part within a pause (plus the grace) of either is the
			// fencing case.
			var excused time.Duration
			for _, x := range []Interval{a, b} {
				if x.Pause != nil {
					wf, wt := later(from, x.Pause.From), earlier(to, x.Pause.To.Add(ResumeGrace))
					if wt.After(wf) {
						excused += wt.Sub(wf)
					}
				}
			}
			total := to.Sub(from)
			desc := fmt.Sprintf("%s (token %d, term %d, %s–%s, %s) and %s (token %d, term %d, %s–%s, %s) for %s from %s",
				a.Proc.Name(), a.Token, a.Term, at(a.Start), at(a.End), a.EndCause,
				b.Proc.Name(), b.Token, b.Term, at(b.Start), at(b.End), b.EndCause, ms(total), at(from))
			if excused > 0 {
				f.PausedOverlaps = append(f.PausedOverlaps, desc)
				f.PausedOverlap += min(excused, total)
			}
			if total > excused {
				f.Overlaps = append(f.Overlaps, desc)
			}
		}
	}
	for _, iv := range all {
		if iv.Pause != nil && iv.End.After(iv.Pause.To) {
			f.ResumeToStop = iv.End.Sub(iv.Pause.To)
		}
	}

	// Writes sent inside another process's leadership that began after
	// the writer's own (the order of OnStartedLeading, not the tokens).
	for _, p := range facts.Procs {
		var own time.Time // the start of p's latest leadership
		for _, e := range p.Events {
			switch e.Kind {
			case EvLead:
				own = e.Time()
				continue
			case EvAct:
			default:
				continue
			}
			t := e.Time()
			for _, iv := range all {
				if iv.Proc != p && iv.Start.After(own) && !t.Before(iv.Start) && t.Before(iv.End) {
					f.LateActs++
					break
				}
			}
		}
	}

	// Fencing tokens grow with the order in which the leaderships began.
	for i := 1; i < len(all); i++ {
		if all[i].Token == 0 || all[i].Token <= all[i-1].Token {
			f.TokenNotGrown = append(f.TokenNotGrown, fmt.Sprintf("%s token %d at %s after %s token %d at %s",
				all[i].Proc.Name(), all[i].Token, at(all[i].Start), all[i-1].Proc.Name(), all[i-1].Token, at(all[i-1].Start)))
		}
	}
	if len(all) > 0 && all[0].Token == 0 {
		f.TokenNotGrown = append(f.TokenNotGrown, fmt.Sprintf("%s has no token (at %s)", all[0].Proc.Name(), at(all[0].Start)))
	}

	// Terms grow with every leadership.
	for i := 1; i < len(all); i++ {
		if all[i].Term <= all[i-1].Term {
			f.TermNotGrown = append(f.TermNotGrown, fmt.Sprintf("%s term %d at %s after %s term %d at %s",
				all[i].Proc.Name(), all[i].Term, at(all[i].Start), all[i-1].Proc.Name(), all[i-1].Term, at(all[i-1].Start)))
		}
	}

	// Step-downs that no fault explains: before the fault, or long after
	// the heal, and before the campaign stopped the candidates.
	for _, iv := range all {
		if iv.EndCause != "stop" && iv.EndCause != "lost" || !iv.End.Before(facts.End) {
			continue
		}
		if iv.End.Before(facts.FaultStart) || iv.End.After(facts.Heal.Add(facts.Provoked)) {
			f.Unprovoked = append(f.Unprovoked, fmt.Sprintf("%s (token %d, term %d) led %s–%s (%s) and stopped (%s)",
				iv.Proc.Name(), iv.Token, iv.Term, at(iv.Start), at(iv.End), ms(iv.End.Sub(iv.Start)), iv.EndCause))
		}
	}

	// Takeover: the first leadership of another process after the fault.
	if facts.Target != nil {
		for _, iv := range all {
			if iv.Proc.ID != facts.Target.ID && iv.Start.After(facts.FaultStart) {
				f.Takeover = iv.Start.Sub(facts.FaultStart)
				break
			}
		}
	}

	// Re-election: the union of leaderships (a paused leader's counts only
	// up to its pause) must cover [Heal+Reelect, End].
	var cover []Window
	for _, iv := range all {
		end := iv.End
		if iv.Pause != nil && iv.Pause.From.Before(end) {
			end = iv.Pause.From
		}
		if end.After(iv.Start) {
			cover = append(cover, Window{iv.Start, end})
		}
	}
	if from, ok := coveredUntil(cover, facts.End); ok {
		f.Reelect = max(0, from.Sub(facts.Heal))
	}
	return f
}

// coveredUntil merges windows and returns the start of the merged span
// that contains t.
func coveredUntil(ws []Window, t time.Time) (time.Time, bool) {
	sort.Slice(ws, func(i, j int) bool { return ws[i].From.Before(ws[j].From) })
	var cur *Window
	for i := range ws {
		w := ws[i]
		if cur != nil && !w.From.After(cur.To) {
			cur.To = later(cur.To, w.To)
			continue
		}
		if cur != nil && !cur.From.After(t) && !cur.To.Before(t) {
			return cur.From, true
		}
		cur = &Window{w.From, w.To}
	}
	if cur != nil && !cur.From.After(t) && !cur.To.Before(t) {
		return cur.From, true
	}
	return time.Time{}, false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
