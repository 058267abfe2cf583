// Package election elects one leader among the replicas of a program
// through a lock object in the Kubernetes API server.
//
// Its API is a superset of the Kubernetes 1.5 leader election package (as
// forked by etcd-operator): RunOrDie, NewLeaderElector, LeaderElectionConfig,
// LeaderCallbacks, Run, IsLeader and GetLeader keep their names and
// meanings, so code written against that package compiles unchanged.
// RunContext, ReleaseOnCancel, Term, a Clock and a Logger are additions.
//
// # How it works
//
// A candidate that does not lead follows the lock with a watch when the
// lock supports one (all but MultiLock do) and the server allows it: it
// sends no request while the holder renews, takes the lock at once when it
// sees it released, and tries when the holder's lease expires by its own
// clock (with at most 20ms of jitter). Without a watch it tries every
// RetryPeriod, with jitter. The lock is free when it does not exist, when
// its holder is empty (it was released), or when the holder's lease has
// expired. Expiry is judged only on
// the candidate's own clock: a lease expires LeaseDuration (the holder's, as
// written in the record) after the candidate last saw the record change.
// Timestamps written by other nodes are never compared with the local
// clock, so clock offsets between nodes do not matter.
//
// The leader renews every RetryPeriod with a single update that carries the
// resourceVersion it last wrote; a conflict makes it read the lock again. If
// it has not renewed for RenewDeadline, measured from when it sent its last
// successful renewal, it stops leading: it closes the stop channel given to
// OnStartedLeading and calls OnStoppedLeading. Every call to the lock has
// its own timeout (RequestTimeout), so a hung request cannot keep an
// ex-leader acting. Measuring from the send time is the safe direction: the
// server stored the renewal no earlier than it was sent, so no follower can
// have started counting the lease before that instant.
//
// # Guarantees and limits
//
// The leader stops acting RenewDeadline after its last successful renewal,
// while followers wait LeaseDuration after they saw that renewal. Two
// candidates therefore never lead at once as long as clocks advance at
// rates whose ratio stays below LeaseDuration/RenewDeadline (with the
// defaults, 15s/10s, a clock may run 1.5 times as fast as another), and the
// leader's process is not paused for longer than the margin between the
// two. The package does not fence by itself: a process paused (by a garbage
// collector, a stopped VM) after it checked IsLeader can still act late.
// Term returns the leadership term, the record's leaderTransitions, which
// grows with every change of holder on one lock object: pass it with
// writes to a system that rejects terms lower than the highest it has seen,
// and such late writes are refused.
//
// Tolerance to API server latency varies inversely with availability: a
// leader that cannot reach the API server for RenewDeadline steps down
// even when no other candidate could take over either.
package election
