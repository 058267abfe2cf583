package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	for _, tc := range []struct {
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 0.5, 3 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 0.99, 5 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), 0.9, 90 * time.Millisecond},
		{ms(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), 0.99, 100 * time.Millisecond},
	} {
		in := append([]time.Duration(nil), tc.ds...)
		if got := percentile(tc.ds, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.ds, tc.p, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.ds[i] {
				t.Fatalf("percentile sorted its argument")
			}
		}
	}
	// 100 values: p99 is the 99th, not the largest.
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	if got := percentile(hundred, 0.99); got != 99 {
		t.Errorf("p99 of 1..100 = %v, want 99", got)
	}
}

func TestMeanMax(t *testing.T) {
	if m := mean([]float64{1, 2, 6}); m != 3 {
		t.Errorf("mean = %v", m)
	}
	if m := maxOf([]float64{-3, -1, -2}); m != -1 {
		t.Errorf("maxOf = %v", m)
	}
	if sd := stddev([]float64{2, 4, 4, 4, 5, 5, 7, 9}); sd < 2.138 || sd > 2.139 {
		t.Errorf("stddev = %v, want 2.138 (sample)", sd)
	}
	if mean(nil) != 0 || maxOf(nil) != 0 || stddev([]float64{1}) != 0 {
		t.Error("empty")
	}
}

func TestMostWithin(t *testing.T) {
	ms := int64(time.Millisecond)
	times := []int64{100 * ms, 0, 5 * ms, 19 * ms, 20 * ms, 21 * ms, 41 * ms}
	// [0, 20 ms] holds 0, 5, 19, 20; [5, 25] holds 5, 19, 20, 21.
	if got := mostWithin(times, 20*ms); got != 4 {
		t.Errorf("mostWithin = %d, want 4", got)
	}
	if got := mostWithin(nil, ms); got != 0 {
		t.Errorf("empty: %d", got)
	}
	if got := mostWithin([]int64{3, 3, 3}, 0); got != 3 {
		t.Errorf("same instant: %d", got)
	}
}

func TestTakeoverHerd(t *testing.T) {
	ms := int64(time.Millisecond)
	const old, winner = 0, 2
	recs := []record{
		{cand: 1, at: 1 * ms, verb: vGET, code: 200},    // before the window
		{cand: old, at: 10 * ms, verb: vPUT, code: 200}, // the release: a request, not a follower's write
		{cand: 1, at: 12 * ms, verb: vWATCH, code: 200},
		{cand: winner, at: 20 * ms, verb: vPUT, code: 200}, // the acquiring write
		{cand: 1, at: 21 * ms, verb: vPUT, code: 409},
		{cand: 3, at: 30 * ms, verb: vPUT, code: 409},
		{cand: 3, at: 60 * ms, verb: vGET, code: 200},
		{cand: 4, at: 90 * ms, verb: vPOST, code: 409},
		{cand: winner, at: 24 * ms, verb: vPUT, code: 200},  // a renewal before OnStartedLeading ran: left out
		{cand: winner, at: 200 * ms, verb: vPUT, code: 200}, // a renewal after it led: left out
		{cand: 1, at: 500 * ms, verb: vPUT, code: 409},      // after the window
	}
	h := takeoverHerd(recs, 5*ms, 300*ms, 25*ms, old, winner)
	if h.writes != 4 || h.conflicts != 3 || h.writers != 4 {
		t.Errorf("writes, conflicts, writers = %d, %d, %d; want 4, 3, 4", h.writes, h.conflicts, h.writers)
	}
	if h.burst != 3 || h.spread != 70*time.Millisecond {
		t.Errorf("burst, spread = %d, %v; want 3, 70ms", h.burst, h.spread)
	}
	if h.requests[vPUT] != 4 || h.requests[vGET] != 1 || h.requests[vWATCH] != 1 || h.requests[vPOST] != 1 {
		t.Errorf("requests = %v", h.requests)
	}
}
