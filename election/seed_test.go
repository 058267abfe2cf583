package election_test

import (
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// seedProgram is code written against the seed package, unchanged but for
// the import path: it must keep compiling.
func seedProgram(lock rl.Interface, run func(stop <-chan struct{})) {
	election.RunOrDie(election.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: run,
			OnStoppedLeading: func() {
				panic("leader election lost")
			},
		},
	})
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{Lock: lock})
	if err == nil {
		_, _ = le.IsLeader(), le.GetLeader()
		le.Run()
	}
	_ = []any{election.JitterFactor, election.DefaultLeaseDuration, election.DefaultRenewDeadline,
		election.DefaultRetryPeriod, election.LeaderElectionRecordAnnotationKey}
}

var _ = seedProgram
