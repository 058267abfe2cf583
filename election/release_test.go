//go:build go1.25

package election_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// ReleaseOnCancel writes an empty holder, keeping the transition count,
// once OnStartedLeading has returned; OnStoppedLeading comes after.
func TestReleaseOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		s.set(rl.LeaderElectionRecord{LeaderTransitions: 6})
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.ReleaseOnCancel = true
			started := cfg.Callbacks.OnStartedLeading
			cfg.Callbacks.OnStartedLeading = func(stop <-chan struct{}) {
				started(stop)
				time.Sleep(3 * time.Second) // winding down
			}
		})
		time.Sleep(time.Minute + time.Second) // between two renewals
		s.takeCalls()
		c.cancel()
		if err := c.wait(); err != context.Canceled {
			t.Fatalf("RunContext = %v, want context.Canceled", err)
		}
		if elapsed := time.Since(c.t0) - time.Minute - time.Second; elapsed != 3*time.Second {
			t.Errorf("RunContext returned %v after cancel, want 3s (when the callback returned)", elapsed)
		}
		rec := s.record()
		if rec.HolderIdentity != "" || rec.LeaderTransitions != 7 || rec.LeaseDurationSeconds != 1 {
			t.Errorf("record after release = %+v, want empty holder, 7 transitions, 1s lease", rec)
		}
		if diff := cmp.Diff([]string{"a update"}, s.takeCalls()); diff != "" {
			t.Errorf("calls after cancel (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"0s leader a", "0s started", "1m1s stop closed", "1m4s stopped"}, sorted(c.log())); diff != "" {
			t.Errorf("callbacks (-want +got):\n%s", diff)
		}
	})
}

// A cancel while a renewal is under way ends the leadership at once, but
// not the renewal: the release waits for its answer and writes over the
// record it stored, in one update (cutting the renewal short would leave
// the server storing it after the release had read the lock: a conflict,
// a read and another write). A renewal that hangs holds the release up no
// longer than its own RequestTimeout.
func TestCancelDuringRenewal(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(map[bool]string{false: "answered", true: "hung"}[hang], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &memStore{}
				c := run(t, fineLock{&memLock{id: "a", store: s}}, func(cfg *election.LeaderElectionConfig) { cfg.ReleaseOnCancel = true })
				time.Sleep(time.Minute - time.Second) // a renewal is due at 1m
				if hang {
					s.setHang(true)
				} else {
					s.setSlow(500 * time.Millisecond) // stored at once, answered 500ms later
				}
				time.Sleep(time.Second + 100*time.Millisecond)
				s.takeCalls()
				c.cancel()
				synctest.Wait()
				if diff := cmp.Diff([]string{"0s leader a", "0s started", "1m0.1s stop closed"}, sorted(c.log())); diff != "" {
					t.Errorf("callbacks at the cancel (-want +got):\n%s", diff)
				}
				if err := c.wait(); err != context.Canceled {
					t.Fatalf("RunContext = %v, want context.Canceled", err)
				}
				want, returned := []string{"a update"}, time.Minute+time.Second // the renewal's answer at 1m0.5s, the release's 500ms later
				if hang {
					// The release waits out its RequestTimeout (5s) for the
					// renewal; its update then fails at once.
					returned = time.Minute + 100*time.Millisecond + 5*time.Second
				}
				if diff := cmp.Diff(want, s.takeCalls()); diff != "" {
					t.Errorf("calls after cancel (-want +got):\n%s", diff)
				}
				if elapsed := time.Since(c.t0); elapsed != returned {
					t.Errorf("RunContext returned at %v, want %v", elapsed, returned)
				}
				if rec := s.record(); !hang && rec.HolderIdentity != "" {
					t.Errorf("record after release = %+v, want released", rec)
				}
				if l := c.log(); !slices.Contains(l, fmt.Sprintf("%v stopped", returned)) {
					t.Errorf("callbacks %v: OnStoppedLeading not at %v", l, returned)
				}
			})
		})
	}
}

// A callback that does not return within ReleaseGrace may still be acting:
// the elector does not release, and the lease expires normally.
func TestNoReleaseWhileCallbackRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		hold := make(chan struct{})
		c := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) {
			cfg.ReleaseOnCancel = true
			cfg.ReleaseGrace = 5 * time.Second
			cfg.Callbacks.OnStartedLeading = func(stop <-chan struct{}) { <-stop; <-hold }
		})
		time.Sleep(time.Minute + time.Second) // between two renewals
		s.takeCalls()
		c.cancel()
		c.wait()
		if elapsed := time.Since(c.t0) - time.Minute - time.Second; elapsed != 5*time.Second {
			t.Errorf("RunContext returned %v after cancel, want ReleaseGrace (5s)", elapsed)
		}
		if calls := s.takeCalls(); len(calls) != 0 {
			t.Errorf("calls after cancel: %v, want none", calls)
		}
		if rec := s.record(); rec.HolderIdentity != "a" {
			t.Errorf("holder = %q, want a (not released)", rec.HolderIdentity)
		}
		close(hold)
	})
}

// Without ReleaseOnCancel nothing is written on cancel.
func TestNoReleaseByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		c := run(t, &memLock{id: "a", store: s}, nil)
		time.Sleep(time.Minute + time.Second)
		s.takeCalls()
		c.cancel()
		c.wait()
		if calls := s.takeCalls(); len(calls) != 0 {
			t.Errorf("calls after cancel: %v, want none", calls)
		}
		if rec := s.record(); rec.HolderIdentity != "a" {
			t.Errorf("holder = %q, want a", rec.HolderIdentity)
		}
	})
}

// A handover by release: the follower takes the lock at its next try and
// counts one more transition; the terms grow.
func TestHandoverByRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		a := run(t, &memLock{id: "a", store: s}, func(cfg *election.LeaderElectionConfig) { cfg.ReleaseOnCancel = true })
		synctest.Wait()
		b := run(t, &memLock{id: "b", store: s}, nil)
		time.Sleep(time.Minute)
		termA, _ := a.le.Term()
		a.cancel()
		a.wait()
		time.Sleep(maxRetry)
		termB, leading := b.le.Term()
		if !leading || termB != termA+1 {
			t.Errorf("b: Term() = %d, %v; want %d, true", termB, leading, termA+1)
		}
	})
}

// Three candidates on one lock, with the leader stopped again and again:
// at no instant do two of them lead.
func TestNeverTwoLeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &memStore{}
		var cands []*candidate
		for _, id := range []string{"a", "b", "c"} {
			cands = append(cands, run(t, &memLock{id: id, store: s}, nil))
		}
		leaders := 0
		for step := 0; step < 2000; step++ {
			time.Sleep(100 * time.Millisecond)
			n := 0
			for _, c := range cands {
				if c.le.IsLeader() {
					n++
				}
			}
			if n > 1 {
				t.Fatalf("%d leaders at %v", n, time.Since(cands[0].t0))
			}
			leaders += n
			if step%500 == 250 {
				s.setHang(true) // the leader loses its lease; later a follower takes it
			}
			if step%500 == 300 {
				s.setHang(false)
			}
		}
		if leaders < 1500 {
			t.Errorf("a leader in only %d of 2000 samples", leaders)
		}
	})
}
