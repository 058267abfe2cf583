//go:build go1.25

package election_test

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// deepLock is a memLock whose reads need a deep stack, as a real request
// does (HTTP/2, TLS, JSON): about 32 KiB of frames.
type deepLock struct{ *memLock }

func (l deepLock) Get(ctx context.Context) (*rl.LeaderElectionRecord, []byte, error) {
	return deep(ctx, l.memLock, 64)
}

func (l deepLock) Update(ctx context.Context, rec rl.LeaderElectionRecord) error {
	_, _, err := deep(ctx, l.memLock, 64)
	if err != nil {
		return err
	}
	return l.memLock.Update(ctx, rec)
}

//go:noinline
func deep(ctx context.Context, l *memLock, n int) (*rl.LeaderElectionRecord, []byte, error) {
	var pad [512]byte
	if n == 0 {
		return l.Get(ctx)
	}
	rec, raw, err := deep(ctx, l, n-1)
	if pad[n%len(pad)] != 0 { // keeps pad on the stack
		return nil, nil, err
	}
	return rec, raw, err
}

// TestParkedFollowerStackStaysSmall: 500 followers of a lock held by
// another candidate, whose reads each need 32 KiB of stack, hold less than
// 16 KiB of stack each once they wait for the lease (after one collection,
// which halves a stack that is mostly unused). A try run on the elector's
// own goroutine would leave it with a 32 KiB stack or more, for as long
// as it follows.
func TestParkedFollowerStackStaysSmall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 500
		s := &memStore{}
		s.set(rl.LeaderElectionRecord{HolderIdentity: "other", LeaseDurationSeconds: 3600,
			AcquireTime: rl.NewTime(time.Now()), RenewTime: rl.NewTime(time.Now())})
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cs := make([]*candidate, n)
		for i := range cs {
			cs[i] = run(t, deepLock{&memLock{id: "me", store: s}}, noNewLeader)
		}
		synctest.Wait()
		for i, c := range cs {
			if got := c.le.GetLeader(); got != "other" {
				t.Fatalf("follower %d: leader %q, want other", i, got)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if per := float64(after.StackInuse-before.StackInuse) / n / 1024; per >= 16 {
			t.Errorf("parked followers hold %.1f KiB of stack each, want less than 16", per)
		}
	})
}

// TestRenewingLeaderStackStaysSmall: 200 leaders, each of its own lock,
// whose renewals each need 32 KiB of stack, hold less than 24 KiB of stack
// each (two goroutines: the renew loop and OnStartedLeading's) after a
// minute of renewals and one collection.
func TestRenewingLeaderStackStaysSmall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 200
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		cs := make([]*candidate, n)
		for i := range cs {
			cs[i] = run(t, deepLock{&memLock{id: "me", store: &memStore{}}}, noNewLeader)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		for i, c := range cs {
			if !c.le.IsLeader() {
				t.Fatalf("elector %d does not lead its own lock", i)
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if per := float64(after.StackInuse-before.StackInuse) / n / 1024; per >= 24 {
			t.Errorf("renewing leaders hold %.1f KiB of stack each, want less than 24", per)
		}
	})
}

// noNewLeader leaves OnNewLeader unset, so that an elector runs no
// goroutine to call it.
func noNewLeader(cfg *election.LeaderElectionConfig) { cfg.Callbacks.OnNewLeader = nil }
