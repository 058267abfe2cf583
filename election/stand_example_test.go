package election_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kubelect/kubelect/election"
)

// A replica that stands for the life of the program: after a leadership
// ends it stands again, with a fresh stop channel per term, and serves its
// health for the kubelet's probes.
func ExampleLeaderElector_Stand() {
	store := &memStore{} // an in-memory lock; use resourcelock.New for a real one
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terms := 0
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:          &memLock{id: "replica-1", store: store},
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Logger:        quiet,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				terms++
				fmt.Println("leading, term", terms)
				cancel() // here: end the program after one term
				<-stop
			},
			OnStoppedLeading: func() { fmt.Println("stopped leading") },
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", le.LivenessHandler(3*time.Second)) // stuck renewals, a callback that ignores stop
	mux.Handle("/readyz", le.ReadinessHandler(time.Minute))   // no access to the API server for a minute
	// go http.ListenAndServe(":8080", mux)

	fmt.Println(le.Stand(ctx))
	// Output:
	// leading, term 1
	// stopped leading
	// context canceled
}
