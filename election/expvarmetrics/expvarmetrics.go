// Package expvarmetrics publishes an elector's measurements with package
// expvar, so that they appear at /debug/vars next to the runtime's: no
// dependency, nothing to register but one line.
//
//	m, err := expvarmetrics.Publish("election")
//	...
//	cfg.Metrics = m.Metrics()
//
// The published map holds:
//
//	leader                     1 while leading, else 0
//	term                       the term of the current (or last) leadership
//	leader_transitions         leaderships started
//	acquire_attempts           tries to take the lock, by outcome ("acquired", "held", "lost-race", "error")
//	requests                   requests to the lock, by operation ("get", "create", "update")
//	request_errors             requests that did not succeed, by kind (election.ErrorKind; a conflict is one)
//	request_seconds            total time spent in requests, by operation
//	renewals                   renewal attempts
//	renew_failures             failed renewals, by kind
//	renew_seconds              total time spent renewing
//	watch_restarts             watches of the lock that ended and were opened again
//
// Several electors in one process publish under different names.
package expvarmetrics

import (
	"expvar"
	"fmt"
	"sync"
	"time"

	"github.com/kubelect/kubelect/election"
)

// Vars is one elector's published measurements.
type Vars struct {
	m *expvar.Map

	leader, term, transitions *expvar.Int
	renewals                  *expvar.Int
	renewSeconds              *expvar.Float
	attempts, requests        *expvar.Map
	requestErrors             *expvar.Map
	requestSeconds            *expvar.Map
	renewFailures             *expvar.Map
	watchRestarts             *expvar.Int
}

// mu serializes Publish's check for a name in use with its publication.
var mu sync.Mutex

// Publish publishes a map named name with package expvar and returns the
// Vars that fill it. It fails when name is already published (expvar's
// own Publish would panic).
func Publish(name string) (*Vars, error) {
	mu.Lock()
	defer mu.Unlock()
	if expvar.Get(name) != nil {
		return nil, fmt.Errorf("expvarmetrics: %q is already published", name)
	}
	v := New()
	expvar.Publish(name, v.m)
	return v, nil
}

// New returns Vars that are not published: serve them with Map, or publish
// them under a name of your choice.
func New() *Vars {
	v := &Vars{
		m:              new(expvar.Map),
		leader:         new(expvar.Int),
		term:           new(expvar.Int),
		transitions:    new(expvar.Int),
		renewals:       new(expvar.Int),
		renewSeconds:   new(expvar.Float),
		attempts:       new(expvar.Map),
		requests:       new(expvar.Map),
		requestErrors:  new(expvar.Map),
		requestSeconds: new(expvar.Map),
		renewFailures:  new(expvar.Map),
		watchRestarts:  new(expvar.Int),
	}
	v.m.Set("leader", v.leader)
	v.m.Set("term", v.term)
	v.m.Set("leader_transitions", v.transitions)
	v.m.Set("acquire_attempts", v.attempts)
	v.m.Set("requests", v.requests)
	v.m.Set("request_errors", v.requestErrors)
	v.m.Set("request_seconds", v.requestSeconds)
	v.m.Set("renewals", v.renewals)
	v.m.Set("renew_failures", v.renewFailures)
	v.m.Set("renew_seconds", v.renewSeconds)
	v.m.Set("watch_restarts", v.watchRestarts)
	return v
}

// Map is the map of measurements, as published.
func (v *Vars) Map() *expvar.Map { return v.m }

// Metrics returns the hooks to set as the elector's
// LeaderElectionConfig.Metrics.
func (v *Vars) Metrics() *election.Metrics {
	return &election.Metrics{
		Leading: func(leading bool, term int) {
			if leading {
				v.leader.Set(1)
				v.term.Set(int64(term))
				v.transitions.Add(1)
				return
			}
			v.leader.Set(0)
		},
		Request: func(op string, d time.Duration, err error) {
			v.requests.Add(op, 1)
			v.requestSeconds.AddFloat(op, d.Seconds())
			if err != nil {
				v.requestErrors.Add(string(election.ErrorKind(err)), 1)
			}
		},
		Acquire: func(outcome election.AcquireOutcome) { v.attempts.Add(string(outcome), 1) },
		Renewal: func(d time.Duration, err error) {
			v.renewals.Add(1)
			v.renewSeconds.Add(d.Seconds())
			if err != nil {
				v.renewFailures.Add(string(election.ErrorKind(err)), 1)
			}
		},
		WatchRestart: func(error) { v.watchRestarts.Add(1) },
	}
}
