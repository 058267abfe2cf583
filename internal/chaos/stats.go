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
	LongLeaseRuns         int // runs whose re-election bound includes an hour-long foreign lease: not in the re-election figures
	// The fenced store: writes accepted, refused and accepted although
	// stale, in all runs, and in the runs with a lock deletion.
	FencedWrites, FenceRejected, StaleWrites              int
	DeleteRunsFenced, DeleteRunsRejected, DeleteRunsStale int
	DeleteRuns                                            int // runs with at least one deletion of the lock object
	Deletions                                             int
	FreshRuns                                             int // runs in which a candidate that never saw the lock created it again
	FreshCreates                                          int // leaderships that began so
	RetryAfterIgnored                                     int
	Leaderships                                           int
	NotReelected                                          int
	reelection                                            []time.Duration
	MaxRequestsPerWindow                                  int
	FakeTime                                              time.Duration

	// Stand.
	StandRuns        int // runs with at least one candidate that Stands
	StandLeaderships int
	StandAgain       int // leaderships of a Stand elector after its first
	// Planned transfer.
	TransferRuns     int
	Handovers        int            // releases stored for a preferred holder
	HandedOver       int            // RunContext calls that returned ErrHandedOver
	TransferWhat     map[string]int // requests by what they named
	TransferNotSent  map[string]int // requests not written, by why
	NamedNext        int            // a running named candidate led next
	NamedHolder      int            // the holder at the request led again next
	NamedHolderStand int            // of them, with an elector that Stands
	NamedOther       int            // a third candidate led next
	NamedNone        int            // nobody led after it before the end
	toNamed          []time.Duration
	Cleared          int
	Superseded       int
	DeletedRequests  int
	Lingering        int // written, and still on the Lease at the end
	clearedAfter     []time.Duration
}

// NewStats returns empty Stats.
func NewStats() *Stats {
	return &Stats{ByViolation: map[string]int{}, Faults: map[FaultKind]int{}, Injected: map[FaultKind]int{},
		Under: map[FaultKind]int{}, UnderSeconds: map[FaultKind]float64{}, TransferWhat: map[string]int{}, TransferNotSent: map[string]int{}}
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
	s.FencedWrites += r.FencedWrites
	s.FenceRejected += r.FenceRejected
	if r.Deletions > 0 {
		s.DeleteRuns++
		s.Deletions += r.Deletions
		s.DeleteRunsFenced += r.FencedWrites
		s.DeleteRunsRejected += r.FenceRejected
		s.DeleteRunsStale += r.StaleWrites
	}
	if r.FreshCreates > 0 {
		s.FreshRuns++
		s.FreshCreates += r.FreshCreates
	}
	s.RetryAfterIgnored += r.RetryAfterIgnored
	s.Leaderships += r.Leaderships
	s.MaxRequestsPerWindow = max(s.MaxRequestsPerWindow, r.MaxRequestsPerWindow)
	s.FakeTime += r.Plan.End
	for _, c := range r.Plan.Candidates {
		if c.Stand {
			s.StandRuns++
			break
		}
	}
	s.StandLeaderships += r.StandLeaderships
	s.StandAgain += r.StandAgain
	if len(r.Transfers) > 0 {
		s.TransferRuns++
	}
	s.Handovers += r.Handovers
	s.HandedOver += r.HandedOver
	for _, o := range r.Transfers {
		s.TransferWhat[o.What]++
		if !o.Written {
			why := o.NotWritten
			switch {
			case strings.Contains(why, "no Lease"), strings.Contains(why, "not found"):
				why = "no Lease yet"
			case len(why) > 60:
				why = why[:60] + "…"
			}
			s.TransferNotSent[why]++
			continue
		}
		if o.NamedRunning {
			switch o.Next {
			case "named":
				s.NamedNext++
				s.toNamed = append(s.toNamed, o.ToNamed)
			case "holder":
				s.NamedHolder++
				if o.HolderStand {
					s.NamedHolderStand++
				}
			case "other":
				s.NamedOther++
			default:
				s.NamedNone++
			}
		}
		switch {
		case o.Cleared:
			s.Cleared++
			s.clearedAfter = append(s.clearedAfter, o.ClearedAfter)
		case o.Superseded:
			s.Superseded++
		case o.Deleted:
			s.DeletedRequests++
		default:
			s.Lingering++
		}
	}
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
	fmt.Fprintf(&b, "fenced writes (each leader's FencingToken(), a fencing.Checker): %d accepted, %d refused, %d stale accepted\n",
		s.FencedWrites, s.FenceRejected, s.StaleWrites)
	fmt.Fprintf(&b, "lock deletions: %d in %d runs, which made %d fenced writes accepted, %d refused, %d stale accepted; in %d of them a candidate that never saw the lock created it again (%d leaderships)\n",
		s.Deletions, s.DeleteRuns, s.DeleteRunsFenced, s.DeleteRunsRejected, s.DeleteRunsStale, s.FreshRuns, s.FreshCreates)
	sort.Slice(s.reelection, func(i, j int) bool { return s.reelection[i] < s.reelection[j] })
	fmt.Fprintf(&b, "re-election after heal: p50 %v, p99 %v, max %v (%d runs with a leader at heal or later, %d without; %d runs left an hour-long foreign lease and are not counted)\n",
		quantile(s.reelection, 0.5), quantile(s.reelection, 0.99), quantile(s.reelection, 1), len(s.reelection), s.NotReelected, s.LongLeaseRuns)
	fmt.Fprintf(&b, "429 answers whose Retry-After was not honoured: %d; most requests by one candidate in one rate window: %d (limit %d)\n",
		s.RetryAfterIgnored, s.MaxRequestsPerWindow, rateLimit)
	fmt.Fprintf(&b, "stand: %d runs with candidates that Stand, %d leaderships of Stand electors (%d of them a term after the first)\n",
		s.StandRuns, s.StandLeaderships, s.StandAgain)
	sort.Slice(s.toNamed, func(i, j int) bool { return s.toNamed[i] < s.toNamed[j] })
	sort.Slice(s.clearedAfter, func(i, j int) bool { return s.clearedAfter[i] < s.clearedAfter[j] })
	written := s.Cleared + s.Superseded + s.DeletedRequests + s.Lingering
	fmt.Fprintf(&b, "transfer: %d runs, %d requests (%v), %d written, not written: %v; %d handover releases, %d RunContext returns of ErrHandedOver\n",
		s.TransferRuns, sumMap(s.TransferWhat), s.TransferWhat, written, s.TransferNotSent, s.Handovers, s.HandedOver)
	fmt.Fprintf(&b, "transfer to a running candidate: it led next after %d (request to leading: p50 %v, p99 %v, max %v), the old holder again after %d (%d of them Stand), a third candidate after %d, nobody before the end after %d\n",
		s.NamedNext, quantile(s.toNamed, 0.5), quantile(s.toNamed, 0.99), quantile(s.toNamed, 1), s.NamedHolder, s.NamedHolderStand, s.NamedOther, s.NamedNone)
	fmt.Fprintf(&b, "transfer requests cleared afterwards by a write of the fleet: %d of %d written (after p50 %v, p99 %v, max %v); %d superseded by another request, %d deleted with the lock, %d still on the Lease at the end\n",
		s.Cleared, written, quantile(s.clearedAfter, 0.5), quantile(s.clearedAfter, 0.99), quantile(s.clearedAfter, 1), s.Superseded, s.DeletedRequests, s.Lingering)
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

func sumMap(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
