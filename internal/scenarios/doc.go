// Package scenarios holds end-to-end scenarios of the elector against the
// in-process API server (k8sapi/testapiserver), in testing/synctest
// bubbles: herds of followers taking over (herd_test.go), operability —
// health checks, Status, Stand, metrics hooks and planned transfers
// (operability_test.go) — and reliability, one regression test for each
// way the elector once broke its promise (reliability_test.go).
//
// It has no code but its tests; what they share with the seed's
// end-to-end tests at the module's root (election_test.go) is in
// internal/electiontest. CI runs TestHerd once more without the race
// detector, with 200 followers (.ci/run).
package scenarios
