package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// budgetPoint is one setting on an implementation's curve: the fleet's
// requests per minute and a failover percentile, in seconds.
type budgetPoint struct {
	budget, seconds float64
	label           string
}

// atBudget is the failover the curve pts reaches spending at most budget:
// interpolated linearly in log(budget)–log(seconds) between the two
// settings around budget; at or beyond the dearest setting, that
// setting's figure (no extrapolation). ok is false when even the cheapest
// setting spends more than budget.
func atBudget(pts []budgetPoint, budget float64) (seconds float64, ok bool) {
	s := sortedByBudget(pts)
	if len(s) == 0 || budget < s[0].budget {
		return 0, false
	}
	for i := 0; i+1 < len(s); i++ {
		a, b := s[i], s[i+1]
		if budget >= a.budget && budget < b.budget {
			t := math.Log(budget/a.budget) / math.Log(b.budget/a.budget)
			return math.Exp(math.Log(a.seconds) + t*math.Log(b.seconds/a.seconds)), true
		}
	}
	return s[len(s)-1].seconds, true
}

// bestWithin is the measured setting with the lowest figure among those
// that spend at most budget; ok is false when there is none.
func bestWithin(pts []budgetPoint, budget float64) (budgetPoint, bool) {
	var best budgetPoint
	ok := false
	for _, p := range pts {
		if p.budget <= budget && (!ok || p.seconds < best.seconds) {
			best, ok = p, true
		}
	}
	return best, ok
}

func sortedByBudget(pts []budgetPoint) []budgetPoint {
	s := append([]budgetPoint(nil), pts...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].budget < s[j].budget })
	return s
}

// frontier is pts by budget, keeping a setting only when its failover is
// shorter than that of every cheaper one: the settings worth picking.
func frontier(pts []budgetPoint) []budgetPoint {
	s := append([]budgetPoint(nil), pts...)
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].budget != s[j].budget {
			return s[i].budget < s[j].budget
		}
		return s[i].seconds < s[j].seconds
	})
	var out []budgetPoint
	for _, p := range s {
		if len(out) == 0 || p.seconds < out[len(out)-1].seconds {
			out = append(out, p)
		}
	}
	return out
}

// niceLog rounds v down (up false) or up to the nearest 1, 2 or 5 times
// a power of ten.
func niceLog(v float64, up bool) float64 {
	e := math.Floor(math.Log10(v))
	p := math.Pow(10, e)
	steps := []float64{1, 2, 5, 10}
	if up {
		for _, m := range steps {
			if m*p >= v*(1-1e-9) {
				return m * p
			}
		}
		return 10 * p
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i]*p <= v*(1+1e-9) {
			return steps[i] * p
		}
	}
	return p
}

// logTicks are the values 1, 2 and 5 times a power of ten in [lo, hi].
func logTicks(lo, hi float64) []float64 {
	var ticks []float64
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				ticks = append(ticks, v)
			}
		}
	}
	return ticks
}

// logAxis maps [lo, hi] logarithmically onto pixels [from, to] (to < from
// for a y axis, which grows upwards).
type logAxis struct{ lo, hi, from, to float64 }

func (a logAxis) pos(v float64) float64 {
	return a.from + math.Log(v/a.lo)/math.Log(a.hi/a.lo)*(a.to-a.from)
}

// axisFor is a log axis over the values, widened a little and out to 1-2-5
// values.
func axisFor(vals []float64, from, to float64) logAxis {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	return logAxis{niceLog(lo/1.15, false), niceLog(hi*1.15, true), from, to}
}

// curveSeries is one implementation's curve for the chart.
type curveSeries struct {
	name     string
	p50, p99 []budgetPoint
}

// tickLabel prints a tick value without trailing zeros.
func tickLabel(v float64) string {
	if v >= 1 {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// tradeoffChart is the SVG: failover (p99 filled and joined by a solid
// line, p50 hollow and dashed) against the fleet's requests per minute,
// both on log axes, a label per setting.
func tradeoffChart(series []curveSeries, p99Name string) string {
	const w, h, left, right, top, bottom = 760, 500, 70, 170, 40, 60
	var xs, ys []float64
	for _, s := range series {
		for _, p := range append(append([]budgetPoint(nil), s.p50...), s.p99...) {
			xs, ys = append(xs, p.budget), append(ys, p.seconds)
		}
	}
	x := axisFor(xs, left, w-right)
	y := axisFor(ys, h-bottom, top)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-weight="bold">failover after SIGKILL of the leader against API-server requests, 3 candidates</text>`+"\n", left)
	for _, t := range logTicks(x.lo, x.hi) {
		px := x.pos(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px, top, px, h-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", px, h-bottom+16, tickLabel(t))
	}
	for _, t := range logTicks(y.lo, y.hi) {
		py := y.pos(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, py, w-right, py)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", left-6, py+4, tickLabel(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, top, w-left-right, h-top-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">apiserver_request_total on leases per minute, whole fleet (log scale)</text>`+"\n", (left+w-right)/2, h-bottom+40)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">failover: kill → next leader, s (log scale)</text>`+"\n", (top+h-bottom)/2)
	colors := []string{"#1f77b4", "#d62728"}
	for i, s := range series {
		c := colors[i%len(colors)]
		for _, line := range []struct {
			pts    []budgetPoint
			dashed bool
		}{{s.p99, false}, {s.p50, true}} {
			var path []string
			for _, p := range sortedByBudget(line.pts) {
				path = append(path, fmt.Sprintf("%.1f,%.1f", x.pos(p.budget), y.pos(p.seconds)))
			}
			dash := ""
			if line.dashed {
				dash = ` stroke-dasharray="5 4"`
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"%s/>`+"\n", strings.Join(path, " "), c, dash)
		}
		for _, p := range s.p50 {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n", x.pos(p.budget), y.pos(p.seconds), c)
		}
		for _, p := range s.p99 {
			px, py := x.pos(p.budget), y.pos(p.seconds)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s"/>`+"\n", px, py, c)
			// The first curve's labels below left of its points, the
			// second's above right: outside the band between the curves.
			dx, dy, anchor := -8.0, 14.0, "end"
			if i%2 == 1 {
				dx, dy, anchor = 8, -6, "start"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="11" fill="%s">%s</text>`+"\n", px+dx, py+dy, anchor, c, p.label)
		}
		ly := top + 10 + i*60
		lx := w - right + 16
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s" font-weight="bold">%s</text>`+"\n", lx, ly+4, c, s.name)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.5"/><circle cx="%d" cy="%d" r="4.5" fill="%s"/>`+"\n", lx, ly+18, lx+24, ly+18, c, lx+12, ly+18, c)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">%s</text>`+"\n", lx+30, ly+22, p99Name)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="5 4"/><circle cx="%d" cy="%d" r="4" fill="white" stroke="%s" stroke-width="1.5"/>`+"\n", lx, ly+34, lx+24, ly+34, c, lx+12, ly+34, c)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">p50</text>`+"\n", lx+30, ly+38)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555">labels: LeaseDuration/RenewDeadline/RetryPeriod</text>`+"\n", left, h-8)
	b.WriteString("</svg>\n")
	return b.String()
}

// seriesOf is the chart's curves from the measurement.
func seriesOf(r *curveResult) []curveSeries {
	var out []curveSeries
	for i, im := range procImpls {
		s := curveSeries{name: im.name}
		for _, p := range r.points[i] {
			lbl := strings.TrimSuffix(p.s.label(), " s")
			perMin := max(p.perMin, 0.1) // a log axis; noise can make a tiny rate negative
			s.p50 = append(s.p50, budgetPoint{perMin, percentile(p.failover, 0.5).Seconds(), lbl})
			s.p99 = append(s.p99, budgetPoint{perMin, percentile(p.failover, 0.99).Seconds(), lbl})
		}
		out = append(out, s)
	}
	return out
}

// secs prints seconds to the millisecond.
func secs(v float64) string { return fmt.Sprintf("%.2f s", v) }

// durSecs prints a duration in seconds.
func durSecs(d time.Duration) string { return secs(d.Seconds()) }
