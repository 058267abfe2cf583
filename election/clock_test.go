package election_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/fakeclock"
)

// The elector takes all its time from the injected Clock: a follower takes
// an expired lock when the fake clock says the lease is over.
func TestInjectedClock(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &memStore{}
	s.set(rl.LeaderElectionRecord{HolderIdentity: "old", LeaseDurationSeconds: 15})
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:          &memLock{id: "a", store: s},
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Clock:         clock,
		Logger:        quiet,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(<-chan struct{}) {},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- le.RunContext(ctx) }()

	// Step the fake clock 100ms at a time; the elector waits on its timers.
	waitTimer := func() {
		for clock.Waiting() == 0 {
			runtime.Gosched() // until the elector waits on a timer
		}
	}
	var leadAt time.Duration
	for elapsed := time.Duration(0); elapsed < time.Minute; elapsed += 100 * time.Millisecond {
		waitTimer()
		if le.IsLeader() {
			leadAt = elapsed
			break
		}
		clock.Advance(100 * time.Millisecond)
	}
	if leadAt < 15*time.Second || leadAt > 15*time.Second+4400*time.Millisecond {
		t.Errorf("took the lock after %v of fake time, want within [15s, 19.4s]", leadAt)
	}
	if rec := s.record(); rec.HolderIdentity != "a" || !rec.RenewTime.Equal(clock.Now()) {
		t.Errorf("record = %+v, want holder a renewed at the fake clock's now (%v)", rec, clock.Now())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("RunContext = %v", err)
	}
	if err := le.RunContext(context.Background()); !errors.Is(err, election.ErrAlreadyRun) {
		t.Errorf("second RunContext = %v, want ErrAlreadyRun", err)
	}
}
