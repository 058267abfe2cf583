package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// machine is one line about where it ran.
func machine(loadBefore, loadAfter string) string {
	goVersion, _ := exec.Command("go", "version").Output()
	return fmt.Sprintf("Machine: %s/%s, %d CPUs, shared; %s; load average (1, 5, 15 min) %s before the run and %s after it.",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), strings.TrimSpace(string(goVersion)), loadBefore, loadAfter)
}

// p99Name is what the p99 column is, given the number of trials.
func p99Name(n int) string {
	if n < 100 {
		return "p99 (= max: < 100 trials)"
	}
	return "p99"
}

// curveMarkdown is the trade-off curve's section of BENCHMARKS.md.
func curveMarkdown(r *curveResult, svgName, command, mach string) string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "## Failover against API-server requests: the trade-off curve\n\n")
	fmt.Fprintf(&b, "Measured %s by `%s` against kube-apiserver v1.37.2 + etcd v3.7.0 on 127.0.0.1, both implementations in one run; it took %v. %s\n\n",
		time.Now().UTC().Format("2006-01-02"), command, r.took.Round(time.Second), mach)
	fmt.Fprintf(&b, "Each fleet is 3 candidates, each a process of its own (`cmd/candidate-kubelect`, `cmd/candidate-clientgo`: in-cluster config, a Lease lock, the default logger), on a Lease of its own. "+
		"Failover: a fleet starts on a fresh Lease; when one leads, after 2 s + 2·RetryPeriod + a uniformly random part of RetryPeriod (the followers watch or poll by then, and the kill falls at any phase of the renewals) the parent sends it SIGKILL; "+
		"the figure is the time from the kill to the next OnStartedLeading, by the successor's own clock (one machine, one CLOCK_REALTIME). "+
		"%d trials per implementation and setting, %d fleets of each implementation at once; percentiles by nearest rank%s. "+
		"Requests: `apiserver_request_total` on the leases resource over a %v window in which %d steady fleets of one implementation run alone, divided by %d, less the server's own lease traffic (%.1f/min, measured in a quiet %v first); "+
		"a watch counts when it ends (kube-apiserver ends each after 30 to 60 minutes), so kubelect's followers, which hold one watch each and make no other request, count as 0 here.\n\n",
		o.trials, o.fleets, map[bool]string{true: "; with fewer than 100 trials the p99 column is the slowest trial", false: ""}[o.trials < 100],
		o.window, o.fleets, o.fleets, r.quiet, o.quiet)
	n := 0
	if len(r.points[0]) > 0 {
		n = len(r.points[0][0].failover)
	}
	fmt.Fprintf(&b, "| LeaseDuration/RenewDeadline/RetryPeriod | kubelect: requests/min | kubelect: failover p50 / %s / max | client-go: requests/min | client-go: failover p50 / %s / max |\n|---|---|---|---|---|\n", p99Name(n), p99Name(n))
	for j := range r.points[0] {
		k, c := r.points[0][j], r.points[1][j]
		fmt.Fprintf(&b, "| %s | %.1f | %s | %.1f | %s |\n", k.s.label(), k.perMin, failoverDist(k), c.perMin, failoverDist(c))
	}
	fmt.Fprintf(&b, "\n![failover against requests](%s)\n\n", svgName)

	series := seriesOf(r)
	ours, theirs := series[0], series[1]
	fmt.Fprintf(&b, "### kubelect at client-go's budgets\n\n")
	fmt.Fprintf(&b, "For each client-go setting, kubelect's p99 failover when it spends at most what that setting spends: interpolated along kubelect's curve (log–log, between the two settings around the budget; no extrapolation past its dearest setting), and at the best measured kubelect setting within the budget. Goal: at most half of client-go's p99.\n\n")
	fmt.Fprintf(&b, "| client-go setting | its requests/min | its p99 | kubelect p99 within that budget, interpolated | ratio | best kubelect setting within it: p99 | ratio | goal ≤ 0.5 |\n|---|---|---|---|---|---|---|---|\n")
	for j, c := range theirs.p99 {
		interp, ok := atBudget(ours.p99, c.budget)
		best, okBest := bestWithin(ours.p99, c.budget)
		cell, ratio, bestCell, bestRatio, verdict := "none within it", "–", "none within it", "–", "not met"
		if ok {
			cell, ratio = secs(interp), fmt.Sprintf("%.2f", interp/c.seconds)
		}
		if okBest {
			bestCell, bestRatio = fmt.Sprintf("%s s: %s", best.label, secs(best.seconds)), fmt.Sprintf("%.2f", best.seconds/c.seconds)
		}
		switch {
		case okBest && best.seconds <= c.seconds/2:
			verdict = "met"
		case ok && interp <= c.seconds/2:
			verdict = "met on the interpolated curve only"
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s | %s | %s | %s | %s | %s |\n", r.points[1][j].s.label(), c.budget, secs(c.seconds), cell, ratio, bestCell, bestRatio, verdict)
	}
	fmt.Fprintf(&b, "\n### Which setting to pick\n\n")
	fmt.Fprintf(&b, "With a budget of API-server requests per minute for the whole election, the measured kubelect setting with the lowest p99 failover within it (a setting no better than a cheaper one is left out; kubelect's cost is its leader's renewals, 60/RetryPeriod a minute whatever the number of followers; client-go's grows with every follower):\n\n")
	fmt.Fprintf(&b, "| budget, requests/min | kubelect setting | its requests/min | failover p50 / p99 | client-go's best within the same budget: setting, p50 / p99 |\n|---|---|---|---|---|\n")
	sorted := frontier(ours.p99)
	for i, p := range sorted {
		var rng string
		if i+1 < len(sorted) {
			rng = fmt.Sprintf("%.0f to %.0f", p.budget, sorted[i+1].budget)
		} else {
			rng = fmt.Sprintf("%.0f or more", p.budget)
		}
		kp := pointByLabel(r, 0, p.label)
		cg := "none within it"
		if cb, ok := bestWithin(theirs.p99, p.budget); ok {
			cp := pointByLabel(r, 1, cb.label)
			cg = fmt.Sprintf("%s s, %s / %s", cb.label, durSecs(percentile(cp.failover, 0.5)), durSecs(percentile(cp.failover, 0.99)))
		}
		fmt.Fprintf(&b, "| %s | %s s | %.1f | %s / %s | %s |\n", rng, p.label, p.budget, durSecs(percentile(kp.failover, 0.5)), durSecs(percentile(kp.failover, 0.99)), cg)
	}
	return b.String()
}

func pointByLabel(r *curveResult, impl int, label string) *curvePoint {
	for _, p := range r.points[impl] {
		if strings.TrimSuffix(p.s.label(), " s") == label {
			return p
		}
	}
	return &curvePoint{}
}

func failoverDist(p *curvePoint) string {
	s := fmt.Sprintf("%s / %s / %s", durSecs(percentile(p.failover, 0.5)), durSecs(percentile(p.failover, 0.99)), durSecs(percentile(p.failover, 1)))
	var notes []string
	if p.timedOut > 0 {
		notes = append(notes, fmt.Sprintf("%d without a new leader in time", p.timedOut))
	}
	if p.noLeader > 0 {
		notes = append(notes, fmt.Sprintf("%d run again: no first leader", p.noLeader))
	}
	if p.disturbed > 0 {
		notes = append(notes, fmt.Sprintf("%d run again: the leadership ended or changed before the kill", p.disturbed))
	}
	if p.steadyNoLeader > 0 {
		notes = append(notes, fmt.Sprintf("%d steady fleets with no leader before the window", p.steadyNoLeader))
	}
	if p.changes > 0 {
		notes = append(notes, fmt.Sprintf("%d leader changes in the steady window", p.changes))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s
}

// coldMarkdown is the cold-start section of BENCHMARKS.md.
func coldMarkdown(rs []*coldResult, trials int, command, mach string, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Cold start: process start to OnStartedLeading\n\n")
	fmt.Fprintf(&b, "Measured %s by `%s`; it took %v. %s\n\n", time.Now().UTC().Format("2006-01-02"), command, took.Round(time.Second), mach)
	fmt.Fprintf(&b, "`cmd/candidate-kubelect` and `cmd/candidate-clientgo` with `-once`, built as `go build` builds by default: the parent reads its clock just before the exec and passes it in `LEADERBENCH_T0`; "+
		"the child measures, against it, when main starts and when OnStartedLeading runs, after loading the in-cluster config (token, CA, namespace), building the client, the TLS handshake and the acquiring write; then it releases and exits. "+
		"The floor is `cmd/candidate-floor`: no library, only what any Go program must do to take the Lease (read the same files, a net/http client trusting the CA over HTTP/2, a GET and a POST or PUT), with the same timestamps. "+
		"One process at a time, the programs and kinds of lock alternating, %d trials each; a free lock is a Lease name never used, a released lock the Lease the previous trial released as it exited. "+
		"Figures are p50 / p99 / max by nearest rank%s. Goal: p99 ≤ 50 ms on loopback.\n\n",
		trials, map[bool]string{true: " (with fewer than 100 trials p99 is the slowest)", false: ""}[trials < 100])
	fmt.Fprintf(&b, "| implementation | lock | start → OnStartedLeading | start → main | CPU time of the whole process (user + sys, to its exit) | goal p99 ≤ 50 ms |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		met := "met"
		switch {
		case r.impl == floorImpl.name:
			met = "(the floor)"
		case percentile(r.lead, 0.99) > 50*time.Millisecond:
			met = "not met"
		}
		fmt.Fprintf(&b, "| %s | %s | %s / %s / %s | %s / %s / %s | %s / %s / %s | %s |\n", r.impl, r.scenario,
			ms1(percentile(r.lead, 0.5)), ms1(percentile(r.lead, 0.99)), ms1(percentile(r.lead, 1)),
			ms1(percentile(r.main, 0.5)), ms1(percentile(r.main, 0.99)), ms1(percentile(r.main, 1)),
			ms1(percentile(r.cpu, 0.5)), ms1(percentile(r.cpu, 0.99)), ms1(percentile(r.cpu, 1)), met)
	}
	fmt.Fprintf(&b, "\nWhere the time goes, medians of each phase (the child's timestamps; a transport wrapper with net/http/httptrace times each request, its connection and TLS handshake):\n\n")
	fmt.Fprintf(&b, "| implementation | lock | start → main | main → config loaded | → client and elector built | → first request sent | first TLS handshake | first request's round trip | its answer → the write sent | acquiring write's round trip | write answered → OnStartedLeading | requests, TLS handshakes |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		p := medianPhases(r.traces)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d, %d |\n", r.impl, r.scenario,
			ms1(p.main), ms1(p.config), ms1(p.client), ms1(p.firstSend), ms1(p.handshake), ms1(p.firstAnswer), ms1(p.between), ms1(p.write), ms1(p.after), p.requests, p.handshakes)
	}
	return b.String()
}

// ms1 prints milliseconds with one decimal; "–" for a phase that did not
// happen.
func ms1(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
