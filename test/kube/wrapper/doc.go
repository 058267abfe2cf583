// Package wrapper runs the kubelect command, as separate processes, against
// a real kube-apiserver and etcd (the harness), and checks what its two
// long-running modes promise:
//
//   - "kubelect run" runs its CMD only while it leads: with three
//     candidates on one Lease and rounds of leader crashes (SIGKILL of
//     kubelect and of CMD's group), clean stops (SIGTERM: CMD stopped, the
//     lock released), leaders cut off from the API server (a fault proxy
//     in blackhole or reset mode, CMD ignoring SIGTERM so that only the
//     SIGKILL after --kill-after stops it) and planned transfers, no two
//     CMDs ever run at once, the terms grow, and every takeover comes
//     within its bound (a crash within a lease, a release or a transfer at
//     once). The CMD's interval is taken from its own start line to an
//     upper bound of its end: its stop line, or, when it was killed, the
//     moment the test saw the connection it keeps to the test close.
//   - "kubelect serve" answers "/" with what the Lease holds (holder, term
//     and times, to the microsecond), its long poll returns the new leader
//     after the leader's sidecar dies, and /healthz, /readyz and /metrics
//     answer (kubelect_leader 1 on exactly one candidate).
//   - "kubelect serve --label-pod" labels the leader's pod
//     kubelect.io/leader=NAME for a Service: with three candidates (Pod
//     objects no kubelet runs, each candidate behind its own fault proxy)
//     and rounds of crashes, releases, cut-offs, pauses and transfers, the
//     admin's watch of the pods never shows two labelled pods in any stored
//     state, each fault moves the label within its bound, and a label put
//     back late on an earlier leader's pod is gone within a lease duration
//     and a request's deadline.
//
// The tests run only with KUBELECT_REAL_API=1 (and the binaries built by
// test/kube/build.sh); otherwise each reports itself as skipped.
package wrapper
