package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Stats sums the results of a campaign into the figures RELIABILITY.md
// reports.
type Stats struct {
	Runs, Within, Outside int
	Failed                int
	ByViolation           map[string]int // failed runs by the kind of their first violation
	Faults                map[FaultKind]int
	Injected              map[FaultKind]int
	Under                 map[FaultKind]int
	UnderSeconds          map[FaultKind]float64
	HealthyRequests       int
	HealthySeconds        float64
	OverlapsWithin        int
	OverlapsLimit         int // of OverlapsWithin, under a documented limit
	LimitedRuns           int // runs that hit a documented limit
	OverlapsOutside       int
	OutsideRunsOverlapped int
	StaleWrites           int
	StaleLimit            int // stale writes from leaderships under a documented limit
	LongLeaseRuns         int // runs whose re-election bound includes an hour-long foreign lease: not in the re-election figures
	FencedWrites          int
	FenceRejected         int
	TermResets            int
	RetryAfterIgnored     int
	Leaderships           int
	NotReelected          int
	reelection            []time.Duration
	MaxRequestsPerWindow  int
	FakeTime              time.Duration
}

// NewStats returns empty Stats.
func NewStats() *Stats {
	return &Stats{ByViolation: map[string]int{}, Faults: map[FaultKind]int{}, Injected: map[FaultKind]int{},
		Under: map[FaultKind]int{}, UnderSeconds: map[FaultKind]float64{}}
}

// Add counts one run.
func (s *Stats) Add(r *Result) {
	s.Runs++
	if r.WithinBound {
		s.Within++
		s.OverlapsWithin += r.Overlaps
		s.OverlapsLimit += r.OverlapsLimit
	} else {
		s.Outside++
		s.OverlapsOutside += r.Overlaps
		if r.Overlaps > 0 {
			s.OutsideRunsOverlapped++
		}
	}
	if r.Limited() {
		s.LimitedRuns++
	}
	if r.Failed() {
		s.Failed++
		for _, v := range r.Violations {
			if v.Limit == "" {
				s.ByViolation[v.Kind]++
				break
			}
		}
	}
	for k, v := range r.Faults {
		s.Faults[k] += v
	}
	for k, v := range r.Injected {
		s.Injected[k] += v
	}
	for k, v := range r.Under {
		s.Under[k] += v
	}
	for k, v := range r.UnderSeconds {
		s.UnderSeconds[k] += v
	}
	s.HealthyRequests += r.HealthyRequests
	s.HealthySeconds += r.HealthySeconds
	s.StaleWrites += r.StaleWrites
	s.StaleLimit += r.StaleLimit
	s.FencedWrites += r.FencedWrites
	s.FenceRejected += r.FenceRejected
	s.TermResets += r.TermResets
	s.RetryAfterIgnored += r.RetryAfterIgnored
	s.Leaderships += r.Leaderships
	s.MaxRequestsPerWindow = max(s.MaxRequestsPerWindow, r.MaxRequestsPerWindow)
	s.FakeTime += r.Plan.End
	switch {
	case r.Plan.ExtraHeal > 0:
		s.LongLeaseRuns++
	case r.Reelected:
		s.reelection = append(s.reelection, r.Reelection)
	default:
		s.NotReelected++
	}
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// String prints the figures.
func (s *Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "runs: %d (%d within the bound, %d outside it), %d failed, %v of fake time, %d leaderships\n",
		s.Runs, s.Within, s.Outside, s.Failed, s.FakeTime.Round(time.Second), s.Leaderships)
	if len(s.ByViolation) > 0 {
		fmt.Fprintf(&b, "failed runs by first violation: %v\n", s.ByViolation)
	}
	fmt.Fprintf(&b, "overlaps: %d within the bound (%d of them under the documented deletion limit); %d outside it (in %d of %d runs)\n",
		s.OverlapsWithin, s.OverlapsLimit, s.OverlapsOutside, s.OutsideRunsOverlapped, s.Outside)
	fmt.Fprintf(&b, "runs that hit a documented limit (%s): %d\n", limitFreshAfterDelete, s.LimitedRuns)
	fmt.Fprintf(&b, "fenced writes: %d accepted, %d rejected, %d stale accepted (and %d under the documented deletion limit); term resets by undecodable records: %d\n",
		s.FencedWrites, s.FenceRejected, s.StaleWrites, s.StaleLimit, s.TermResets)
	sort.Slice(s.reelection, func(i, j int) bool { return s.reelection[i] < s.reelection[j] })
	fmt.Fprintf(&b, "re-election after heal: p50 %v, p99 %v, max %v (%d runs with a leader at heal or later, %d without; %d runs left an hour-long foreign lease and are not counted)\n",
		quantile(s.reelection, 0.5), quantile(s.reelection, 0.99), quantile(s.reelection, 1), len(s.reelection), s.NotReelected, s.LongLeaseRuns)
	fmt.Fprintf(&b, "429 answers whose Retry-After was not honoured: %d; most requests by one candidate in one rate window: %d (limit %d)\n",
		s.RetryAfterIgnored, s.MaxRequestsPerWindow, rateLimit)
	kinds := make([]string, 0, len(s.Faults))
	for k := range s.Faults {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	b.WriteString("faults injected (carried out / requests acted on / requests per candidate-second while active):\n")
	for _, k := range kinds {
		f := FaultKind(k)
		rate := "-"
		if sec := s.UnderSeconds[f]; sec > 0 {
			rate = fmt.Sprintf("%.3f", float64(s.Under[f])/sec)
		}
		fmt.Fprintf(&b, "  %-14s %6d %9d %8s\n", k, s.Faults[f], s.Injected[f], rate)
	}
	if s.HealthySeconds > 0 {
		fmt.Fprintf(&b, "  %-14s %6s %9s %8.3f\n", "(healed)", "-", "-", float64(s.HealthyRequests)/s.HealthySeconds)
	}
	return b.String()
}
