// Package fencing keeps a paused or partitioned ex-leader from acting: a
// leader carries a token with each write it makes, and whatever receives
// the writes refuses a token lower than the highest it has seen.
//
// A lease cannot do this alone. A leader that stops for longer than its
// lease (a long garbage collection, a frozen virtual machine, a network
// partition) wakes believing it still leads, and its next write can land
// after another candidate took over. Only the receiver of the write can
// tell it is late, by its token.
//
// The token is the resourceVersion of the write that began a leadership
// (election.LeaderElector.FencingToken). Since Kubernetes 1.35 (KEP-5504,
// "comparable resource versions") the resourceVersions of one resource
// are integers that compare in the order of the writes, so every
// acquisition of a lock gets a higher token than every acquisition before
// it: by any candidate, of this library or another, after the lock was
// deleted and created again, across restarts of kube-apiserver and etcd.
// The term (leaderTransitions) is no such token: anyone who writes the
// record can set it lower, and a lock created again starts it at 0.
//
// Two ways to use it:
//
//   - A service that receives the leader's requests, or a layer in front
//     of a database, keeps a Checker: Do runs a write only for a token at
//     least as high as the highest seen, and persists the highest through
//     a hook, so that a restart does not forget it.
//   - A leader whose side effects are writes to Kubernetes objects uses
//     UpdateObject: the object records the highest token that wrote it in
//     an annotation, and an update that carries a lower one is refused;
//     the object's resourceVersion makes the check and the write one
//     atomic step in the API server.
//
// One thing moves tokens backwards: an etcd restored from a backup without
// raising its revision. The restore that etcd (3.6+) and Kubernetes
// describe for a Kubernetes etcd raises it past any revision served before
// (etcdutl snapshot restore with --bump-revision and --mark-compacted); do
// that, or reset every Checker's highest token and the objects'
// annotations before the leaders act again.
package fencing
