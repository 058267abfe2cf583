//go:build go1.25

package electiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// Fleet is a set of candidates on one lock, and the timeline of their
// leadership terms.
type Fleet struct {
	Candidates []*Candidate
	Timeline   *Timeline
}

// Candidate is one member of a Fleet.
type Candidate struct {
	ID     string
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	le *election.LeaderElector // guarded by mu; replaced when the candidate stands again
}

// Elector is the candidate's current elector.
func (c *Candidate) Elector() *election.LeaderElector {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.le
}

// Stop stops the candidate, as a crash would unless the fleet releases,
// and waits until its elector has returned.
func (c *Candidate) Stop() {
	c.cancel()
	<-c.done
}

// NewFleet starts n candidates on one lock of the given kind on srv, with
// ReleaseOnCancel set to release. A candidate whose elector ends
// (leadership lost) stands again with a new elector, as a restarted
// replica would. The fleet stops when the test ends.
func NewFleet(t testing.TB, srv *testapiserver.Server, kind string, n int, release bool) *Fleet {
	t.Helper()
	f := &Fleet{Timeline: NewTimeline()}
	for i := range n {
		id := fmt.Sprintf("candidate-%d", i)
		lock, err := rl.New(kind, Namespace, LockName, srv.Client(), rl.ResourceLockConfig{Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		c := &Candidate{ID: id, cancel: cancel, done: make(chan struct{})}
		c.le = f.newElector(t, lock, id, release)
		go func() {
			defer close(c.done)
			for {
				err := c.Elector().RunContext(ctx)
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, election.ErrLeadershipLost) {
					t.Errorf("%s: RunContext: %v", id, err)
					return
				}
				c.mu.Lock()
				c.le = f.newElector(t, lock, id, release)
				c.mu.Unlock()
			}
		}()
		f.Candidates = append(f.Candidates, c)
	}
	t.Cleanup(f.StopAll)
	return f
}

func (f *Fleet) newElector(t testing.TB, lock rl.Interface, id string, release bool) *election.LeaderElector {
	cfg := Config(t, lock, f.Timeline)
	cfg.ReleaseOnCancel = release
	le, err := election.NewLeaderElector(cfg)
	if err != nil {
		t.Error(err)
	}
	return le
}

// Config is the tests' config for lock: the timings above, the lock's
// identity as the elector's name, a logger through t, and callbacks that
// record each term in tl.
func Config(t testing.TB, lock rl.Interface, tl *Timeline) election.LeaderElectionConfig {
	id := lock.Identity()
	return election.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: LeaseDuration,
		RenewDeadline: RenewDeadline,
		RetryPeriod:   RetryPeriod,
		Name:          id,
		Logger:        Logger(t),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				tl.Start(id)
				<-stop
				tl.End(id)
			},
			OnStoppedLeading: func() {},
		},
	}
}

// StopAll stops every candidate and waits, in the synctest bubble, until
// nothing is left to run.
func (f *Fleet) StopAll() {
	for _, c := range f.Candidates {
		c.Stop()
	}
	synctest.Wait()
}

// Leader returns the one candidate that says it leads, and fails the test
// if there is not exactly one.
func (f *Fleet) Leader(t testing.TB) *Candidate {
	t.Helper()
	var leaders []*Candidate
	for _, c := range f.Candidates {
		if c.Elector().IsLeader() {
			leaders = append(leaders, c)
		}
	}
	if len(leaders) != 1 {
		t.Fatalf("%d candidates lead, want 1", len(leaders))
	}
	return leaders[0]
}

// SoleLeader is the identity of Leader.
func (f *Fleet) SoleLeader(t testing.TB) string {
	t.Helper()
	return f.Leader(t).ID
}

// WaitNewLeader waits, in fake time, until a candidate other than old
// leads, for up to five lease durations.
func (f *Fleet) WaitNewLeader(t testing.TB, old string) *Candidate {
	t.Helper()
	for deadline := time.Now().Add(5 * LeaseDuration); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		for _, c := range f.Candidates {
			if c.ID != old && c.Elector().IsLeader() {
				return c
			}
		}
	}
	t.Fatalf("no new leader within %v", 5*LeaseDuration)
	return nil
}
