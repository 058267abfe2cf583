package resourcelock_test

import (
	"context"
	"encoding/json"
	"runtime"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
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
			renew := func(i int) {
				if err := lock.Update(ctx, record("a", 0, now.Add(time.Duration(i)*time.Second))); err != nil {
					b.Fatal(err)
				}
			}
			// Warm up, then report how much the live heap grows over the
			// run: with -benchtime=10000x it shows whether anything
			// accumulates renewal after renewal.
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
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
