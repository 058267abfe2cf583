package election_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A service that routes to the leader follows the lock with an Observer:
// it never stands, never writes, and learns of each new holder from the
// watch. Here a replica takes the lock and then hands it over by
// releasing it; the observer sees both.
func ExampleObserver() {
	// An in-process API server; in a pod, use k8sapi.InClusterConfig()
	// and k8sapi.New.
	srv := testapiserver.New(testapiserver.Options{})
	defer srv.Close()
	client := srv.Client()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The observer gets a lock of its own; its identity is never written.
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, "default", "my-app", client,
		resourcelock.ResourceLockConfig{Identity: "router"})
	if err != nil {
		fmt.Println(err)
		return
	}
	obs, err := election.NewObserver(election.ObserverConfig{Lock: lock, Logger: logger})
	if err != nil {
		fmt.Println(err)
		return
	}
	observing := make(chan error, 1)
	go func() { observing <- obs.Run(ctx) }()

	// A replica stands, leads, and steps down at once.
	replica, err := resourcelock.New(resourcelock.LeasesResourceLock, "default", "my-app", client,
		resourcelock.ResourceLockConfig{Identity: "replica-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	started := make(chan struct{})
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            replica,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Logger:          logger,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) { close(started); <-stop },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	leCtx, stepDown := context.WithCancel(ctx)
	defer stepDown()
	standing := make(chan error, 1)
	go func() { standing <- le.RunContext(leCtx) }()

	// Wait for news as a long-polling handler would: pass the Version
	// you have, get the observation when it changes.
	var ob election.Observation
	for !ob.Leading(time.Now()) {
		if ob, err = obs.Wait(ctx, ob.Version); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("route to %s (term %d)\n", ob.Holder, ob.Term)

	<-started
	stepDown() // releases the lock
	<-standing
	for ob.Holder != "" {
		if ob, err = obs.Wait(ctx, ob.Version); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("released: leading %v\n", ob.Leading(time.Now()))
	cancel()
	fmt.Println(<-observing)
	// Output:
	// route to replica-1 (term 0)
	// released: leading false
	// context canceled
}
