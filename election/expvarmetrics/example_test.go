package expvarmetrics_test

import (
	"expvar"
	"fmt"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/expvarmetrics"
)

// Publish an elector's measurements at /debug/vars (package expvar serves
// them on http.DefaultServeMux) under the name "election".
func ExamplePublish() {
	vars, err := expvarmetrics.Publish("election")
	if err != nil {
		panic(err) // the name is taken
	}
	cfg := election.LeaderElectionConfig{
		// Lock, timings and callbacks as usual.
		Metrics: vars.Metrics(),
	}
	// The elector calls the hooks; here, by hand:
	cfg.Metrics.Leading(true, 3)
	cfg.Metrics.Renewal(4*time.Millisecond, nil)

	m := expvar.Get("election").(*expvar.Map)
	fmt.Println("leader:", m.Get("leader"), "term:", m.Get("term"), "renewals:", m.Get("renewals"))
	// Output:
	// leader: 1 term: 3 renewals: 1
}
