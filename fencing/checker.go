package fencing

import (
	"errors"
	"fmt"
	"sync"
)

// ErrStale is wrapped by the error that refuses a token lower than the
// highest seen: the write comes from a leadership that has ended.
var ErrStale = errors.New("fencing: stale token")

// StaleError refuses a token lower than the highest seen. errors.Is(err,
// ErrStale) is true for it.
type StaleError struct {
	Token   Token // the token refused
	Highest Token // the highest token seen
}

// Error names the refused token and the highest seen.
func (e *StaleError) Error() string {
	return fmt.Sprintf("fencing: stale token %d: a leadership with token %d has begun since", e.Token, e.Highest)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// A Checker admits the writes of the current leader and refuses those of
// earlier ones, for a service that receives a leader's requests or a store
// in front of a database. It remembers the highest token it has admitted;
// a lower token is refused. It is safe for concurrent use.
//
// Keep one Checker for all the writes it guards, and make its highest
// token survive restarts (the persist hook of NewChecker, and the value
// given back to NewChecker at start): a Checker that forgot would admit
// an ex-leader again. The zero Checker is ready to use, with no highest
// token and no persist hook.
type Checker struct {
	mu      sync.RWMutex
	highest Token
	persist func(Token) error
}

// NewChecker returns a Checker whose highest token is highest (0 for
// none). persist, when not nil, is called with each new highest token
// before any write carrying it is admitted; when it returns an error the
// token is not admitted, and the error is returned.
func NewChecker(highest Token, persist func(Token) error) *Checker {
	return &Checker{highest: highest, persist: persist}
}

// Highest returns the highest token admitted (or given to NewChecker).
func (c *Checker) Highest() Token {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.highest
}

// Admit admits t: nil when t is at least the highest token seen (which
// then becomes t), a *StaleError when it is lower. Admit alone suits a
// store that makes the check and the write atomic itself; otherwise use Do.
func (c *Checker) Admit(t Token) error { return c.Do(t, nil) }

// Do runs write when t is admitted (see Admit) and returns its error; it
// does not run it for a refused token. While write runs, no higher token
// is admitted: a new leader's first write waits until the writes already
// admitted for older tokens are done, so that none of them lands after it.
// Writes with the same token run concurrently. write must not call the
// Checker's methods.
func (c *Checker) Do(t Token, write func() error) error {
	if t == 0 {
		return invalidf("token 0: tokens are positive")
	}
	c.mu.RLock()
	if t <= c.highest {
		defer c.mu.RUnlock()
		if t < c.highest {
			return &StaleError{Token: t, Highest: c.highest}
		}
		return run(write)
	}
	c.mu.RUnlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	if t < c.highest {
		return &StaleError{Token: t, Highest: c.highest}
	}
	if t > c.highest {
		if c.persist != nil {
			if err := c.persist(t); err != nil {
				return fmt.Errorf("fencing: persist the highest token %d: %w", t, err)
			}
		}
		c.highest = t
	}
	return run(write)
}

func run(write func() error) error {
	if write == nil {
		return nil
	}
	return write()
}
