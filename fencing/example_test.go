package fencing_test

import (
	"errors"
	"fmt"

	"github.com/kubelect/kubelect/fencing"
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
