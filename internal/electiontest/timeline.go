//go:build go1.25

package electiontest

import (
	"maps"
	"sort"
	"sync"
	"testing"
	"time"
)

// Timeline records each leadership term: from OnStartedLeading to the
// closing of its stop channel.
type Timeline struct {
	mu        sync.Mutex
	open      map[string]time.Time // guarded by mu
	intervals []Interval           // guarded by mu
}

// Interval is one ended leadership term.
type Interval struct {
	ID         string
	Start, End time.Time
}

// NewTimeline returns an empty timeline.
func NewTimeline() *Timeline { return &Timeline{open: map[string]time.Time{}} }

// Start records that id started leading now.
func (tl *Timeline) Start(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.open[id] = time.Now()
}

// StartOf is when the open term of id started.
func (tl *Timeline) StartOf(id string) time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.open[id]
}

// End records that id's term ended now.
func (tl *Timeline) End(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.intervals = append(tl.intervals, Interval{ID: id, Start: tl.open[id], End: time.Now()})
	delete(tl.open, id)
}

// Intervals are the ended terms, in the order they ended.
func (tl *Timeline) Intervals() []Interval {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]Interval(nil), tl.intervals...)
}

// Open are the terms under way: when each started, by identity.
func (tl *Timeline) Open() map[string]time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return maps.Clone(tl.open)
}

// AssertNoOverlap fails if two terms overlap: a new leader started before
// the previous one's stop channel was closed.
func (tl *Timeline) AssertNoOverlap(t testing.TB) {
	t.Helper()
	terms := tl.Intervals()
	sort.Slice(terms, func(i, j int) bool { return terms[i].Start.Before(terms[j].Start) })
	for i := 1; i < len(terms); i++ {
		if terms[i].Start.Before(terms[i-1].End) {
			t.Errorf("two leaders at once: %s led %v–%v and %s from %v",
				terms[i-1].ID, terms[i-1].Start.Format(time.TimeOnly), terms[i-1].End.Format(time.TimeOnly),
				terms[i].ID, terms[i].Start.Format(time.TimeOnly))
		}
	}
}
