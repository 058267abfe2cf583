// Package chaos is the real-server part of the chaos campaign: leader
// election candidates run as separate processes (cmd/chaoscandidate), each
// talking to a real kube-apiserver through its own loopback fault proxy, while
// the campaign kills, pauses, partitions, resets and delays them, restarts
// kube-apiserver and etcd, revokes RBAC, and deletes or corrupts the lock.
//
// Each candidate writes a log of timestamped events (started leading with
// its fencing token and term, stop closed, one "act" per write to a fenced
// store). A leader reads its fencing token once, when its leadership
// begins (LeaderElector.FencingToken: the resourceVersion of the write
// that began it), and every write it makes to the store carries it.
// client-go has no token: its candidates carry the resourceVersion of
// their acquiring write, as their Lease client saw it. The fenced store
// is a fencing.Checker, which refuses a token lower than the highest it
// has seen, wrapped to record what it accepted and refused, in order.
// The invariants are checked from the timestamps, all taken from one
// CLOCK_REALTIME on one machine, and from the store's decisions:
//
//   - no two live, unpaused processes lead at once (a leader paused by
//     SIGSTOP necessarily spans its pause: that overlap is reported
//     separately, as the fencing case);
//   - the fenced store accepts no write of a leadership after it accepted
//     a write of one that began later, and refuses none unless one that
//     began later has written; which began later is the order in which
//     the store heard the leaderships begin (each announces itself in
//     OnStartedLeading, before its first write), not the tokens;
//   - fencing tokens grow with every new leadership, in the order the
//     leaderships began (OnStartedLeading), and so do terms (the term
//     is reported beside the token; it is no fencing token, but kubelect
//     promises it grows for candidates that saw the lock, as all of them
//     here do);
//   - a leader is back within a bound after each fault heals;
//   - a healthy leader does not step down, and no candidate sends more than
//     a bounded number of requests per second during a fault (counted by its
//     proxy).
//
// The same scenarios run with client-go v0.37.2's leaderelection
// candidates, whose figures are reported, not asserted.
package chaos
