//go:build go1.25

//go:debug asynctimerchan=0

package electiontest_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/internal/electiontest"
)

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// AssertNoOverlap passes terms that follow each other and fails two terms
// at once.
func TestTimelineAssertNoOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tl := electiontest.NewTimeline()
		tl.Start("a")
		time.Sleep(time.Second)
		tl.End("a")
		tl.Start("b")
		if open := tl.Open(); len(open) != 1 || !open["b"].Equal(tl.StartOf("b")) {
			t.Errorf("Open = %v, want b's term", open)
		}
		time.Sleep(time.Second)
		tl.End("b")
		r := &recorder{TB: t}
		tl.AssertNoOverlap(r)
		if len(r.errors) != 0 || len(tl.Intervals()) != 2 {
			t.Errorf("terms one after the other: errors %q, intervals %+v", r.errors, tl.Intervals())
		}

		tl.Start("c")
		time.Sleep(time.Second)
		tl.Start("d")
		time.Sleep(time.Second)
		tl.End("c")
		tl.End("d")
		tl.AssertNoOverlap(r)
		if len(r.errors) != 1 {
			t.Errorf("two leaders at once: errors %q, want one", r.errors)
		}
	})
}
