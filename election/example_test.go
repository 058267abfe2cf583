package election_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kubelect/kubelect/election"
)

// A replica that leads, does its work, and steps down: with
// ReleaseOnCancel the lock is released once OnStartedLeading returns, so the
// next replica takes over at once.
func ExampleLeaderElector_RunContext() {
	store := &memStore{} // an in-memory lock; use resourcelock.New for a real one
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            &memLock{id: "replica-1", store: store},
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Logger:          quiet,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				fmt.Println("leading")
				cancel() // the work is done: step down
				<-stop
			},
			OnStoppedLeading: func() { fmt.Println("stopped leading") },
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = le.RunContext(ctx)
	fmt.Println(err)
	fmt.Printf("holder after release: %q\n", store.record().HolderIdentity)
	// Output:
	// leading
	// stopped leading
	// context canceled
	// holder after release: ""
}
