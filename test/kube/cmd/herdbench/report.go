package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// report is a whole run.
type report struct {
	o            options
	smoke        bool
	commit       string
	load0, load1 string
	results      []*result
	took         time.Duration
}

func (r *report) failed() bool {
	for _, x := range r.results {
		if x.err != nil {
			return true
		}
	}
	return len(r.results) == 0
}

// Derived figures of one result.

func (r *result) fleetPerMin() float64 {
	return 60 * r.steady.requests.less(r.idle.requests, 1).total()
}
func (r *result) leaderPerMin() float64 {
	return 60 * r.alone.requests.less(r.idle.requests, 1).total()
}
func (r *result) followerPerMin() float64 {
	return max(0, r.fleetPerMin()-r.leaderPerMin()) / float64(r.n-1)
}

// cpuPerFollower is the server's CPU with the fleet less with the leader
// alone, per follower, in CPU seconds per second.
func (r *result) cpuPerFollower() float64 { return (r.steady.cpu - r.alone.cpu) / float64(r.n-1) }

// cpuNoise is the uncertainty of cpuPerFollower: twice the idle server's
// spread over pieces of its window, per follower (the spread of one piece
// bounds that of a longer window's mean).
func (r *result) cpuNoise() float64 { return 2 * r.idleSD / float64(r.n-1) }

// rssPerFollower is in KiB.
func (r *result) rssPerFollower() float64 {
	return float64(r.steady.rss-r.alone.rss) / float64(r.n-1)
}

func (r *result) of(kind string) []takeover {
	var ts []takeover
	for _, t := range r.takeovers {
		if t.kind == kind {
			ts = append(ts, t)
		}
	}
	return ts
}

func latencies(ts []takeover, fromRenewal bool) []time.Duration {
	var ds []time.Duration
	for _, t := range ts {
		if fromRenewal {
			ds = append(ds, t.fromRenewal)
		} else {
			ds = append(ds, t.latency)
		}
	}
	return ds
}

// meanMax formats the mean and the largest of f over ts.
func meanMax(ts []takeover, f func(takeover) float64) string {
	if len(ts) == 0 {
		return "–"
	}
	var xs []float64
	for _, t := range ts {
		xs = append(xs, f(t))
	}
	return fmt.Sprintf("%s (%s)", num(mean(xs)), num(maxOf(xs)))
}

// num prints a count: whole numbers without decimals, others with one.
func num(x float64) string {
	if x == float64(int64(x)) {
		return fmt.Sprint(int64(x))
	}
	return fmt.Sprintf("%.1f", x)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

func p50p99(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	return ms(percentile(ds, 0.5)) + " / " + ms(percentile(ds, 0.99))
}

func mcpu(x float64) string { return fmt.Sprintf("%.1f", 1000*x) }

func mib(kib int) string { return fmt.Sprintf("%.0f", float64(kib)/1024) }

func (rep *report) byN() (ns []int, at map[int][]*result) {
	at = map[int][]*result{}
	for _, r := range rep.results {
		if _, ok := at[r.n]; !ok {
			ns = append(ns, r.n)
		}
		at[r.n] = append(at[r.n], r)
	}
	return ns, at
}

func (rep *report) markdown() string {
	var b strings.Builder
	o := rep.o
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## Herds: N candidates on one Lease\n\n")
	p("Measured %s by `test/kube/cmd/herdbench`%s against kube-apiserver v1.37.2 + etcd v3.7.0 on 127.0.0.1 (the harness); %s. Machine: %s/%s, %d CPUs, %s; load average %s before, %s after. The run took %v.\n\n",
		time.Now().Format("2006-01-02 15:04"), map[bool]string{true: " (-smoke)", false: ""}[rep.smoke], rep.commit,
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), rep.load0, rep.load1, rep.took.Round(time.Second))
	fresh := "a fresh etcd and kube-apiserver for each N and implementation"
	if !o.fresh {
		fresh = "one etcd and kube-apiserver for the whole run"
	}
	p("LeaseDuration/RenewDeadline/RetryPeriod = %v/%v/%v; %s. Each candidate is an elector with a client of its own (own transport, own TCP connection and TLS session; the connections row counts them from /proc), all candidates of one implementation in the benchmark's process. Per N and implementation: the idle server for %v (its own lease traffic, subtracted from every figure below, CPU and memory), the leader alone for %v, the whole fleet for %v, then %d takeovers of each kind, releases and crashes alternating; a crash cuts the leader's transport and stops its elector, so no release reaches the server. Each old leader is replaced by a new candidate, so the fleet stays at N.\n\n",
		o.s.lease, o.s.renew, o.s.retry, fresh, o.quiet, o.alone, o.steady, o.takeovers)
	p("A takeover's window runs from the release or crash to %v after the next leader's OnStartedLeading (its renewals come a RetryPeriod later); the server's counts are `apiserver_request_total{resource=\"leases\"}` deltas over it, the server's own traffic subtracted. A release's window holds the old leader's release PUT. kube-apiserver counts a WATCH when it ends. Client side: the writes the followers sent in the window (the winner's acquiring write included), how many followers wrote, the most writes sent within any %v, and the first to last write. Latencies are p50 / p99 by nearest rank (with fewer than 100 takeovers p99 is the slowest). CPU is utime+stime of the process from /proc/<pid>/stat in milli-CPU (ms per s); per follower is the fleet's figure less the leader alone's, over N−1.\n\n", o.tail, burstWindow)

	ns, at := rep.byN()
	for _, n := range ns {
		rs := at[n]
		p("### N = %d\n\n", n)
		p("|  |")
		for _, r := range rs {
			p(" %s |", r.impl)
		}
		p("\n|---|")
		for range rs {
			p("---|")
		}
		p("\n")
		row := func(name string, f func(r *result) string) {
			p("| %s |", name)
			for _, r := range rs {
				if r.err != nil && len(r.takeovers) == 0 && r.steady.secs == 0 {
					p(" – |")
					continue
				}
				p(" %s |", f(r))
			}
			p("\n")
		}
		row("TCP connections to kube-apiserver, fleet", func(r *result) string { return fmt.Sprint(r.conns) })
		row("open lease watches (server, the idle server's subtracted)", func(r *result) string { return num(r.steady.watches - r.idle.watches) })
		row("lease requests/min, fleet, server (client side)", func(r *result) string {
			return fmt.Sprintf("%.0f (%.0f)", r.fleetPerMin(), r.clientPerMin)
		})
		row("… leader alone; per follower", func(r *result) string {
			return fmt.Sprintf("%.0f; %.1f", r.leaderPerMin(), r.followerPerMin())
		})
		row("kube-apiserver mCPU: idle / leader alone / fleet", func(r *result) string {
			return fmt.Sprintf("%s / %s / %s", mcpu(r.idle.cpu), mcpu(r.alone.cpu), mcpu(r.steady.cpu))
		})
		row("**kube-apiserver mCPU per follower** (± twice the idle server's spread, per follower)", func(r *result) string {
			return "**" + mcpu(r.cpuPerFollower()) + "** ± " + mcpu(r.cpuNoise())
		})
		row("kube-apiserver VmRSS MiB: idle / leader alone / fleet", func(r *result) string {
			return fmt.Sprintf("%s / %s / %s", mib(r.idle.rss), mib(r.alone.rss), mib(r.steady.rss))
		})
		row("… per follower, KiB", func(r *result) string { return fmt.Sprintf("%.0f", r.rssPerFollower()) })
		row("etcd mCPU, fleet; candidates' own mCPU, fleet", func(r *result) string {
			return fmt.Sprintf("%s; %s", mcpu(r.steady.etcdCPU), mcpu(r.steady.selfCPU))
		})
		row("handover: release → next OnStartedLeading", func(r *result) string { return p50p99(latencies(r.of("release"), false)) })
		row("failover: crash → next OnStartedLeading", func(r *result) string { return p50p99(latencies(r.of("crash"), false)) })
		row("failover: last renewal → next OnStartedLeading", func(r *result) string { return p50p99(latencies(r.of("crash"), true)) })
		for _, kind := range []string{"release", "crash"} {
			row(fmt.Sprintf("per %s, server, mean (max): GET / PUT / POST / WATCH", kind), func(r *result) string {
				ts := r.of(kind)
				return strings.Join([]string{
					meanMax(ts, func(t takeover) float64 { return t.server.verb("GET") }),
					meanMax(ts, func(t takeover) float64 { return t.server.verb("PUT") }),
					meanMax(ts, func(t takeover) float64 { return t.server.verb("POST") }),
					meanMax(ts, func(t takeover) float64 { return t.server.verb("WATCH") }),
				}, " / ")
			})
			row(fmt.Sprintf("**per %s, server: writes / conflicts (409) / reads**", kind), func(r *result) string {
				ts := r.of(kind)
				return "**" + strings.Join([]string{
					meanMax(ts, func(t takeover) float64 { return t.server.writes() }),
					meanMax(ts, func(t takeover) float64 { return t.server.conflicts() }),
					meanMax(ts, func(t takeover) float64 { return t.server.reads() }),
				}, " / ") + "**"
			})
			row(fmt.Sprintf("per %s, followers (client side): writers / writes / 409s / most within %v / first→last write", kind, burstWindow), func(r *result) string {
				ts := r.of(kind)
				return strings.Join([]string{
					meanMax(ts, func(t takeover) float64 { return float64(t.herd.writers) }),
					meanMax(ts, func(t takeover) float64 { return float64(t.herd.writes) }),
					meanMax(ts, func(t takeover) float64 { return float64(t.herd.conflicts) }),
					meanMax(ts, func(t takeover) float64 { return float64(t.herd.burst) }),
					meanMax(ts, func(t takeover) float64 { return float64(t.herd.spread.Milliseconds()) }) + " ms",
				}, " / ")
			})
		}
		row("time for this N", func(r *result) string { return r.took.Round(time.Second).String() })
		for _, r := range rs {
			if r.err != nil {
				p("\n%s at N = %d failed: %v\n", r.impl, n, r.err)
			}
		}
		p("\n")
	}

	// Side by side across N.
	p("### Side by side\n\n")
	p("| N | conflicts per takeover, release / crash, mean (max): kubelect | client-go | kube-apiserver mCPU per follower (± noise): kubelect | client-go | handover p99: kubelect | client-go | failover (crash) p99: kubelect | client-go |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range ns {
		k, c := pick(at[n], "kubelect"), pick(at[n], "client-go v0.37.2")
		conf := func(r *result) string {
			if r == nil {
				return "–"
			}
			f := func(t takeover) float64 { return t.server.conflicts() }
			return meanMax(r.of("release"), f) + " / " + meanMax(r.of("crash"), f)
		}
		cpu := func(r *result) string {
			if r == nil {
				return "–"
			}
			return mcpu(r.cpuPerFollower()) + " ± " + mcpu(r.cpuNoise())
		}
		lat := func(r *result, kind string) string {
			if r == nil {
				return "–"
			}
			return ms(percentile(latencies(r.of(kind), false), 0.99))
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, conf(k), conf(c), cpu(k), cpu(c), lat(k, "release"), lat(c, "release"), lat(k, "crash"), lat(c, "crash"))
	}
	p("\n")
	rep.goals(&b, ns, at)
	return b.String()
}

func pick(rs []*result, impl string) *result {
	for _, r := range rs {
		if r.impl == impl {
			return r
		}
	}
	return nil
}

// The goals of issue 20, for kubelect: conflicts per takeover at most
// meanConflictBound on average and maxConflictBound in any one, at every
// N; handover p99 at most smallHandover for fleets up to smallFleet and
// largeHandover above; a crash taken over within the lease plus
// crashMargin of the old leader's last renewal.
const (
	meanConflictBound = 2
	maxConflictBound  = 10
	smallFleet        = 10
	smallHandover     = 50 * time.Millisecond
	largeHandover     = 73 * time.Millisecond
	crashMargin       = 150 * time.Millisecond
)

func (rep *report) goals(b *strings.Builder, ns []int, at map[int][]*result) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("### Goals (kubelect)\n\n")
	var conflictNotes, handoverNotes, crashNotes []string
	conflictsMet, handoverMet, crashMet, measured := true, true, true, false
	for _, n := range ns {
		k := pick(at[n], "kubelect")
		if k == nil || len(k.takeovers) == 0 {
			continue
		}
		measured = true
		var xs []float64
		for _, t := range k.takeovers {
			xs = append(xs, t.server.conflicts())
		}
		ok := mean(xs) <= meanConflictBound && maxOf(xs) <= maxConflictBound
		conflictsMet = conflictsMet && ok
		conflictNotes = append(conflictNotes, fmt.Sprintf("N = %d: %s (%s)", n, num(mean(xs)), num(maxOf(xs))))
		bound := smallHandover
		if n > smallFleet {
			bound = largeHandover
		}
		h := percentile(latencies(k.of("release"), false), 0.99)
		handoverMet = handoverMet && h <= bound
		handoverNotes = append(handoverNotes, fmt.Sprintf("N = %d: %s (≤ %s)", n, ms(h), ms(bound)))
		c := percentile(latencies(k.of("crash"), true), 0.99)
		crashMet = crashMet && c <= rep.o.s.lease+crashMargin
		crashNotes = append(crashNotes, fmt.Sprintf("N = %d: %s", n, ms(c)))
	}
	if !measured {
		p("- No takeovers of kubelect were measured: no goal can be judged.\n\n")
		return
	}
	p("- Conflicts (409s at the server) per takeover at most %d on average and %d in any one, at every N: %s (mean (max): %s).\n",
		meanConflictBound, maxConflictBound, metOrNot(conflictsMet), strings.Join(conflictNotes, "; "))
	p("- Handover p99 at most %s up to N = %d and %s above: %s (%s).\n",
		ms(smallHandover), smallFleet, ms(largeHandover), metOrNot(handoverMet), strings.Join(handoverNotes, "; "))
	p("- Crash taken over within LeaseDuration + %s of the last renewal, p99: %s (%s; lease %s).\n",
		ms(crashMargin), metOrNot(crashMet), strings.Join(crashNotes, "; "), ms(rep.o.s.lease))
	// Server cost per follower no more than client-go's.
	var cpuNotes []string
	cpuMet := true
	for _, n := range ns {
		k, c := pick(at[n], "kubelect"), pick(at[n], "client-go v0.37.2")
		if k == nil || c == nil || k.steady.secs == 0 || c.steady.secs == 0 {
			continue
		}
		band := k.cpuNoise() + c.cpuNoise()
		ok := k.cpuPerFollower() <= c.cpuPerFollower()+band
		cpuMet = cpuMet && ok
		verdict := "lower"
		switch {
		case !ok:
			verdict = "higher"
		case k.cpuPerFollower() > c.cpuPerFollower():
			verdict = "higher, within the noise"
		}
		cpuNotes = append(cpuNotes, fmt.Sprintf("N = %d: %s vs %s ± %s mCPU, %s", n, mcpu(k.cpuPerFollower()), mcpu(c.cpuPerFollower()), mcpu(band), verdict))
	}
	if len(cpuNotes) == 0 {
		p("- kube-apiserver CPU per follower no more than client-go's at any N: not judged, both implementations are needed.\n")
	} else {
		p("- kube-apiserver CPU per follower no more than client-go's at any N (here: kubelect's at most client-go's plus both noise bands): %s (%s).\n", metOrNot(cpuMet), strings.Join(cpuNotes, "; "))
	}
	// Latency does not grow with N.
	first, last := pick(at[ns[0]], "kubelect"), pick(at[ns[len(ns)-1]], "kubelect")
	if first != nil && last != nil && len(ns) > 1 && len(first.takeovers) > 0 && len(last.takeovers) > 0 {
		for _, kind := range []string{"release", "crash"} {
			a, z := percentile(latencies(first.of(kind), false), 0.99), percentile(latencies(last.of(kind), false), 0.99)
			ok := z <= a+a/5+50*time.Millisecond
			p("- %s latency does not grow with N (here: p99 at N = %d within 20%% + 50 ms of p99 at N = %d): %s (%s → %s).\n",
				map[string]string{"release": "Handover", "crash": "Failover"}[kind], last.n, first.n, metOrNot(ok), ms(a), ms(z))
		}
	}
	p("\n")
}

func metOrNot(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}
