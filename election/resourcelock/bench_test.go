package resourcelock_test

import (
	"context"
	"encoding/json"
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
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := lock.Update(ctx, record("a", 0, now.Add(time.Duration(i)*time.Millisecond))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
