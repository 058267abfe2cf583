package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/benchcand"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// coldScenarios are the locks a cold start finds.
var coldScenarios = []string{"free lock (no Lease)", "released lock (holderIdentity empty)"}

// coldResult is one implementation's cold starts on one kind of lock.
type coldResult struct {
	impl, scenario string
	lead, main     []time.Duration // exec → OnStartedLeading, exec → main
	cpu            []time.Duration // the process's user + sys CPU time, to its exit
	traces         []benchcand.Trace
}

// runColdStart starts each candidate with -once, trials times per
// implementation and kind of lock, one process at a time, alternating:
// the time from just before the exec to OnStartedLeading, measured by
// the child against the parent's clock reading (LEADERBENCH_T0). A free
// lock is a Lease name never used; a released lock is one Lease per
// implementation, released by the previous trial's process as it exited
// (checked before each trial).
//
// traces, when not nil, receives every trial's trace as a JSON line.
func runColdStart(ctx context.Context, cl *harness.Cluster, env []string, logs *os.File, trials int, traces io.Writer) ([]*coldResult, error) {
	var results []*coldResult
	byKey := map[string]*coldResult{}
	impls := append(append([]*procImpl(nil), procImpls...), floorImpl)
	for _, im := range impls {
		for _, sc := range coldScenarios {
			r := &coldResult{impl: im.name, scenario: sc}
			results = append(results, r)
			byKey[im.short+sc] = r
		}
		// Warm up the page cache and create the Lease to release.
		if _, _, err := coldOnce(ctx, cl, im, env, logs, "cold-"+im.short+"-released", "warmup-"+im.short, true); err != nil {
			return nil, err
		}
	}
	for i := 0; i < trials; i++ {
		for _, im := range impls {
			for si, sc := range coldScenarios {
				name := "cold-" + im.short + "-released"
				if si == 0 {
					name = fmt.Sprintf("cold-%s-free-%d", im.short, i)
				}
				tr, cpu, err := coldOnce(ctx, cl, im, env, logs, name, fmt.Sprintf("cold-%s-%d", im.short, i), si == 1)
				if err != nil {
					return nil, err
				}
				if traces != nil {
					line, _ := json.Marshal(map[string]any{"impl": im.name, "lock": sc, "cpu": cpu, "trace": tr})
					fmt.Fprintf(traces, "%s\n", line)
				}
				r := byKey[im.short+sc]
				r.cpu = append(r.cpu, cpu)
				r.lead = append(r.lead, time.Duration(tr.Lead))
				r.main = append(r.main, time.Duration(tr.Main))
				r.traces = append(r.traces, tr)
			}
		}
		if (i+1)%25 == 0 {
			log.Printf("cold start: %d/%d trials", i+1, trials)
		}
	}
	return results, nil
}

// coldOnce runs one cold start on the Lease name and returns its trace
// and the process's CPU time. With released, the Lease must exist with no
// holder first.
func coldOnce(ctx context.Context, cl *harness.Cluster, im *procImpl, env []string, logs *os.File, name, id string, released bool) (tr benchcand.Trace, cpu time.Duration, err error) {
	if released {
		holder, exists, err := leaseHolder(ctx, cl, name)
		if err != nil {
			return tr, 0, err
		}
		if exists && holder != "" {
			return tr, 0, fmt.Errorf("cold start: Lease %s is held by %q, not released", name, holder)
		}
	}
	time.Sleep(20 * time.Millisecond) // the previous process's connections close
	p, _, err := spawn(im, env, logs, nil, 0, "-sa-dir", saDir, "-name", name, "-id", id, "-once")
	if err != nil {
		return tr, 0, err
	}
	if err := p.wait(30 * time.Second); err != nil {
		return tr, 0, fmt.Errorf("cold start %s on %s: %w", im.name, name, err)
	}
	if err := json.Unmarshal([]byte(p.trace), &tr); err != nil {
		return tr, 0, fmt.Errorf("cold start %s on %s: trace %q: %w", im.name, name, p.trace, err)
	}
	return tr, p.cpu, nil
}

// leaseHolder reads the Lease's holderIdentity as the admin.
func leaseHolder(ctx context.Context, cl *harness.Cluster, name string) (holder string, exists bool, err error) {
	code, body, err := cl.AdminDo(ctx, http.MethodGet, "/apis/coordination.k8s.io/v1/namespaces/"+cl.Namespace+"/leases/"+name, nil)
	if err != nil {
		return "", false, err
	}
	if code == http.StatusNotFound {
		return "", false, nil
	}
	if code != http.StatusOK {
		return "", false, fmt.Errorf("GET Lease %s: %d %s", name, code, body)
	}
	var l struct {
		Spec struct {
			HolderIdentity *string `json:"holderIdentity"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return "", true, err
	}
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return holder, true, nil
}

// phases is where one cold start's time went, in order, as durations
// between the trace's points; a phase that did not happen is -1.
type phases struct {
	main, config, client, firstSend, handshake, firstAnswer, between, write, after time.Duration
	handshakes, requests                                                           int
}

// phasesOf breaks a trace down: process start → main → config loaded →
// client and elector built → first request sent; the first TLS handshake;
// the first request's round trip; its answer → the acquiring write sent; the acquiring write's (the last 2xx
// POST or PUT before the lead) round trip; its answer → OnStartedLeading.
func phasesOf(tr benchcand.Trace) phases {
	ph := phases{main: time.Duration(tr.Main), config: -1, client: -1, firstSend: -1, handshake: -1, firstAnswer: -1, between: -1, write: -1, after: -1}
	if c, ok := tr.Marks["config"]; ok {
		ph.config = time.Duration(c - tr.Main)
		if cl, ok := tr.Marks["client"]; ok {
			ph.client = time.Duration(cl - c)
		}
	}
	reqs := append([]*benchcand.Request(nil), tr.Requests...)
	sort.Slice(reqs, func(i, j int) bool { return reqs[i].Start < reqs[j].Start })
	var first, write *benchcand.Request
	for _, q := range reqs {
		if q.Start > tr.Lead {
			break
		}
		ph.requests++
		if q.TLSDone > 0 {
			if ph.handshakes == 0 {
				ph.handshake = time.Duration(q.TLSDone - q.TLSStart)
			}
			ph.handshakes++
		}
		if first == nil && !q.Watch {
			first = q
		}
		if (q.Method == http.MethodPost || q.Method == http.MethodPut) && q.Status/100 == 2 && q.Headers <= tr.Lead {
			write = q
		}
	}
	if cl, ok := tr.Marks["client"]; ok && first != nil {
		ph.firstSend = time.Duration(first.Start - cl)
	}
	if first != nil && first.Headers > 0 {
		ph.firstAnswer = time.Duration(first.Headers - first.Start)
	}
	if write != nil && first != nil && first != write && first.Headers > 0 {
		ph.between = time.Duration(write.Start - first.Headers)
	}
	if write != nil {
		ph.write = time.Duration(write.Headers - write.Start)
		ph.after = time.Duration(tr.Lead - write.Headers)
	}
	return ph
}

// medianPhases is the median of each phase over the traces.
func medianPhases(trs []benchcand.Trace) phases {
	var cols [11][]time.Duration
	for _, tr := range trs {
		p := phasesOf(tr)
		for i, v := range []time.Duration{p.main, p.config, p.client, p.firstSend, p.handshake, p.firstAnswer, p.between, p.write, p.after, time.Duration(p.handshakes), time.Duration(p.requests)} {
			if v >= 0 {
				cols[i] = append(cols[i], v)
			}
		}
	}
	m := func(i int) time.Duration {
		if len(cols[i]) == 0 {
			return -1
		}
		return percentile(cols[i], 0.5)
	}
	return phases{m(0), m(1), m(2), m(3), m(4), m(5), m(6), m(7), m(8), int(m(9)), int(m(10))}
}
