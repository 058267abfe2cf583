// Package electiontest holds what the end-to-end tests of the elector
// share: the lock they elect through on the in-process API server
// (k8sapi/testapiserver) and its timings, a fleet of candidates that stand
// again when they lose, a timeline of leadership terms that fails a test
// on two leaders at once, and readers of the lock's record on the server.
//
// It is for this module's own tests (the seed's end-to-end tests at the
// root and internal/scenarios), in testing/synctest bubbles: its files
// build with Go 1.25 or newer only.
package electiontest
