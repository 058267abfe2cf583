//go:build go1.25

//go:debug asynctimerchan=0

package chaos

import (
	"flag"
	"os"
	"strconv"
	"testing"
	"testing/synctest"
	"time"
)

var (
	seedFlag     = flag.Uint64("seed", 0, "replay the campaign run with this seed only")
	outsideFlag  = flag.Bool("outside", false, "with -seed: draw the clock rates outside the bound, as that run did")
	runsFlag     = flag.Int("runs", 0, "campaign runs (default: $KUBELECT_CHAOS_RUNS, else 60; 6 under -race, 10 with -short)")
	seedBase     = flag.Uint64("seedbase", 1, "seed of the first campaign run; run i has seed seedbase+i")
	outsideEvery = flag.Int("outside-every", 10, "every n-th run draws its clock rates outside the bound (0: never)")
	maxReports   = flag.Int("reports", 5, "failure reports printed in full")
	strict       = flag.Bool("strict", false, "fail runs that hit a documented limit of the elector too")
	replays      = flag.Int("replays", 20, "with -seed: run the seed up to this many times until it fails (the elector's jitter and the order of goroutines at one instant are not seeded)")
)

// campaignRuns is the number of runs TestCampaign makes.
func campaignRuns() int {
	if *runsFlag > 0 {
		return *runsFlag
	}
	if n, err := strconv.Atoi(os.Getenv("KUBELECT_CHAOS_RUNS")); err == nil && n > 0 {
		return n
	}
	if raceEnabled {
		return 6
	}
	if testing.Short() {
		return 10
	}
	return 60
}

// failed reports whether res fails the test: a broken invariant, or with
// -strict a documented limit hit.
func failed(res *Result) bool { return res.Failed() || (*strict && res.Limited()) }

// runPlan runs plan in its own synctest bubble.
func runPlan(t *testing.T, plan Plan) *Result {
	var res *Result
	synctest.Test(t, func(t *testing.T) { res = Run(plan) })
	return res
}

// TestCampaign runs seeded random elections with faults and checks every
// invariant; with -seed it replays one run. The figures are logged (-v).
func TestCampaign(t *testing.T) {
	if *seedFlag != 0 {
		var res *Result
		for i := 0; i < max(1, *replays); i++ {
			if res = runPlan(t, Generate(*seedFlag, *outsideFlag)); failed(res) {
				t.Errorf("failed on try %d:\n%s", i+1, res.Report())
				return
			}
		}
		t.Logf("passed %d tries; the last:\n%s", max(1, *replays), res.Report())
		return
	}
	stats := NewStats()
	n := campaignRuns()
	reported := 0
	began := time.Now()
	for i := range n {
		if i > 0 && i%1000 == 0 {
			t.Logf("%d runs, %d failed, %v", i, stats.Failed, time.Since(began).Round(time.Second))
		}
		seed := *seedBase + uint64(i)
		outside := *outsideEvery > 0 && i%*outsideEvery == *outsideEvery-1
		res := runPlan(t, Generate(seed, outside))
		stats.Add(res)
		if failed(res) {
			if reported < *maxReports {
				t.Error(res.Report())
			} else {
				t.Errorf("seed %d failed: %v (replay: go test ./internal/chaos -run TestCampaign -seed=%d%s -v)", seed, res.firstFailure(), seed, outsideArg(res.Plan))
			}
			reported++
		}
	}
	t.Logf("campaign figures (%v of real time):\n%s", time.Since(began).Round(time.Second), stats)
}
