// Package chaos is the real-server part of the chaos campaign: leader
// election candidates run as separate processes (cmd/chaoscandidate), each
// talking to a real kube-apiserver through its own loopback fault proxy, while
// the campaign kills, pauses, partitions, resets and delays them, restarts
// kube-apiserver and etcd, revokes RBAC, and deletes or corrupts the lock.
//
// Each candidate writes a log of timestamped events (started leading with
// its term, stop closed, one "act" per write to a fenced store). The
// invariants are checked from those timestamps, all taken from one
// CLOCK_REALTIME on one machine:
//
//   - no two live, unpaused processes lead at once (a leader paused by
//     SIGSTOP necessarily spans its pause: that overlap is reported
//     separately, as the fencing case);
//   - the fenced store, which rejects terms lower than the highest it has
//     seen, accepts no write from a candidate after another one started
//     leading with a higher or equal term;
//   - terms grow with every new leadership;
//   - a leader is back within a bound after each fault heals;
//   - a healthy leader does not step down, and no candidate sends more than
//     a bounded number of requests per second during a fault (counted by its
//     proxy).
//
// The same scenarios run with client-go v0.37.2's leaderelection
// candidates, whose figures are reported, not asserted.
package chaos
