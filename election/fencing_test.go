//go:build go1.25

package election_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/fencing"
)

// A lock of another package does not tell its resourceVersions: the
// leader gets an error, never a token, and leads all the same.
func TestFencingTokenOtherLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := run(t, &memLock{id: "a", store: &memStore{}}, nil)
		time.Sleep(time.Second)
		if !c.le.IsLeader() {
			t.Fatal("not leading")
		}
		if tok, err := c.le.FencingToken(); tok != 0 || !errors.Is(err, fencing.ErrInvalidToken) {
			t.Errorf("FencingToken() = %d, %v; want 0 and ErrInvalidToken", tok, err)
		}
		c.cancel()
		c.wait()
		if _, err := c.le.FencingToken(); !errors.Is(err, election.ErrNotLeading) {
			t.Errorf("after leading: %v; want ErrNotLeading", err)
		}
	})
}
