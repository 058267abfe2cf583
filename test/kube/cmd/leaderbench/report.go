package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func dist(ds []time.Duration) string {
	return fmt.Sprintf("%s / %s / %s / %s", ms(percentile(ds, 0.5)), ms(percentile(ds, 0.95)), ms(percentile(ds, 0.99)), ms(percentile(ds, 1)))
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// markdown is BENCHMARKS.md.
func markdown(rs []*result, base *baseline, quiet float64, trials int, steady time.Duration, latency, defaults settings, took time.Duration) string {
	ours, cg := rs[0], rs[1]
	var b strings.Builder
	goVersion, _ := exec.Command("go", "version").Output()
	fmt.Fprintf(&b, "# Benchmarks: kubelect vs client-go leaderelection\n\n")
	fmt.Fprintf(&b, "Measured %s by `test/kube/cmd/leaderbench` (`test/kube/build.sh && cd test/kube && go run ./cmd/leaderbench -out ../..`) "+
		"against kube-apiserver v1.37.2 + etcd v3.7.0 on 127.0.0.1, both implementations in one run. Machine: %s/%s, %d CPUs; %s. The run took %v.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), strings.TrimSpace(string(goVersion)), took.Round(time.Second))
	fmt.Fprintf(&b, "Latency trials: 3 candidates on a fresh Lease each trial, LeaseDuration/RenewDeadline/RetryPeriod = %v/%v/%v, %d trials each; "+
		"figures are p50 / p95 / p99 / max. Request rates: 3 candidates, %v/%v/%v, a %v steady-state window. "+
		"Memory: resident set of the minimal programs, stripped and static (CGO_ENABLED=0), a leader and a follower in separate processes, read from /proc after they settle; the baseline is the bare program polling the Lease every 2 s, the floor of any Go program that talks to the API server over TLS.\n\n",
		latency.lease, latency.renew, latency.retry, trials, defaults.lease, defaults.renew, defaults.retry, steady)
	fmt.Fprintf(&b, "| figure | kubelect | client-go v0.37.2 | goal |\n|---|---|---|---|\n")
	row := func(name, a, c, goal string) { fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, a, c, goal) }
	row("planned handover: release → next OnStartedLeading", dist(ours.handover), dist(cg.handover), "p99 ≤ 50 ms")
	row("failover: last successful renewal → next OnStartedLeading", dist(ours.failover), dist(cg.failover), fmt.Sprintf("p99 ≤ LeaseDuration + 100 ms = %s", ms(latency.lease+100*time.Millisecond)))
	row("failover: kill → next OnStartedLeading", dist(ours.fromCut), dist(cg.fromCut), "")
	perRetry := func(v [3]float64) string { return fmt.Sprintf("%.2f (PUT %.2f, GET %.2f)", v[0], v[1], v[2]) }
	row("leader's requests per RetryPeriod (client side)", perRetry(ours.leaderPerRetry), perRetry(cg.leaderPerRetry), "1 PUT; a GET only after a conflict")
	row("each follower's requests per minute (client side, watches included)", fmt.Sprintf("%.2f", ours.followerPerMin), fmt.Sprintf("%.2f", cg.followerPerMin), "no polling: one watch, ≤ 1")
	row("apiserver_request_total on leases per minute, all three candidates", fmt.Sprintf("%.1f", ours.serverPerMin), fmt.Sprintf("%.1f", cg.serverPerMin), fmt.Sprintf("the server's own %.1f/min subtracted", quiet))
	row("… less the leader's requests, per follower", fmt.Sprintf("%.1f", ours.serverFollowerPerMin), fmt.Sprintf("%.1f", cg.serverFollowerPerMin), "≤ 1")
	ratio := func(a, b int64) string { return fmt.Sprintf("%.2f×", float64(a)/float64(b)) }
	row("minimal program's binary: default build (stripped and static)", fmt.Sprintf("%s (%s): %s (%s) the baseline", mb(ours.size), mb(ours.sizeStripped), ratio(ours.size, base.size), ratio(ours.sizeStripped, base.sizeStripped)),
		fmt.Sprintf("%s (%s)", mb(cg.size), mb(cg.sizeStripped)), fmt.Sprintf("≤ 1.15× the baseline, a bare net/http + TLS + JSON + slog program: %s (%s)", mb(base.size), mb(base.sizeStripped)))
	row("non-standard-library packages linked", fmt.Sprint(ours.packages), fmt.Sprint(cg.packages), "")
	mib := func(kib int) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }
	row("resident memory (VmRSS), leader / follower", fmt.Sprintf("%s / %s MiB", mib(ours.leaderMem.rss), mib(ours.followerMem.rss)),
		fmt.Sprintf("%s / %s MiB", mib(cg.leaderMem.rss), mib(cg.followerMem.rss)),
		fmt.Sprintf("≤ 1/3 of client-go's; the baseline, polling: %s MiB", mib(base.mem.rss)))
	row("… of which anonymous (heap, stacks: RssAnon)", fmt.Sprintf("%s / %s MiB", mib(ours.leaderMem.anon), mib(ours.followerMem.anon)),
		fmt.Sprintf("%s / %s MiB", mib(cg.leaderMem.anon), mib(cg.followerMem.anon)), fmt.Sprintf("the baseline: %s MiB", mib(base.mem.anon)))
	row("… and file-backed (the binary's pages: RssFile)", fmt.Sprintf("%s / %s MiB", mib(ours.leaderMem.file), mib(ours.followerMem.file)),
		fmt.Sprintf("%s / %s MiB", mib(cg.leaderMem.file), mib(cg.followerMem.file)), fmt.Sprintf("the baseline: %s MiB", mib(base.mem.file)))
	fmt.Fprintf(&b, "\n![latency distributions](benchmarks.svg)\n")
	return b.String()
}

// chart is an SVG strip plot of every trial's handover and failover, one
// row per implementation and scenario, on a shared millisecond axis per
// scenario.
func chart(rs []*result) string {
	const w, rowH, left = 760, 36, 230
	var b strings.Builder
	type panel struct {
		title string
		get   func(*result) []time.Duration
	}
	panels := []panel{{"planned handover (ms)", func(r *result) []time.Duration { return r.handover }},
		{"failover after last renewal (ms)", func(r *result) []time.Duration { return r.failover }}}
	h := len(panels)*(len(rs)*rowH+60) + 20
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	colors := []string{"#1f77b4", "#d62728"}
	y := 20
	for _, p := range panels {
		var hi time.Duration
		for _, r := range rs {
			hi = max(hi, percentile(p.get(r), 1))
		}
		hi = hi + hi/10 + time.Millisecond
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+12, p.title)
		y += 24
		x := func(d time.Duration) float64 { return left + float64(d)/float64(hi)*float64(w-left-30) }
		for i, r := range rs {
			fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+rowH/2+4, r.name)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ccc"/>`+"\n", left, y+rowH/2, w-30, y+rowH/2)
			for _, d := range p.get(r) {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="4" fill="%s" fill-opacity="0.6"/>`+"\n", x(d), y+rowH/2, colors[i%len(colors)])
			}
			y += rowH
		}
		for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
			d := time.Duration(t * float64(hi))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%.0f</text>`+"\n", x(d), y+14, float64(d)/float64(time.Millisecond))
		}
		y += 36
	}
	b.WriteString("</svg>\n")
	return b.String()
}
