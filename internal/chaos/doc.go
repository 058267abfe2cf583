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
// write, a leadership term that does not grow, a Term that is not the one
// the leadership started with, a fenced write accepted with a stale term, a
// takeover of an undecodable, deleted or foreign record before a lease has
// passed, no leader within a bound after the faults heal, a leader that
// steps down once healed, and request rates above a bound. Runs whose clock
// rates lie outside LeaseDuration/RenewDeadline are expected to overlap:
// their overlaps are counted apart and do not fail the run.
//
// Replays are deterministic in their plan (timing, rates, fault schedule);
// the elector's own jitter and the order of goroutines woken at one instant
// are not seeded, so a replay may take a slightly different path.
package chaos
