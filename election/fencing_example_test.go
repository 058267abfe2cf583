package election_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A leader takes its fencing token when its leadership begins and puts it
// on every write that must not come from two leaders: here fenced updates
// of a ConfigMap, which the API server refuses once a later leadership has
// written (see package fencing).
func ExampleLeaderElector_FencingToken() {
	srv := testapiserver.New(testapiserver.Options{}) // in a pod: k8sapi.InClusterConfig and k8sapi.New
	defer srv.Close()
	client := srv.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := client.Create(ctx, k8sapi.ConfigMaps, k8sapi.NewObject(k8sapi.ConfigMaps, "default", "progress")); err != nil {
		fmt.Println(err)
		return
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, "default", "my-app", client,
		resourcelock.ResourceLockConfig{Identity: "replica-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var le *election.LeaderElector
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				defer cancel() // the work is done: step down
				token, err := le.FencingToken()
				if err != nil {
					fmt.Println("no fencing token:", err) // a server whose resourceVersions are not integers
					return
				}
				_, err = fencing.UpdateObject(ctx, client, k8sapi.ConfigMaps, "default", "progress", token,
					func(o *k8sapi.Object) error { return o.SetField("done", "data", "step-1") })
				var stale *fencing.StaleError
				switch {
				case errors.As(err, &stale):
					fmt.Println("a later leader has written; stop acting")
				case err != nil:
					fmt.Println(err)
				default:
					fmt.Println("step-1 recorded under the leadership's token")
				}
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = le.RunContext(ctx)
	if _, err := le.FencingToken(); errors.Is(err, election.ErrNotLeading) {
		fmt.Println("after the leadership: no token")
	}
	// Output:
	// step-1 recorded under the leadership's token
	// after the leadership: no token
}
