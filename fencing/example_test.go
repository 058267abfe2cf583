package fencing_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A service that receives the leader's requests keeps a Checker: the
// token of a leadership that has ended is refused once a later leader has
// been heard from, however late its request arrives.
func ExampleChecker() {
	saved := fencing.Token(0) // the highest token, as a real service would keep it on disk
	checker := fencing.NewChecker(saved, func(t fencing.Token) error {
		saved = t
		return nil
	})
	write := func(who string, token fencing.Token) {
		err := checker.Do(token, func() error {
			fmt.Printf("%s: written with token %d\n", who, token)
			return nil
		})
		if errors.Is(err, fencing.ErrStale) {
			fmt.Printf("%s: refused: %v\n", who, err)
		}
	}

	write("old leader", 4120)
	write("new leader", 4388) // the old leader paused; its lease ran out; a new one leads
	write("old leader", 4120) // the old leader wakes up
	fmt.Println("saved:", saved)
	// Output:
	// old leader: written with token 4120
	// new leader: written with token 4388
	// old leader: refused: fencing: stale token 4120: a leadership with token 4388 has begun since
	// saved: 4388
}

// A leader records its work in a ConfigMap with fenced updates: once a
// later leader has written, an update with an older token is refused by
// the API server's precondition, not by the writer's good will.
func ExampleUpdateObject() {
	ctx := context.Background()
	client := testapiserver.New(testapiserver.Options{}).Client() // a real cluster's client in production
	if _, err := client.Create(ctx, k8sapi.ConfigMaps, k8sapi.NewObject(k8sapi.ConfigMaps, "apps", "progress")); err != nil {
		fmt.Println(err)
		return
	}
	write := func(token fencing.Token, step string) {
		_, err := fencing.UpdateObject(ctx, client, k8sapi.ConfigMaps, "apps", "progress", token, func(o *k8sapi.Object) error {
			return o.SetField(step, "data", "step")
		})
		switch {
		case errors.Is(err, fencing.ErrStale):
			fmt.Printf("token %d: refused\n", token)
		case k8sapi.IsConflict(err):
			fmt.Printf("token %d: the object changed meanwhile; read and try again\n", token)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("token %d: %s recorded\n", token, step)
		}
	}
	write(310, "step 1") // the first leader (token from le.FencingToken())
	write(355, "step 2") // the next leader
	write(310, "step 3") // the first leader, late
	// Output:
	// token 310: step 1 recorded
	// token 355: step 2 recorded
	// token 310: refused
}
