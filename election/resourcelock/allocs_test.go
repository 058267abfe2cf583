package resourcelock_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/k8sapi"
)

// cachedRecord is the record lock last read or wrote, as the elector gets
// it.
func cachedRecord(lock rl.Interface) (*rl.LeaderElectionRecord, []byte, bool) {
	return lockwatch.Get[*rl.LeaderElectionRecord]().Cached(lock)
}

// fixedTransport answers every request with the same object.
type fixedTransport struct{ obj []byte }

func (t fixedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/2.0", ProtoMajor: 2, Request: req,
		Header:        http.Header{"Content-Type": {"application/json"}},
		ContentLength: int64(len(t.obj)), Body: io.NopCloser(bytes.NewReader(t.obj)),
	}, nil
}

// leaseWithMetadata is a Lease whose metadata has extra keys besides the
// ones an API server always sends.
func leaseWithMetadata(extra int) []byte {
	var meta strings.Builder
	for i := 0; i < extra; i++ {
		fmt.Fprintf(&meta, `"x-%d":{"f:spec":{"f:holderIdentity":{},"f:renewTime":{}}},`, i)
	}
	return []byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{` + meta.String() +
		`"name":"lock","namespace":"ns","resourceVersion":"7","uid":"u-1","creationTimestamp":"2026-01-01T00:00:00Z",` +
		`"managedFields":[{"manager":"kubelect","operation":"Update","apiVersion":"coordination.k8s.io/v1","time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}}]},` +
		`"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-01-01T00:00:00.000000Z","renewTime":"2026-01-01T00:00:10.000000Z","leaseTransitions":3}}`)
}

// TestLeaseRenewalAllocationsIgnoreMetadata: a renewal of a Lease lock, and
// the decoding of its record, allocate as much for a Lease with a large
// metadata as for a small one. The record is in the spec; in the metadata
// only the annotations are looked for, by scanning its bytes. (Counts, not
// bytes: copying the object copies the metadata's bytes, but no decoding
// of it is done that would allocate per field.)
func TestLeaseRenewalAllocationsIgnoreMetadata(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's allocations are its own")
	}
	ctx := context.Background()
	measure := func(extra int) (renew, decode float64) {
		client, err := k8sapi.New(k8sapi.Config{Host: "https://fixed.invalid", Transport: fixedTransport{leaseWithMetadata(extra)}})
		if err != nil {
			t.Fatal(err)
		}
		lock := &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: "ns", Name: "lock"}, Client: client, LockConfig: rl.ResourceLockConfig{Identity: "a"}}
		rec, _, err := lock.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		renew = testing.AllocsPerRun(50, func() {
			rec.RenewTime = rl.NewTime(now)
			if err := lock.Update(ctx, *rec); err != nil {
				t.Fatal(err)
			}
		})
		decode = testing.AllocsPerRun(50, func() {
			if _, _, ok := cachedRecord(lock); !ok {
				t.Fatal("no cached record")
			}
		})
		return renew, decode
	}
	smallRenew, smallDecode := measure(0)
	largeRenew, largeDecode := measure(40)
	t.Logf("allocations per renewal %v, per decoding %v", smallRenew, smallDecode)
	if largeRenew != smallRenew {
		t.Errorf("a renewal allocates %v times with 40 more metadata fields, %v without: it decodes the metadata", largeRenew, smallRenew)
	}
	if largeDecode != smallDecode {
		t.Errorf("decoding the record allocates %v times with 40 more metadata fields, %v without: it decodes the metadata", largeDecode, smallDecode)
	}
}

// BenchmarkLeaseRenewalRealistic is one renewal of a Lease lock whose
// answer is what kube-apiserver sends (uid, creationTimestamp, one
// managedFields entry), from a transport that always sends it: the
// client side of a renewal, and of decoding the record of the answer
// (which a watch event of the renewal costs too).
func BenchmarkLeaseRenewalRealistic(b *testing.B) {
	ctx := context.Background()
	client, err := k8sapi.New(k8sapi.Config{Host: "https://fixed.invalid", Transport: fixedTransport{leaseWithMetadata(0)}})
	if err != nil {
		b.Fatal(err)
	}
	lock := &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: "ns", Name: "lock"}, Client: client, LockConfig: rl.ResourceLockConfig{Identity: "a"}}
	rec, _, err := lock.Get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec.RenewTime = rl.NewTime(now.Add(time.Duration(i) * time.Second))
		if err := lock.Update(ctx, *rec); err != nil {
			b.Fatal(err)
		}
		if _, _, ok := cachedRecord(lock); !ok {
			b.Fatal("no cached record")
		}
	}
}
