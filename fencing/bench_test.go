package fencing_test

import (
	"testing"

	"github.com/kubelect/kubelect/fencing"
)

// The cost of the check on a write of the current leader: one read lock.
func BenchmarkCheckerDo(b *testing.B) {
	c := fencing.NewChecker(0, nil)
	write := func() error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Do(42, write); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseToken(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := fencing.ParseToken("1234567890"); err != nil {
			b.Fatal(err)
		}
	}
}
