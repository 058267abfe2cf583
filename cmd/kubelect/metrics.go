package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubelect/kubelect/election"
)

// durationBuckets are the upper bounds, in seconds, of the request and
// renewal histograms.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

func (h *histogram) observe(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, len(durationBuckets))
	}
	s := d.Seconds()
	for i, b := range durationBuckets {
		if s <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += s
	h.count++
}

// promMetrics keeps the elector's measurements for /metrics, under the names
// docs/production.md lists.
type promMetrics struct {
	lock string // the lock label: namespace/name

	mu            sync.Mutex // protects the fields below
	leader, term  int
	transitions   uint64
	acquire       map[string]uint64
	requests      map[string]*histogram
	requestErrors map[[2]string]uint64 // op, kind
	renewals      histogram
	renewFailures map[string]uint64
	watchRestarts uint64
}

func newPromMetrics(lock string) *promMetrics {
	return &promMetrics{
		lock:          lock,
		acquire:       map[string]uint64{},
		requests:      map[string]*histogram{},
		requestErrors: map[[2]string]uint64{},
		renewFailures: map[string]uint64{},
	}
}

// hooks returns the elector hooks that feed m.
func (m *promMetrics) hooks() *election.Metrics {
	return &election.Metrics{
		Leading: func(leading bool, term int) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.leader, m.term = 0, term
			if leading {
				m.leader = 1
				m.transitions++
			}
		},
		Request: func(op string, d time.Duration, err error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			h := m.requests[op]
			if h == nil {
				h = &histogram{}
				m.requests[op] = h
			}
			h.observe(d)
			if err != nil {
				m.requestErrors[[2]string{op, string(election.ErrorKind(err))}]++
			}
		},
		Acquire: func(outcome election.AcquireOutcome) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.acquire[string(outcome)]++
		},
		Renewal: func(d time.Duration, err error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.renewals.observe(d)
			if err != nil {
				m.renewFailures[string(election.ErrorKind(err))]++
			}
		},
		WatchRestart: func(error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.watchRestarts++
		},
	}
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// labels formats name="value" pairs, the lock's first.
func (m *promMetrics) labels(pairs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `lock="%s"`, labelEscaper.Replace(m.lock))
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, `,%s="%s"`, pairs[i], labelEscaper.Replace(pairs[i+1]))
	}
	return "{" + b.String() + "}"
}

func sortedKeys[K comparable, V any](m map[K]V, less func(a, b K) bool) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	return keys
}

// write writes the metrics in the Prometheus text exposition format 0.0.4.
func (m *promMetrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	head := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	head("kubelect_leader", "gauge", "1 while this candidate leads, else 0.")
	fmt.Fprintf(w, "kubelect_leader%s %d\n", m.labels(), m.leader)
	head("kubelect_term", "gauge", "The term (leaderTransitions) this candidate last led in.")
	fmt.Fprintf(w, "kubelect_term%s %d\n", m.labels(), m.term)
	head("kubelect_leader_transitions_total", "counter", "Leaderships this candidate started.")
	fmt.Fprintf(w, "kubelect_leader_transitions_total%s %d\n", m.labels(), m.transitions)
	head("kubelect_acquire_attempts_total", "counter", "Tries to take the lock, by outcome.")
	for _, o := range sortedKeys(m.acquire, func(a, b string) bool { return a < b }) {
		fmt.Fprintf(w, "kubelect_acquire_attempts_total%s %d\n", m.labels("outcome", o), m.acquire[o])
	}
	head("kubelect_request_duration_seconds", "histogram", "Requests to the lock, by operation.")
	for _, op := range sortedKeys(m.requests, func(a, b string) bool { return a < b }) {
		writeHistogram(w, "kubelect_request_duration_seconds", m, m.requests[op], "op", op)
	}
	head("kubelect_request_errors_total", "counter", "Failed requests to the lock, by operation and error kind.")
	for _, k := range sortedKeys(m.requestErrors, func(a, b [2]string) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }) {
		fmt.Fprintf(w, "kubelect_request_errors_total%s %d\n", m.labels("op", k[0], "kind", k[1]), m.requestErrors[k])
	}
	head("kubelect_renew_duration_seconds", "histogram", "Renewals by the leader.")
	writeHistogram(w, "kubelect_renew_duration_seconds", m, &m.renewals)
	head("kubelect_renew_failures_total", "counter", "Failed renewals, by error kind.")
	for _, k := range sortedKeys(m.renewFailures, func(a, b string) bool { return a < b }) {
		fmt.Fprintf(w, "kubelect_renew_failures_total%s %d\n", m.labels("kind", k), m.renewFailures[k])
	}
	head("kubelect_watch_restarts_total", "counter", "Watches of the lock that ended and were opened again.")
	fmt.Fprintf(w, "kubelect_watch_restarts_total%s %d\n", m.labels(), m.watchRestarts)
}

func writeHistogram(w io.Writer, name string, m *promMetrics, h *histogram, pairs ...string) {
	var cum uint64
	for i, b := range durationBuckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", name, m.labels(append(pairs, "le", fmt.Sprint(b))...), cum)
	}
	fmt.Fprintf(w, "%s_bucket%s %d\n", name, m.labels(append(pairs, "le", "+Inf")...), h.count)
	fmt.Fprintf(w, "%s_sum%s %g\n", name, m.labels(pairs...), h.sum)
	fmt.Fprintf(w, "%s_count%s %d\n", name, m.labels(pairs...), h.count)
}
