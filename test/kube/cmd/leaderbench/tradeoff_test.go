package main

import (
	"encoding/xml"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/benchcand"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

// A curve from cheap and slow to dear and fast, given out of order.
var kubelectCurve = []budgetPoint{
	{120, 4, "4/2/0.5"}, {15, 30, "30/20/4"}, {60, 8, "8/5/1"}, {30, 15, "15/10/2"}, {240, 2, "2/1/0.25"},
}

func TestAtBudget(t *testing.T) {
	for _, tc := range []struct {
		budget, want float64
		ok           bool
	}{
		{10, 0, false},  // cheaper than the cheapest setting
		{15, 30, true},  // a setting exactly
		{60, 8, true},   // a setting exactly
		{240, 2, true},  // the dearest
		{1000, 2, true}, // beyond: the dearest setting's figure, no extrapolation
		{math.Sqrt(60 * 120), math.Sqrt(8 * 4), true}, // halfway in log budget: the geometric mean
		{68, 8 * math.Pow(0.5, math.Log(68.0/60)/math.Log(2)), true},
	} {
		got, ok := atBudget(kubelectCurve, tc.budget)
		if ok != tc.ok || !near(got, tc.want) {
			t.Errorf("atBudget(%v) = %v, %v; want %v, %v", tc.budget, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := atBudget(nil, 100); ok {
		t.Error("atBudget of no curve is ok")
	}
}

func TestBestWithin(t *testing.T) {
	// Not monotone: the dearer of two settings within the budget is slower.
	pts := []budgetPoint{{15, 30, "a"}, {30, 12, "b"}, {60, 14, "c"}}
	for _, tc := range []struct {
		budget float64
		want   string
	}{{14, ""}, {15, "a"}, {59, "b"}, {60, "b"}, {1e6, "b"}} {
		p, ok := bestWithin(pts, tc.budget)
		if got := map[bool]string{true: p.label}[ok]; got != tc.want {
			t.Errorf("bestWithin(%v) = %q, want %q", tc.budget, got, tc.want)
		}
	}
}

// TestFrontier: a setting that costs more than another and fails over no
// sooner is no pick at any budget.
func TestFrontier(t *testing.T) {
	pts := []budgetPoint{
		{240.6, 3.14, "1/0.5/0.25"}, {16, 29.8, "30/20/4"}, {240.6, 2.50, "2/1/0.25"},
		{478.8, 2.50, "1/0.5/0.125"}, {120, 4.10, "4/2/0.5"},
	}
	var got []string
	for _, p := range frontier(pts) {
		got = append(got, p.label)
	}
	if want := []string{"30/20/4", "4/2/0.5", "2/1/0.25"}; !slices.Equal(got, want) {
		t.Errorf("frontier: %v, want %v", got, want)
	}
}

func TestNiceLog(t *testing.T) {
	for _, tc := range []struct {
		v, down, up float64
	}{{1, 1, 1}, {13, 10, 20}, {34, 20, 50}, {0.3, 0.2, 0.5}, {500, 500, 500}, {720, 500, 1000}, {1.9, 1, 2}} {
		if got := niceLog(tc.v, false); !near(got, tc.down) {
			t.Errorf("niceLog(%v, down) = %v, want %v", tc.v, got, tc.down)
		}
		if got := niceLog(tc.v, true); !near(got, tc.up) {
			t.Errorf("niceLog(%v, up) = %v, want %v", tc.v, got, tc.up)
		}
	}
}

func TestLogTicks(t *testing.T) {
	got := logTicks(10, 1000)
	want := []float64{10, 20, 50, 100, 200, 500, 1000}
	if len(got) != len(want) {
		t.Fatalf("logTicks(10, 1000) = %v, want %v", got, want)
	}
	for i := range want {
		if !near(got[i], want[i]) {
			t.Fatalf("logTicks(10, 1000) = %v, want %v", got, want)
		}
	}
	if got := logTicks(0.2, 0.6); len(got) != 2 || !near(got[0], 0.2) || !near(got[1], 0.5) {
		t.Errorf("logTicks(0.2, 0.6) = %v, want [0.2 0.5]", got)
	}
}

func TestLogAxis(t *testing.T) {
	x := logAxis{lo: 10, hi: 1000, from: 100, to: 300}
	for _, tc := range []struct{ v, px float64 }{{10, 100}, {100, 200}, {1000, 300}, {math.Sqrt(10 * 100), 150}} {
		if got := x.pos(tc.v); !near(got, tc.px) {
			t.Errorf("x.pos(%v) = %v, want %v", tc.v, got, tc.px)
		}
	}
	// A y axis grows upwards: from is the bottom pixel.
	y := logAxis{lo: 1, hi: 100, from: 400, to: 0}
	if got := y.pos(10); !near(got, 200) {
		t.Errorf("y.pos(10) = %v, want 200", got)
	}
	a := axisFor([]float64{15, 0, 540}, 0, 1)
	if !near(a.lo, 10) || !near(a.hi, 1000) {
		t.Errorf("axisFor(15, 540) = [%v, %v], want [10, 1000]", a.lo, a.hi)
	}
}

// The chart is well-formed SVG with a marker per point and a label per
// setting; LEADERBENCH_TRADEOFF_SVG names a file to write it to.
func TestTradeoffChart(t *testing.T) {
	var p50 []budgetPoint
	for _, p := range kubelectCurve {
		p50 = append(p50, budgetPoint{p.budget, p.seconds * 0.9, p.label})
	}
	cg := []budgetPoint{{34, 32, "30/20/4"}, {68, 16.5, "15/10/2"}, {135, 9, "8/5/1"}, {270, 5, "4/2/0.5"}, {540, 2.9, "2/1/0.25"}}
	svg := tradeoffChart([]curveSeries{{"kubelect", p50, kubelectCurve}, {"client-go v0.37.2", cg, cg}}, "p99")
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
	}
	if got := strings.Count(svg, "<circle"); got != 20+4 {
		t.Errorf("%d circles, want 24 (20 points, 4 in the legend)", got)
	}
	if got := strings.Count(svg, ">30/20/4<"); got != 2 {
		t.Errorf("label 30/20/4 appears %d times, want 2", got)
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Error("chart has a NaN or Inf coordinate")
	}
	if f := os.Getenv("LEADERBENCH_TRADEOFF_SVG"); f != "" {
		if err := os.WriteFile(f, []byte(svg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPhasesOf(t *testing.T) {
	ms := func(v float64) int64 { return int64(v * float64(time.Millisecond)) }
	tr := benchcand.Trace{
		Main:  ms(20),
		Marks: map[string]int64{"config": ms(21), "client": ms(24)},
		Requests: []*benchcand.Request{
			// Out of order: the watch started after the GET.
			{Method: "GET", Watch: true, Start: ms(26), TLSStart: ms(27), TLSDone: ms(38), Headers: ms(45), Status: 200},
			{Method: "GET", Start: ms(25), TLSStart: ms(26), TLSDone: ms(36), Headers: ms(40), Status: 404},
			{Method: "POST", Start: ms(41), Headers: ms(48), Status: 201},
			{Method: "PUT", Start: ms(60), Headers: ms(62), Status: 200}, // a renewal after the lead
		},
		Lead: ms(49),
	}
	p := phasesOf(tr)
	want := phases{main: 20 * time.Millisecond, config: time.Millisecond, client: 3 * time.Millisecond, firstSend: time.Millisecond,
		handshake: 10 * time.Millisecond, firstAnswer: 15 * time.Millisecond, between: time.Millisecond, write: 7 * time.Millisecond,
		after: time.Millisecond, handshakes: 2, requests: 3}
	if p != want {
		t.Errorf("phasesOf = %+v\nwant       %+v", p, want)
	}
	if m := medianPhases([]benchcand.Trace{tr, tr, tr}); m != want {
		t.Errorf("medianPhases = %+v, want %+v", m, want)
	}
	// No write (cannot happen, but no panic) and no marks: phases absent.
	if p := phasesOf(benchcand.Trace{Main: 5, Lead: 9}); p.config != -1 || p.write != -1 || p.firstSend != -1 {
		t.Errorf("phasesOf(empty) = %+v", p)
	}
}

func TestParseSettings(t *testing.T) {
	got, err := parseSettings("30/20/4, 2/1/0.25")
	if err != nil {
		t.Fatal(err)
	}
	want := []settings{{30 * time.Second, 20 * time.Second, 4 * time.Second}, {2 * time.Second, time.Second, 250 * time.Millisecond}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parseSettings = %v, want %v", got, want)
	}
	if l := got[1].label(); l != "2/1/0.25 s" {
		t.Errorf("label = %q, want 2/1/0.25 s", l)
	}
	for _, bad := range []string{"", "30/20", "30/20/x", "30/0/4"} {
		if _, err := parseSettings(bad); err == nil {
			t.Errorf("parseSettings(%q) accepted it", bad)
		}
	}
}

func TestReplot(t *testing.T) {
	log := `2026/11/26 07:33:29 curve: the server's own lease requests: 6.0/min
2026/11/26 07:34:15 trial kubelect 4/2/0.5 s curve-kubelect-500-3: 3.9s (counted true)
2026/11/26 07:34:16 trial kubelect 4/2/0.5 s curve-kubelect-500-4: 0s (counted false)
2026/11/26 07:34:17 trial clientgo 4/2/0.5 s curve-clientgo-500-1: 4.5s (counted true)
2026/11/26 07:34:18 trial kubelect 2/1/0.25 s curve-kubelect-250-1: 453.26ms (counted true)
2026/11/26 07:34:19 trial clientgo 2/1/0.25 s curve-clientgo-250-1: 2.1s (counted true)
2026/11/26 07:34:19 trial clientgo 1/0.5/0.125 s curve-clientgo-125-1: 1.1s (counted true)
2026/11/26 07:35:12 curve kubelect 4/2/0.5 s: failover p50 3900 ms p99 3900 ms max 3900 ms (1 trials, 0 timed out, 1 run again); 120.6 requests/min per fleet (0 leadership changes)
2026/11/26 07:35:55 curve client-go v0.37.2 4/2/0.5 s: failover p50 4500 ms p99 4500 ms max 4500 ms (1 trials, 0 timed out, 0 run again); 262.8 requests/min per fleet (2 leadership changes)
`
	path := t.TempDir() + "/log"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	keep, _ := parseSettings("4/2/0.5,2/1/0.25")
	r, err := replot(path, keep, curveOptions{settings: keep})
	if err != nil {
		t.Fatal(err)
	}
	k, c := r.points[0][0], r.points[1][0]
	if r.quiet != 6 || len(k.failover) != 1 || k.failover[0] != 3900*time.Millisecond || k.disturbed != 1 || k.perMin != 120.6 {
		t.Errorf("kubelect 4/2/0.5 = %+v (quiet %v)", k, r.quiet)
	}
	if len(c.failover) != 1 || c.perMin != 262.8 || c.changes != 2 {
		t.Errorf("client-go 4/2/0.5 = %+v", c)
	}
	if got := r.points[0][1].failover; len(got) != 1 || got[0] != 453260*time.Microsecond {
		t.Errorf("kubelect 2/1/0.25 trials = %v", got)
	}
}
