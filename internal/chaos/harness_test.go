//go:build go1.25

package chaos

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
)

// The skewed clock runs at its rate, and its timers never fire before their
// duration has passed on it.
func TestSkewedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := skewedClock{origin: time.Now(), offset: time.Hour, rate: 1.5}
		start := c.Now()
		if got := start.Sub(c.origin); got != time.Hour {
			t.Errorf("offset: %v, want 1h", got)
		}
		tm := c.NewTimer(3 * time.Second)
		trueStart := time.Now()
		<-tm.C()
		if got := time.Since(trueStart); got < 2*time.Second || got > 2*time.Second+time.Microsecond {
			t.Errorf("a 3s timer at rate 1.5 took %v of true time, want 2s", got)
		}
		if got := c.Now().Sub(start); got < 3*time.Second {
			t.Errorf("the timer fired after %v on its clock, before 3s", got)
		}
		fired := make(chan struct{})
		c.AfterFunc(time.Second, func() { close(fired) })
		<-fired
	})
}

// Generate draws only plans that the elector accepts, within the bound
// unless asked for more, with faults that end by Heal.
func TestGenerate(t *testing.T) {
	seen := map[string]uint64{}
	stands := map[string]int{}
	for seed := uint64(1); seed <= 300; seed++ {
		for _, outside := range []bool{false, true} {
			p := Generate(seed, outside)
			n := 0
			for _, c := range p.Candidates {
				if c.Stand {
					n++
				}
			}
			switch n {
			case 0:
				stands["none"]++
			case len(p.Candidates):
				stands["all"]++
			default:
				stands["some"]++
			}
			var kinds []string
			for _, c := range p.Candidates {
				kinds = append(kinds, c.Kind)
			}
			if !p.Timing.accepted(kinds) {
				t.Fatalf("seed %d: timing refused by the elector: %+v", seed, p.Timing)
			}
			if n := len(p.Candidates); n < 3 || n > 5 {
				t.Fatalf("seed %d: %d candidates", seed, n)
			}
			if p.withinBound() == outside {
				t.Fatalf("seed %d outside=%v: rates %v", seed, outside, p.String())
			}
			for _, f := range p.Faults {
				key := string(f.Kind) + f.Variant
				if f.Kind == Transfer && f.Variant != TransferAbsent && f.Variant != TransferLeader {
					key = string(f.Kind) + "candidate"
				}
				if _, ok := seen[key]; !ok {
					seen[key] = seed
				}
				if f.Kind == Transfer && !transferable(p) {
					t.Fatalf("seed %d: a transfer in a plan that is not on a pure Lease lock:\n%s", seed, p)
				}
				if f.At+max(f.For, 0) > p.Heal {
					t.Fatalf("seed %d: fault %v ends after the heal at %v", seed, f, p.Heal)
				}
			}
			if again := Generate(seed, outside); again.String() != p.String() {
				t.Fatalf("seed %d: two draws differ", seed)
			}
		}
	}
	for _, k := range []string{"latency", "slow-answer", "error", "lost-answerhang", "lost-answererror", "hang", "partitionhang", "partitionerror",
		"watch-empty", "watch-gone", "close-watches", "crash", "release", "delete-lock", "garbageannotation-json", "garbagelease-duration-float",
		"garbagelease-duration-string", "garbagerenew-time-garbage", "intruder", "intruderhuge",
		"transfercandidate", "transferabsent", "transferleader"} {
		if seen[k] == 0 {
			t.Errorf("no plan in 300 seeds has a %s fault", k)
		} else {
			t.Logf("first seed with %s: %d", k, seen[k])
		}
	}
	for _, k := range []string{"none", "some", "all"} {
		if stands[k] < 100 {
			t.Errorf("%d of 600 plans have %s of their candidates Stand, want a third or so", stands[k], k)
		}
	}
}

// A quiet election on each lock kind passes every check and keeps one
// leader.
func TestQuietRun(t *testing.T) {
	for _, kind := range []string{rl.LeasesResourceLock, rl.EndpointsResourceLock, rl.ConfigMapsResourceLock, rl.EndpointsLeasesResourceLock} {
		t.Run(kind, func(t *testing.T) {
			var cs []Candidate
			for i, rate := range []float64{1, 1.2, 0.9} {
				cs = append(cs, Candidate{ID: string(rune('a' + i)), Kind: kind, Rate: rate, Join: time.Duration(i) * time.Second})
			}
			p := Plan{Name: "quiet-" + kind, Timing: Timing{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second},
				Candidates: cs, End: 5 * time.Minute, CheckRates: true}
			res := runPlan(t, p)
			if res.Failed() || res.Leaderships != 1 || res.FencedWrites == 0 {
				t.Errorf("%d leaderships, %d fenced writes:\n%s", res.Leaderships, res.FencedWrites, res.Report())
			}
		})
	}
}

// The checker sees overlaps: with a follower's clock three times as fast
// as the leader's (outside LeaseDuration/RenewDeadline = 1.5), a leader
// cut off from the server still acts when the follower takes over. The
// overlap is counted, and does not fail a run drawn outside the bound.
func TestOverlapOutsideBoundIsCounted(t *testing.T) {
	cs := []Candidate{{ID: "slow", Kind: rl.LeasesResourceLock, Rate: 1}, {ID: "fast", Kind: rl.LeasesResourceLock, Rate: 3, Join: time.Second}}
	p := Plan{Name: "outside", Outside: true,
		Timing:     Timing{LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second},
		Candidates: cs,
		Faults:     []Fault{{Kind: Partition, At: 20500 * time.Millisecond, For: 30 * time.Second, Target: 0, Variant: "error"}},
		Heal:       51 * time.Second, End: 3 * time.Minute}
	res := runPlan(t, p)
	if res.WithinBound || res.Overlaps == 0 || res.OverlapTime <= 0 {
		t.Errorf("want an overlap counted outside the bound:\n%s", res.Report())
	}
	for _, v := range res.Violations {
		if v.Kind == "overlap" {
			t.Errorf("an overlap outside the bound failed the run: %v", v)
		}
	}
	// The same run inside the bound (the follower's clock 1.4 times as
	// fast) has no overlap.
	p.Outside, p.Candidates[1].Rate = false, 1.4
	if res := runPlan(t, p); res.Failed() || res.Overlaps != 0 {
		t.Errorf("inside the bound:\n%s", res.Report())
	}
}

// The fenced store is a fencing.Checker: it accepts a leadership's token
// and every higher one and refuses lower ones, and a refused write of a
// deposed leader is no violation. The recorder fails a run on a write the
// Checker accepted after a write of a leadership that began later (here b
// carries a's token, as a leader whose token came from an earlier
// leadership would, and a paused a writes again after b), on a write refused
// although no later leadership had written, and on tokens that do not grow
// in the order the leaderships began.
func TestFencedStore(t *testing.T) {
	start := time.Now()
	// lead is a leadership whose acquiring write was stored at second n
	// with resourceVersion rv, and which writes with token.
	lead := func(n int, name string, rv int64, token fencing.Token) *leadership {
		at := start.Add(time.Duration(n) * time.Second)
		return &leadership{n: n, name: name, start: at, stored: at, rv: rv, token: token, termOK: true}
	}
	type step struct {
		l    *leadership
		kind string // the violation the write is, "" for none
	}
	run := func(t *testing.T, ls []*leadership, steps []step) *Result {
		h := &harness{plan: Plan{Name: "fence", Timing: defaults(), Candidates: []Candidate{{ID: "c0", Rate: 1}}, Heal: time.Minute, End: time.Minute},
			start: start}
		h.rec = newRecorder(h)
		h.rec.leaderships = ls
		for i, s := range steps {
			kind, _ := h.rec.store.write(s.l, s.l.token)
			if kind != s.kind {
				t.Errorf("step %d (%s, token %d): %q, want %q", i, s.l.name, s.l.token, kind, s.kind)
			}
			// And through the recorder, as the leaders write.
			h.rec.fencedWrite(s.l, 0, false, 0, errors.New("not asked"))
		}
		return h.rec.result()
	}
	kinds := func(r *Result) map[string]int {
		m := map[string]int{}
		for _, v := range r.Violations {
			m[v.Kind]++
		}
		return m
	}

	t.Run("tokens in order", func(t *testing.T) {
		a, b, c := lead(0, "a", 10, 10), lead(1, "b", 20, 20), lead(2, "c", 35, 36)
		res := run(t, []*leadership{a, b, c}, []step{{a, ""}, {a, ""}, {b, ""}, {a, ""}, {c, ""}, {b, ""}, {c, ""}})
		// Each step wrote twice: once to the store, once through the recorder.
		if res.Failed() || res.FencedWrites != 10 || res.FenceRejected != 4 || res.StaleWrites != 0 {
			t.Errorf("accepted %d refused %d stale %d, want 10 4 0; violations %v", res.FencedWrites, res.FenceRejected, res.StaleWrites, res.Violations)
		}
	})
	t.Run("a later leadership with an earlier token", func(t *testing.T) {
		a, b := lead(0, "a", 10, 10), lead(1, "b", 20, 10)
		res := run(t, []*leadership{a, b}, []step{{a, ""}, {b, ""}, {a, "stale-write"}, {b, ""}})
		if !res.Failed() || res.StaleWrites != 2 {
			t.Errorf("stale %d, want 2 (and a failed run):\n%s", res.StaleWrites, res.Report())
		}
		if k := kinds(res); k["stale-write"] == 0 || k["token-order"] != 1 {
			t.Errorf("violations %v, want stale-write and one token-order", k)
		}
	})
	t.Run("a later leadership with a lower token", func(t *testing.T) {
		a, b := lead(0, "a", 10, 10), lead(1, "b", 20, 5)
		res := run(t, []*leadership{a, b}, []step{{a, ""}, {b, "fence-refused"}})
		if k := kinds(res); !res.Failed() || k["fence-refused"] == 0 || k["token-order"] != 1 {
			t.Errorf("violations %v, want fence-refused and one token-order", k)
		}
	})
	t.Run("no token", func(t *testing.T) {
		a := lead(0, "a", 10, 0)
		if res := run(t, []*leadership{a}, nil); res.Failed() {
			t.Errorf("%v", res.Violations)
		}
		h := &harness{plan: Plan{Timing: defaults(), Candidates: []Candidate{{ID: "c0", Rate: 1}}}, start: start}
		h.rec = newRecorder(h)
		h.rec.fencedWrite(a, 0, false, 0, errors.New("not asked"))
		if acc, ref, _ := h.rec.store.counts(); acc+ref != 0 {
			t.Errorf("a leadership without a token wrote: %d accepted, %d refused", acc, ref)
		}
	})
}
