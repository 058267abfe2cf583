// Package chaos is the simulated tier of the kubelect chaos campaign: seeded
// leader elections on the in-process API server, in fake time, with faults,
// per-candidate clock rates and an invariant checker.
//
// A run is one Plan: an elector timing that NewLeaderElector accepts, 3–5
// candidates (each with its own k8sapi.Client, lock object, clock rate and
// offset), and a fault schedule that ends at Plan.Heal, after which the run
// goes on fault-free until Plan.End. Run executes a plan; it must be called
// inside a testing/synctest bubble, so that minutes of leases pass in
// microseconds and every instant is exact. Generate draws a plan from a
// seed; the named regression scenarios write theirs by hand.
//
// The checker (see Result) fails a run on two overlapping leaderships, a
// stop channel closed later than RenewDeadline after the last successful
// write, a leadership term that does not grow, a Term or FencingToken that
// is not the one the leadership started with or that says it leads after
// its stop closed, a stale fenced write accepted (see below), a takeover
// of an undecodable, deleted or foreign record before a lease has passed,
// no leader within a bound after the faults heal, a leader that steps down
// once healed, and request rates above a bound. Runs whose clock rates lie
// outside LeaseDuration/RenewDeadline are expected to overlap: their
// overlaps are counted apart and do not fail the run.
//
// # The fenced store
//
// Every leader reads LeaderElector.FencingToken once, in its
// OnStartedLeading, and until its stop channel closes writes to one
// fenced store with it, every RenewDeadline/8 (between 5ms and 250ms):
// a fencing.Checker, which the recorder wraps. The Checker decides; the
// recorder judges each decision by its own ground truth, the order in
// which the leaderships began: when the server stored the write that
// acquired each one, as the harness's transport saw it (not
// OnStartedLeading, which a leader may reach late, after the lock has
// moved on). A write accepted after a write of a leadership that began
// later fails the run ("stale-write"), and so does a write refused
// although no leadership that began later has written ("fence-refused":
// the current leader locked out), a fencing token not above the token of
// the leadership that began before ("token-order"), and a FencingToken
// error in OnStartedLeading ("token"). There are no exceptions: not after
// a garbage record that loses the term, not when a candidate that never
// saw a deleted lock creates it again (the documented deletion limit
// covers the overlaps, terms and early takeovers of such a candidate, not
// its fenced writes, nor those of the leader it overlaps).
//
// # Stand and planned transfer
//
// A candidate either makes a new elector after each lost leadership and
// calls RunContext (ErrHandedOver counts as lost), or, with Candidate.Stand
// (drawn per plan: none, all or some), calls Stand once per process run.
// For every elector the checker verifies that OnStartedLeading never runs
// twice at once, that each term gets a stop channel never handed out
// before and a Term() above the term before, that a term starts no sooner
// than RetryPeriod after the last one's stop closed and its callback
// returned, and that no release is stored while the elector's
// OnStartedLeading runs (the transport reads every stored write back).
//
// A Transfer fault (plans on a pure Lease lock) calls
// resourcelock.RequestTransfer from a client outside the fleet, naming a
// candidate, an absent identity or the holder itself. A release that names
// a preferred holder (a handover) may be taken at once only by that
// candidate: another that takes it before a lease has passed fails the run
// ("early-takeover"), as does an acquisition whose write kept a transfer
// request. The time from a request to the named candidate leading, and
// whether a later write cleared the request, are figures, not failures.
//
// # Running
//
//	go test ./internal/chaos                                  # 60 runs (6 under -race), plus the harness's own tests
//	KUBELECT_CHAOS_RUNS=1500 go test ./internal/chaos -run TestCampaign -v   # the CI set, about 2–3 CPU-minutes
//	go test ./internal/chaos -run TestCampaign -runs=20000 -timeout 3h -v    # the long campaign; figures at the end
//	go test ./internal/chaos -run TestCampaign -seed=123 -v   # replay one run (add -outside if it was drawn outside the bound)
//	go test ./internal/chaos -run TestRegression -v      # the named scenarios (issue 8's bugs, Stand, planned transfer)
//
// -seedbase picks the first seed, -outside-every how often a run draws its
// rates outside the bound (every 10th by default), -reports how many
// failures are printed in full.
//
// # Bounds
//
// A run fails on an overlap only within the bound (max/min clock rate below
// LeaseDuration/RenewDeadline). "Stop late" is measured from the send of the
// last write of that elector loop that the server stored (whether or not
// its answer arrived: the elector may learn of it by reading its own record
// back), plus RenewDeadline converted to true time at the candidate's rate.
// The heal bound is documented on healBound; the request bound is at most
// rateLimit requests in any ten RetryPeriods (on the candidate's clock), and
// no more than hotLoopBurst requests at one instant of fake time.
//
// Replays are deterministic in their plan (timing, rates, fault schedule);
// the elector's own jitter and the order of goroutines woken at one instant
// are not seeded, so a replay may take a slightly different path.
package chaos
