package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

func TestMetricsExposition(t *testing.T) {
	m := newPromMetrics("ns/my-lock")
	h := m.hooks()
	h.Acquire("held")
	h.Acquire("acquired")
	h.Leading(true, 4)
	h.Request("update", 30*time.Millisecond, nil)
	h.Request("update", 2*time.Second, &k8sapi.StatusError{Code: 409, Reason: "Conflict"})
	h.Renewal(30*time.Millisecond, nil)
	h.Renewal(20*time.Second, errors.New("boom"))
	h.WatchRestart(nil)
	var b strings.Builder
	m.write(&b)
	out := b.String()
	for _, want := range []string{
		"# TYPE kubelect_leader gauge\nkubelect_leader{lock=\"ns/my-lock\"} 1\n",
		"kubelect_term{lock=\"ns/my-lock\"} 4\n",
		"kubelect_leader_transitions_total{lock=\"ns/my-lock\"} 1\n",
		"kubelect_acquire_attempts_total{lock=\"ns/my-lock\",outcome=\"acquired\"} 1\nkubelect_acquire_attempts_total{lock=\"ns/my-lock\",outcome=\"held\"} 1\n",
		"# TYPE kubelect_request_duration_seconds histogram\n",
		"kubelect_request_duration_seconds_bucket{lock=\"ns/my-lock\",op=\"update\",le=\"0.025\"} 0\n",
		"kubelect_request_duration_seconds_bucket{lock=\"ns/my-lock\",op=\"update\",le=\"0.05\"} 1\n",
		"kubelect_request_duration_seconds_bucket{lock=\"ns/my-lock\",op=\"update\",le=\"2.5\"} 2\n",
		"kubelect_request_duration_seconds_bucket{lock=\"ns/my-lock\",op=\"update\",le=\"+Inf\"} 2\n",
		"kubelect_request_duration_seconds_sum{lock=\"ns/my-lock\",op=\"update\"} 2.03\n",
		"kubelect_request_duration_seconds_count{lock=\"ns/my-lock\",op=\"update\"} 2\n",
		"kubelect_request_errors_total{lock=\"ns/my-lock\",op=\"update\",kind=\"conflict\"} 1\n",
		"kubelect_renew_duration_seconds_bucket{lock=\"ns/my-lock\",le=\"10\"} 1\n",
		"kubelect_renew_duration_seconds_bucket{lock=\"ns/my-lock\",le=\"+Inf\"} 2\n",
		"kubelect_renew_failures_total{lock=\"ns/my-lock\",kind=\"other\"} 1\n",
		"kubelect_watch_restarts_total{lock=\"ns/my-lock\"} 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
