package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/fencing"
)

// at is a symbolic instant: t0 plus n tenths of a second.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(n int) time.Time { return t0.Add(time.Duration(n) * 100 * time.Millisecond) }

func ev(n int, kind string, term int64) Event {
	return Event{T: at(n).UnixNano(), Kind: kind, Term: term}
}

func TestCheck(t *testing.T) {
	// a leads from 1 to 30, b from 50 to the end (100); the fault is 20–40.
	a := &Proc{ID: "a", Events: []Event{ev(0, EvRun, 0), ev(1, EvLead, 1), ev(30, EvStop, 0), ev(101, EvExit, 0)}}
	b := &Proc{ID: "b", Events: []Event{ev(0, EvRun, 0), ev(50, EvLead, 2), ev(101, EvStop, 0)}}
	facts := Facts{Procs: []*Proc{a, b}, FaultStart: at(20), Heal: at(40), End: at(100),
		Bound: 8 * time.Second, Provoked: 6 * time.Second, Target: a}
	f := Check(facts)
	if len(f.Overlaps) != 0 || len(f.TermNotGrown) != 0 || len(f.Unprovoked) != 0 {
		t.Fatalf("clean round: %+v", f)
	}
	if f.Takeover != 3*time.Second || f.Reelect != time.Second {
		t.Fatalf("takeover %v, re-election %v; want 3s, 1s", f.Takeover, f.Reelect)
	}

	// b starts at 25 while a leads to 30: an overlap, and a write of a's
	// at 27 is late.
	b.Events[1] = ev(25, EvLead, 2)
	a.Events = []Event{ev(0, EvRun, 0), ev(1, EvLead, 1), ev(27, EvAct, 1), ev(30, EvStop, 0), ev(101, EvExit, 0)}
	f = Check(facts)
	if len(f.Overlaps) != 1 || f.LateActs != 1 {
		t.Fatalf("overlap: %+v", f)
	}
}

func TestCheckPausedAndTerms(t *testing.T) {
	// a leads from 1, paused 10–70, sees its deadline at 71; b leads from
	// 50 with the same term (a term that did not grow).
	a := &Proc{ID: "a", Events: []Event{ev(1, EvLead, 3), ev(71, EvStop, 0), ev(101, EvExit, 0)},
		Paused: []Window{{at(10), at(70)}}}
	b := &Proc{ID: "b", Events: []Event{ev(50, EvLead, 3), ev(101, EvStop, 0)}}
	f := Check(Facts{Procs: []*Proc{a, b}, FaultStart: at(10), Heal: at(70), End: at(100),
		Bound: 8 * time.Second, Provoked: 6 * time.Second, Target: a})
	if len(f.Overlaps) != 0 || len(f.PausedOverlaps) != 1 || f.PausedOverlap != 2100*time.Millisecond {
		t.Fatalf("paused: %+v", f)
	}
	if f.ResumeToStop != 100*time.Millisecond || len(f.TermNotGrown) != 1 || f.Reelect != 0 {
		t.Fatalf("resume %v, terms %v, re-election %v", f.ResumeToStop, f.TermNotGrown, f.Reelect)
	}
	// Stopping 2s after the resume is beyond the grace: a violation.
	a.Events[1] = ev(90, EvStop, 0)
	if f := Check(Facts{Procs: []*Proc{a, b}, FaultStart: at(10), Heal: at(70), End: at(100)}); len(f.Overlaps) != 1 {
		t.Fatalf("late stop after resume: %+v", f)
	}
}

func lead(n int, token fencing.Token, term int64) Event {
	return Event{T: at(n).UnixNano(), Kind: EvLead, Token: token, Term: term}
}

func TestCheckTokens(t *testing.T) {
	// a leads from 1 to 30 with token 100; b from 25 with token 200. a's
	// write at 27 falls in b's later leadership: late; b's at 28 falls in
	// a's earlier one: not late.
	a := &Proc{ID: "a", Events: []Event{lead(1, 100, 1), ev(27, EvAct, 1), ev(30, EvStop, 0)}}
	b := &Proc{ID: "b", Events: []Event{lead(25, 200, 2), ev(28, EvAct, 2), ev(101, EvStop, 0)}}
	facts := Facts{Procs: []*Proc{a, b}, FaultStart: at(20), Heal: at(40), End: at(100)}
	f := Check(facts)
	if f.LateActs != 1 || len(f.TokenNotGrown) != 0 || len(f.TermNotGrown) != 0 {
		t.Fatalf("late %d, tokens %v, terms %v; want 1 late write", f.LateActs, f.TokenNotGrown, f.TermNotGrown)
	}
	// b began later with a lower token, though a higher term: a token
	// that did not grow, a safety failure.
	b.Events[0] = lead(25, 90, 2)
	f = Check(facts)
	if len(f.TokenNotGrown) != 1 || len(f.TermNotGrown) != 0 || !strings.Contains(strings.Join(f.Safety(), "\n"), "fencing token did not grow") {
		t.Fatalf("tokens %v, terms %v, safety %v", f.TokenNotGrown, f.TermNotGrown, f.Safety())
	}
	// No token at all.
	b.Events[0] = lead(25, 0, 2)
	if f := Check(facts); len(f.TokenNotGrown) != 1 {
		t.Fatalf("no token: %v", f.TokenNotGrown)
	}
}
