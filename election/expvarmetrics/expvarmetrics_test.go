package expvarmetrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/election/expvarmetrics"
	"github.com/kubelect/kubelect/k8sapi"
)

func TestVarsCount(t *testing.T) {
	v := expvarmetrics.New()
	m := v.Metrics()
	m.Acquire("held")
	m.Acquire("held")
	m.Acquire("acquired")
	m.Leading(true, 7)
	m.Request("get", 10*time.Millisecond, nil)
	m.Request("update", 20*time.Millisecond, &k8sapi.StatusError{Code: 409, Reason: "Conflict"})
	m.Request("update", 30*time.Millisecond, context.DeadlineExceeded)
	m.Renewal(5*time.Millisecond, nil)
	m.Renewal(15*time.Millisecond, &k8sapi.StatusError{Code: 500})
	m.WatchRestart(errors.New("EOF"))
	m.Leading(false, 7)

	var got map[string]any
	if err := json.Unmarshal([]byte(v.Map().String()), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"leader":             0.0,
		"term":               7.0,
		"leader_transitions": 1.0,
		"acquire_attempts":   map[string]any{"held": 2.0, "acquired": 1.0},
		"requests":           map[string]any{"get": 1.0, "update": 2.0},
		"request_errors":     map[string]any{"conflict": 1.0, "timeout": 1.0},
		"request_seconds":    map[string]any{"get": 0.01, "update": 0.05},
		"renewals":           2.0,
		"renew_failures":     map[string]any{"server": 1.0},
		"renew_seconds":      0.02,
		"watch_restarts":     1.0,
	}
	approx := cmp.Comparer(func(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 })
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
}

func TestPublishTwice(t *testing.T) {
	v, err := expvarmetrics.Publish("expvarmetrics-test")
	if err != nil {
		t.Fatal(err)
	}
	if expvar.Get("expvarmetrics-test") != v.Map() {
		t.Error("the published var is not the Vars' map")
	}
	if _, err := expvarmetrics.Publish("expvarmetrics-test"); err == nil {
		t.Error("publishing a name twice: no error")
	}
}
