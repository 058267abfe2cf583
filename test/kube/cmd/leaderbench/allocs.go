package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// renewalCost is what one renewal of a Lease lock costs the process,
// client side only: the server is a transport that answers with a canned
// object.
type renewalCost struct {
	allocs, bytes int64         // per renewal
	took          time.Duration // per renewal
	growth        int64         // live heap after the renewals less before them
}

const (
	warmRenewals     = 1000
	measuredRenewals = 10000
)

// renewalCosts measures both implementations' Lease Update.
func renewalCosts() (ours, cg renewalCost, err error) {
	ctx := context.Background()
	client, err := k8sapi.New(k8sapi.Config{Host: "https://canned.invalid", Transport: &cannedTransport{}})
	if err != nil {
		return ours, cg, err
	}
	lock, err := rl.New(rl.LeasesResourceLock, "bench", "canned", client, rl.ResourceLockConfig{Identity: "a"})
	if err != nil {
		return ours, cg, err
	}
	t0 := time.Now()
	rec := func(i int) rl.LeaderElectionRecord {
		at := rl.NewTime(t0.Add(time.Duration(i) * time.Millisecond))
		return rl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15, AcquireTime: rl.NewTime(t0), RenewTime: at}
	}
	if err := lock.Create(ctx, rec(0)); err != nil {
		return ours, cg, err
	}
	if ours, err = measure(func(i int) error { return lock.Update(ctx, rec(i)) }); err != nil {
		return ours, cg, err
	}

	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "https://canned.invalid", Transport: &cannedTransport{}, QPS: -1})
	if err != nil {
		return ours, cg, err
	}
	cgLock, err := cgrl.New(cgrl.LeasesResourceLock, "bench", "canned", cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: "a"})
	if err != nil {
		return ours, cg, err
	}
	cgRec := func(i int) cgrl.LeaderElectionRecord {
		at := metav1.NewTime(t0.Add(time.Duration(i) * time.Millisecond))
		return cgrl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15, AcquireTime: metav1.NewTime(t0), RenewTime: at}
	}
	if err := cgLock.Create(ctx, cgRec(0)); err != nil {
		return ours, cg, err
	}
	cg, err = measure(func(i int) error { return cgLock.Update(ctx, cgRec(i)) })
	return ours, cg, err
}

// measure warms update up, then runs it measuredRenewals times.
func measure(update func(i int) error) (renewalCost, error) {
	for i := 1; i <= warmRenewals; i++ {
		if err := update(i); err != nil {
			return renewalCost{}, err
		}
	}
	var m0, m1 runtime.MemStats
	gc()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	for i := 0; i < measuredRenewals; i++ {
		if err := update(warmRenewals + 1 + i); err != nil {
			return renewalCost{}, err
		}
	}
	took := time.Since(start)
	runtime.ReadMemStats(&m1)
	allocs, total := m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc
	gc()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(update) // and the lock it renews: the heap is measured with it live
	return renewalCost{
		allocs: int64(allocs) / measuredRenewals, bytes: int64(total) / measuredRenewals,
		took: took / measuredRenewals, growth: int64(m1.HeapAlloc) - int64(m0.HeapAlloc),
	}, nil
}

// gc collects twice: what sync.Pools hold survives one collection.
func gc() {
	runtime.GC()
	runtime.GC()
}

// cannedTransport answers a create with the object it was sent (a JSON
// one given a resourceVersion), and every later request with that same
// object.
type cannedTransport struct {
	stored      []byte
	contentType string
}

func (t *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	code := http.StatusOK
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	if t.stored == nil {
		// client-go sends protobuf, which goes back as it came; kubelect
		// sends JSON and wants a resourceVersion in the answer.
		t.contentType = req.Header.Get("Content-Type")
		t.stored = bytes.Replace(body, []byte(`"metadata":{`), []byte(`"metadata":{"resourceVersion":"1",`), 1)
		code = http.StatusCreated
	}
	return &http.Response{
		StatusCode: code, Proto: "HTTP/2.0", ProtoMajor: 2, Request: req,
		Header:        http.Header{"Content-Type": {t.contentType}},
		ContentLength: int64(len(t.stored)), Body: io.NopCloser(bytes.NewReader(t.stored)),
	}, nil
}
