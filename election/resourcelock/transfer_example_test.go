package resourcelock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A planned transfer: ask the leader of a Lease lock to hand over to
// pod-b. Electors of package election honour the request: the leader steps
// down and releases the lock for pod-b, which takes it at once. An
// annotation lock cannot carry a request.
func ExampleRequestTransfer() {
	srv := testapiserver.New(testapiserver.Options{})
	ctx := context.Background()
	client := srv.Client()
	lock, err := rl.New(rl.LeasesResourceLock, "default", "my-controller", client, rl.ResourceLockConfig{Identity: "pod-a"})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	if err := lock.Create(ctx, rl.LeaderElectionRecord{HolderIdentity: "pod-a", LeaseDurationSeconds: 15,
		AcquireTime: rl.NewTime(now), RenewTime: rl.NewTime(now)}); err != nil {
		panic(err)
	}

	err = rl.RequestTransfer(ctx, client, "default", "my-controller", "pod-b")
	fmt.Println("request:", err)
	rec, _, err := lock.Get(ctx)
	fmt.Println("holder:", rec.HolderIdentity, "preferred:", rec.PreferredHolder, err)

	eps, err := rl.New(rl.EndpointsResourceLock, "default", "legacy", client, rl.ResourceLockConfig{Identity: "pod-a"})
	if err != nil {
		panic(err)
	}
	if err := eps.Create(ctx, rl.LeaderElectionRecord{HolderIdentity: "pod-a", LeaseDurationSeconds: 15}); err != nil {
		panic(err)
	}
	err = rl.RequestTransfer(ctx, client, "default", "legacy", "pod-b")
	fmt.Println("on an Endpoints lock:", errors.Is(err, rl.ErrNotLease))
	// Output:
	// request: <nil>
	// holder: pod-a preferred: pod-b <nil>
	// on an Endpoints lock: true
}
