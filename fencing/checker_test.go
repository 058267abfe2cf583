package fencing_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/kubelect/kubelect/fencing"
)

func TestCheckerAdmitsNoLowerToken(t *testing.T) {
	var persisted []fencing.Token
	c := fencing.NewChecker(10, func(t fencing.Token) error { persisted = append(persisted, t); return nil })
	steps := []struct {
		token fencing.Token
		stale bool
	}{{10, false}, {9, true}, {12, false}, {12, false}, {11, true}, {10, true}, {30, false}, {29, true}}
	for i, s := range steps {
		err := c.Admit(s.token)
		var se *fencing.StaleError
		switch {
		case s.stale && (!errors.Is(err, fencing.ErrStale) || !errors.As(err, &se) || se.Token != s.token || se.Highest != c.Highest()):
			t.Errorf("step %d: Admit(%d) = %v; want a StaleError naming %d and %d", i, s.token, err, s.token, c.Highest())
		case !s.stale && err != nil:
			t.Errorf("step %d: Admit(%d) = %v; want nil", i, s.token, err)
		}
	}
	if c.Highest() != 30 || len(persisted) != 2 || persisted[0] != 12 || persisted[1] != 30 {
		t.Errorf("highest %d, persisted %v; want 30 and [12 30] (once per new highest)", c.Highest(), persisted)
	}
	if err := c.Admit(0); !errors.Is(err, fencing.ErrInvalidToken) {
		t.Errorf("Admit(0) = %v; want ErrInvalidToken", err)
	}
}

func TestCheckerPersistFailureAdmitsNothing(t *testing.T) {
	boom := errors.New("disk full")
	c := fencing.NewChecker(5, func(fencing.Token) error { return boom })
	ran := false
	if err := c.Do(6, func() error { ran = true; return nil }); !errors.Is(err, boom) || ran {
		t.Errorf("Do(6) = %v, ran %v; want the persist error and no write", err, ran)
	}
	if c.Highest() != 5 {
		t.Errorf("highest %d after a failed persist; want 5", c.Highest())
	}
	if err := c.Admit(5); err != nil {
		t.Errorf("Admit(5) = %v; the old token is still the highest", err)
	}
}

func TestZeroChecker(t *testing.T) {
	var c fencing.Checker
	if err := c.Admit(1); err != nil || c.Highest() != 1 {
		t.Errorf("zero Checker: Admit(1) = %v, highest %d", err, c.Highest())
	}
}

func TestCheckerDoReturnsTheWriteError(t *testing.T) {
	c := fencing.NewChecker(0, nil)
	boom := errors.New("write failed")
	if err := c.Do(3, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Do = %v; want the write's error", err)
	}
	if err := c.Do(2, func() error { t.Error("a stale write ran"); return nil }); !errors.Is(err, fencing.ErrStale) {
		t.Errorf("Do(2) = %v; want ErrStale", err)
	}
}

// A higher token is admitted only once the writes already admitted for
// lower ones are done: none of them lands after the new leader's first.
func TestCheckerOrdersWritesAcrossTokens(t *testing.T) {
	c := fencing.NewChecker(0, nil)
	var mu sync.Mutex
	var log []fencing.Token
	inOld := make(chan struct{})
	releaseOld := make(chan struct{})
	oldDone := make(chan error)
	go func() {
		oldDone <- c.Do(1, func() error {
			close(inOld)
			<-releaseOld
			mu.Lock()
			log = append(log, 1)
			mu.Unlock()
			return nil
		})
	}()
	<-inOld
	newDone := make(chan error)
	go func() {
		newDone <- c.Do(2, func() error {
			mu.Lock()
			log = append(log, 2)
			mu.Unlock()
			return nil
		})
	}()
	// The new write must wait for the old one: it cannot have run yet,
	// whatever the scheduler did, because the old write holds the Checker.
	select {
	case err := <-newDone:
		t.Fatalf("the higher token's write finished (%v) while a lower one's was in flight", err)
	default:
	}
	close(releaseOld)
	if err := <-oldDone; err != nil {
		t.Fatal(err)
	}
	if err := <-newDone; err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0] != 1 || log[1] != 2 {
		t.Errorf("writes landed in order %v; want [1 2]", log)
	}
	if err := c.Admit(1); !errors.Is(err, fencing.ErrStale) {
		t.Errorf("Admit(1) after 2 = %v; want ErrStale", err)
	}
}

func TestCheckerConcurrent(t *testing.T) {
	c := fencing.NewChecker(0, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last fencing.Token
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 1; i <= 200; i++ {
				tok := fencing.Token(i*8 + g%3)
				_ = c.Do(tok, func() error {
					// The writes land in token order: none after a
					// higher one.
					mu.Lock()
					defer mu.Unlock()
					if tok < last {
						t.Errorf("write for %d ran after one for %d", tok, last)
					}
					last = tok
					return nil
				})
			}
		}(g)
	}
	wg.Wait()
	if c.Highest() != 200*8+2 {
		t.Errorf("highest %d", c.Highest())
	}
}
