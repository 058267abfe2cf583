package resourcelock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

func BenchmarkRecordMarshal(b *testing.B) {
	rec := record("candidate-1", 3, time.Now())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := json.Marshal(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordUnmarshal(b *testing.B) {
	raw, _ := json.Marshal(record("candidate-1", 3, time.Now()))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var rec rl.LeaderElectionRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenew is one renewal (an Update of the cached object) of each
// lock kind against the in-process API server, request and answer
// included.
func BenchmarkRenew(b *testing.B) {
	ctx := context.Background()
	for _, k := range kinds {
		b.Run(k.kind, func(b *testing.B) {
			srv := testapiserver.New(testapiserver.Options{})
			lock := newLock(b, srv, k.kind, "a")
			now := time.Now()
			if err := lock.Create(ctx, record("a", 0, now)); err != nil {
				b.Fatal(err)
			}
			benchRenewals(b, lock, now)
		})
	}
}

// benchRenewals warms lock up with 1,000 renewals, times b.N more, and
// reports how much the live heap grew over them: with -benchtime=10000x it
// shows whether anything accumulates renewal after renewal.
func benchRenewals(b *testing.B, lock rl.Interface, now time.Time) {
	ctx := context.Background()
	renew := func(i int) {
		if err := lock.Update(ctx, record("a", 0, now.Add(time.Duration(i)*time.Second))); err != nil {
			b.Fatal(err)
		}
	}
	const warm = 1000
	for i := 0; i < warm; i++ {
		renew(i)
	}
	heap0 := liveHeap()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		renew(warm + i)
	}
	b.StopTimer()
	b.ReportMetric(float64(liveHeap())-float64(heap0), "heap-growth-B")
	runtime.KeepAlive(lock) // and with it the server: the heap is measured with both live
}

// liveHeap is the heap in use after two collections: what sync.Pools hold
// survives one.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRenewClientSide is one renewal of each lock kind with the
// server replaced by a transport that answers every PUT with the same
// stored object: what the library itself costs per renewal (encoding the
// record, the request, decoding the answer), plus the few allocations of
// the canned answer.
func BenchmarkRenewClientSide(b *testing.B) {
	ctx := context.Background()
	for _, k := range kinds {
		b.Run(k.kind, func(b *testing.B) {
			rt := &cannedTransport{}
			client, err := k8sapi.New(k8sapi.Config{Host: "https://canned.invalid", Transport: rt})
			if err != nil {
				b.Fatal(err)
			}
			lock, err := rl.New(k.kind, ns, "lock", client, rl.ResourceLockConfig{Identity: "a"})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			if err := lock.Create(ctx, record("a", 0, now)); err != nil {
				b.Fatal(err)
			}
			benchRenewals(b, lock, now)
		})
	}
}

// cannedTransport answers a create with the object it was sent, given a
// resourceVersion, and every later request with that same object.
type cannedTransport struct{ stored []byte }

func (t *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	code := http.StatusOK
	if t.stored == nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		t.stored = bytes.Replace(body, []byte(`"metadata":{`), []byte(`"metadata":{"resourceVersion":"1",`), 1)
		code = http.StatusCreated
	} else if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: code, Proto: "HTTP/2.0", ProtoMajor: 2, Request: req,
		Header:        http.Header{"Content-Type": {"application/json"}},
		ContentLength: int64(len(t.stored)), Body: io.NopCloser(bytes.NewReader(t.stored)),
	}, nil
}
