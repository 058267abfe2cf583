// Package election elects one leader among the replicas of a program
// through a lock object in the Kubernetes API server.
//
// Its API is a superset of the Kubernetes 1.5 leader election package (as
// forked by etcd-operator): RunOrDie, NewLeaderElector, LeaderElectionConfig,
// LeaderCallbacks, Run, IsLeader and GetLeader keep their names and
// meanings, so code written against that package compiles unchanged.
// The additions: RunContext, and Stand to lead again after each term; a
// fencing token for each leadership (FencingToken, with package fencing
// for the store side) and the leadership term (Term); release on cancel
// (ReleaseOnCancel, ReleaseGrace) and a timeout per request
// (RequestTimeout); health checks (CheckLive, CheckReady and their HTTP
// handlers, LeaderHandler) and a snapshot (Status); Metrics and ErrorKind;
// an Observer that follows the lock without standing; planned transfer to
// a preferred holder (resourcelock.RequestTransfer, ErrHandedOver); a
// Clock, a Logger and a Name.
//
// # How it works
//
// A candidate that does not lead follows the lock with a watch when the
// lock supports one (all but MultiLock do) and the server allows it: it
// sends no request while the holder renews, and tries when it sees the
// lock released or when the holder's lease expires by its own clock: each
// follower after a short random delay (a few round trips to the API
// server), so that a herd of them does not write at once; a release that
// names it as the preferred holder it takes without delay. Without a watch
// it tries every RetryPeriod, with jitter. A try that fails (an error, a lost race, 403,
// 429) waits at least RetryPeriod with jitter, or the server's Retry-After,
// before the next; a watch that ends at once is reopened after a backoff.
//
// The lock may be taken when it has never existed, when its holder is empty
// (it was released), when it holds a record this elector wrote, or when the
// holder's lease has expired. Expiry is judged only on the candidate's own
// clock: a lease expires LeaseDuration (the holder's, as written in the
// record, at most MaxLeaseDuration) after the candidate last saw the record's
// bytes change. Timestamps written by other nodes are never compared with
// the local clock, so clock offsets between nodes do not matter. A lock
// object that is deleted counts as its last record, unchanged since the
// moment it was seen gone; a record that does not decode counts as held by
// an unknown candidate (resourcelock.UnknownLeader). Either is taken over
// once a lease has passed without a change, by a write conditional on the
// object as read.
//
// The leader renews with a single update that carries the resourceVersion
// it last wrote, every RetryPeriod, and never twice within one unit of the
// lock's time precision (a second for the Endpoints and ConfigMap locks), so
// that every renewal stores new bytes that followers see. A conflict makes
// it read the lock: a record it wrote itself (an update whose answer was
// lost, or a change to another field of the object) keeps its leadership;
// any other record ends it at once. A watchdog closes the stop channel given
// to OnStartedLeading RenewDeadline after the leader sent its last
// successful renewal, whatever the renew loop, the lock or the logger are
// doing then; every call to the lock also has its own timeout, cut at that
// deadline. Measuring from the send time is the safe direction: the server
// stored the renewal no earlier than it was sent, so no follower can have
// started counting the lease before that instant.
//
// # Guarantees and limits
//
// The leader stops acting RenewDeadline after its last successful renewal,
// while followers wait LeaseDuration after they saw that renewal. Two
// candidates therefore never lead at once as long as clocks advance at
// rates whose ratio stays below LeaseDuration/RenewDeadline (with the
// defaults, 15s/10s, a clock may run 1.5 times as fast as another), and the
// leader's process is not paused for longer than the margin between the
// two. Identities must be unique among live candidates; a record with this
// candidate's identity that this elector did not write (a restarted
// process's, say) is treated as another candidate's.
//
// The election alone does not fence: a process paused (by a garbage
// collector, a stopped VM) after it checked IsLeader can still act late.
// FencingToken returns the leadership's fencing token, the resourceVersion
// of the write that began it: every later leadership on the lock, by any
// candidate, gets a higher one (Kubernetes 1.35 and newer promise that the
// resourceVersions of one resource compare as integers). Pass it with
// writes to a system that refuses tokens lower than the highest it has
// seen (package fencing: a Checker, or UpdateObject for Kubernetes
// objects), and such late writes are refused. Term, the record's
// leaderTransitions, is higher for each acquisition this candidate sees,
// but is no fence: anyone who writes the record can lower it, and a
// candidate that never saw the lock before it was deleted (or a record
// whose JSON did not decode) starts again from the highest it saw. Such a
// candidate also creates a missing lock at once, so deleting a lock object
// that a fleet uses can give two leaders for a moment; their fencing
// tokens still tell the older from the newer.
//
// The leader keeps its watch of the lock: when it shows the object deleted
// or written by someone else, the leader renews at once, recreating the
// object in its own term or finding the other holder and stepping down.
//
// Tolerance to API server latency varies inversely with availability: a
// leader that cannot reach the API server for RenewDeadline steps down
// even when no other candidate could take over either.
package election
