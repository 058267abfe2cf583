package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Markdown renders the figures of a campaign: one table per
// implementation, one row per scenario, and the violations with the
// directories of their logs.
func Markdown(results []*Result, c *Campaign, took time.Duration, command string) string {
	rs := append([]*Result(nil), results...)
	sortResults(rs)
	var b strings.Builder
	t := c.Timing
	fmt.Fprintf(&b, "### Real kube-apiserver v1.37.2: candidates as processes behind fault proxies\n\n")
	fmt.Fprintf(&b, "%d rounds in %v: %d candidate processes per round, LeaseDuration %v, RenewDeadline %v, RetryPeriod %v "+
		"(kubelect's RequestTimeout %v; client-go as configured by default; scenarios marked * use their own timing), faults held %v, re-election bound %v after the heal. Command: `%s`.\n\n",
		len(rs), took.Round(time.Second), c.Candidates, t.Lease, t.Renew, t.Retry, t.requestTimeout(), c.FaultFor, t.Bound(), command)
	b.WriteString("Overlaps count pairs of live, unpaused leaders ([OnStartedLeading, stop closed], from the processes' own timestamps). " +
		"A leader paused by SIGSTOP necessarily spans its pause: that is the fencing case, counted apart, where the fenced store must accept no stale write. " +
		"Every leader writes to the fenced store about every 100ms, each write carrying the fencing token it read when its leadership began: " +
		"kubelect's FencingToken(), the resourceVersion of the write that began the leadership; client-go has none, so its candidates carry " +
		"the resourceVersion of their acquiring write, which their Lease client sees. " +
		"The store is a fencing.Checker (it refuses a token lower than the highest it has seen: refused writes); a write it accepts after it accepted " +
		"a write of a leadership that began later, in the order the store heard the leaderships begin (not the tokens' order), is a stale write accepted. " +
		"A fencing token not above that of the leadership that began before is a token not grown; the term (leaderTransitions) is reported beside it. " +
		"Late writes are those sent during another process's leadership that began after the writer's (what an unfenced store would take). " +
		"Takeover is from the fault to the next leader; re-election from the heal to a leader that then held to the end of the round. " +
		"Requests/s are the proxies' counts during the fault (an instant fault: the lease and deadline after it), before it in brackets. " +
		"A round on a slow server is one where kube-apiserver itself took longer than RequestTimeout to answer some request outside the fault " +
		"(measured by the proxies, without injected delays): its liveness failures are listed apart, not counted as violations; safety failures never are.\n\n")

	impls := []string{}
	for _, r := range rs {
		if len(impls) == 0 || impls[len(impls)-1] != r.Impl {
			impls = append(impls, r.Impl)
		}
	}
	for _, impl := range impls {
		name := impl
		if impl == ClientGo {
			name = "client-go v0.37.2 (Lease lock only)"
		}
		fmt.Fprintf(&b, "#### %s\n\n", name)
		b.WriteString("| scenario | kind | rounds (locks) | overlaps | paused overlaps (fencing case) | stale writes accepted | fenced writes accepted / refused | late writes | token not grown | term not grown | healthy step-downs | takeover p50 / max | re-election after heal p50 / max | req/s faulted [before] | req/s others max | rounds with violations | rounds on a slow server |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		var total, bad, overlaps, stale, paused, accepted, refused int
		kinds := map[string]int{}
		for _, sc := range Scenarios {
			var group []*Result
			for _, r := range rs {
				if r.Impl == impl && r.Scenario == sc.Name {
					group = append(group, r)
				}
			}
			if len(group) == 0 {
				continue
			}
			row := summarize(group)
			total += len(group)
			kinds[sc.Kind] += len(group)
			bad += row.bad
			overlaps += row.overlaps
			stale += row.stale
			paused += row.paused
			accepted += row.accepted
			refused += row.refused
			name := sc.Name
			if sc.Timing != nil {
				name += "*"
			}
			fmt.Fprintf(&b, "| %s | %s | %d (%s) | %d | %s | %d | %d / %d | %d | %d | %d | %d | %s | %s | %s | %s | %d | %d |\n",
				name, sc.Kind, len(group), row.locks, row.overlaps, row.pausedText, row.stale, row.accepted, row.refused, row.late,
				row.tokens, row.terms, row.unprovoked, row.takeover, row.reelect, row.targetRate, row.otherRate, row.bad, row.slow)
		}
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(ks)
		fmt.Fprintf(&b, "\n%s: %d rounds (faults: %s); %d overlaps of live leaders, %d in the fencing case; fenced writes %d accepted, %d refused, %d stale writes accepted; %d rounds with a violation.\n\n",
			impl, total, strings.Join(ks, ", "), overlaps, paused, accepted, refused, stale, bad)
	}

	b.WriteString("Scenarios:\n\n")
	for _, sc := range Scenarios {
		fmt.Fprintf(&b, "- `%s`: %s.", sc.Name, sc.Doc)
		if sc.Unbounded != "" {
			fmt.Fprintf(&b, " No re-election bound: %s.", sc.Unbounded)
		}
		b.WriteString("\n")
	}
	var viol []string
	for _, r := range rs {
		for _, v := range r.Violations {
			viol = append(viol, fmt.Sprintf("- %s %s on %s (`%s`): %s", r.Impl, r.Scenario, r.Lock, r.Dir, v))
		}
	}
	if len(viol) > 0 {
		fmt.Fprintf(&b, "\nViolations (%d):\n\n%s\n", len(viol), strings.Join(viol, "\n"))
	} else {
		b.WriteString("\nNo violations.\n")
	}
	var slow []string
	for _, r := range rs {
		for _, v := range r.Excused {
			slow = append(slow, fmt.Sprintf("- %s %s on %s (`%s`, kube-apiserver answered in up to %v outside the fault): %s",
				r.Impl, r.Scenario, r.Lock, r.Dir, r.SlowServer.Round(time.Millisecond), v))
		}
	}
	if len(slow) > 0 {
		fmt.Fprintf(&b, "\nLiveness failures on a slow server (%d):\n\n%s\n", len(slow), strings.Join(slow, "\n"))
	}
	return b.String()
}

type row struct {
	locks                                        string
	overlaps, paused, stale, late, tokens, terms int
	accepted, refused                            int
	unprovoked, bad, slow                        int
	pausedText, takeover, reelect                string
	targetRate, otherRate                        string
}

func summarize(group []*Result) row {
	var r row
	locks := map[string]bool{}
	var takeovers, reelects []time.Duration
	var pausedDur time.Duration
	noLeader := 0
	maxTarget, maxBase, maxOther := -1.0, 0.0, 0.0
	for _, g := range group {
		locks[g.Lock] = true
		f := g.Findings
		r.overlaps += len(f.Overlaps)
		r.paused += len(f.PausedOverlaps)
		pausedDur += f.PausedOverlap
		r.stale += len(g.Store.Stale)
		r.accepted += g.Store.Accepted
		r.refused += g.Store.Refused
		r.late += f.LateActs
		r.tokens += len(f.TokenNotGrown)
		r.terms += len(f.TermNotGrown)
		r.unprovoked += len(f.Unprovoked)
		if len(g.Violations) > 0 {
			r.bad++
		}
		if len(g.Excused) > 0 {
			r.slow++
		}
		if f.Takeover >= 0 {
			takeovers = append(takeovers, f.Takeover)
		}
		if f.Reelect >= 0 {
			reelects = append(reelects, f.Reelect)
		} else {
			noLeader++
		}
		maxTarget = max(maxTarget, g.TargetRate)
		maxOther = max(maxOther, g.OtherRate)
		maxBase = max(maxBase, g.BaseRate)
	}
	var ls []string
	for l := range locks {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	r.locks = strings.Join(ls, ", ")
	r.pausedText = fmt.Sprint(r.paused)
	if r.paused > 0 {
		r.pausedText = fmt.Sprintf("%d (%v in all)", r.paused, pausedDur.Round(time.Millisecond))
	}
	r.takeover = durations(takeovers, 0)
	r.reelect = durations(reelects, noLeader)
	r.targetRate = "–"
	if maxTarget >= 0 {
		r.targetRate = fmt.Sprintf("%.1f [%.1f]", maxTarget, maxBase)
	}
	r.otherRate = fmt.Sprintf("%.1f", maxOther)
	return r
}

// durations is "p50 / max", with the count of rounds that had none.
func durations(ds []time.Duration, none int) string {
	s := "–"
	if len(ds) > 0 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		s = fmt.Sprintf("%s / %s", sec(ds[len(ds)/2]), sec(ds[len(ds)-1]))
	}
	if none > 0 {
		s += fmt.Sprintf(" (%d: none)", none)
	}
	return s
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
