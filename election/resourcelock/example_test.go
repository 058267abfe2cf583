package resourcelock_test

import (
	"context"
	"fmt"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A Lease lock on the in-process API server: the first candidate creates
// the Lease, another one reads who holds it.
func ExampleNew() {
	srv := testapiserver.New(testapiserver.Options{})
	ctx := context.Background()
	newLock := func(id string) rl.Interface {
		client := srv.Client()
		lock, err := rl.New(rl.LeasesResourceLock, "default", "my-controller", client, rl.ResourceLockConfig{Identity: id})
		if err != nil {
			panic(err)
		}
		return lock
	}

	now := time.Now()
	err := newLock("pod-a").Create(ctx, rl.LeaderElectionRecord{
		HolderIdentity: "pod-a", LeaseDurationSeconds: 15, AcquireTime: rl.NewTime(now), RenewTime: rl.NewTime(now),
	})
	fmt.Println("create:", err)
	rec, _, err := newLock("pod-b").Get(ctx)
	fmt.Println("holder:", rec.HolderIdentity, "lease:", rec.LeaseDurationSeconds, err)
	// Output:
	// create: <nil>
	// holder: pod-a lease: 15 <nil>
}
