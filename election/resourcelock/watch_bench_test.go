package resourcelock_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// watchedLease is a MODIFIED event of a Lease as kube-apiserver sends it
// to a follower's watch in the middle of a term: a renewal of a lock that
// names a successor, with the managed fields of the holder's and the
// successor's writes, and extra more managers' entries.
func watchedLease(rv, extra int) []byte {
	var more []byte
	for i := range extra {
		more = fmt.Appendf(more, `{"manager":"m-%d","operation":"Update","apiVersion":"coordination.k8s.io/v1","time":"2026-12-07T01:55:06Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:x-%d":{}}}}},`, i, i)
	}
	return fmt.Appendf(nil, `{"type":"MODIFIED","object":{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"herd","namespace":"kubelect-1729773b",`+
		`"uid":"8f0e7b5c-3d7e-4a51-9a57-3f1d2b6c9e10","resourceVersion":"%d","creationTimestamp":"2026-12-07T01:54:20Z",`+
		`"annotations":{"kubelect.io/successor":"{\"holderIdentity\":\"kubelect-116\",\"leaderTransitions\":8}"},`+
		`"managedFields":[%s{"manager":"kubelect","operation":"Update","apiVersion":"coordination.k8s.io/v1","time":"2026-12-07T01:55:06Z","fieldsType":"FieldsV1",`+
		`"fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubelect.io/successor":{}}},"f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}}]},`+
		`"spec":{"holderIdentity":"kubelect-036","leaseDurationSeconds":4,"acquireTime":"2026-12-07T01:55:01.335847Z","renewTime":"2026-12-07T01:55:%02d.%06dZ","leaseTransitions":8}}}`+"\n",
		rv, more, rv/1000000%60, rv%1000000)
}

// streamTransport answers a watch with the events in body, then ends it.
type streamTransport struct{ body []byte }

func (t streamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/2.0", ProtoMajor: 2, Request: req,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(bytes.NewReader(t.body)),
	}, nil
}

// BenchmarkWatchEvent is what one event of a Lease's watch costs a
// follower's lock: reading it off the stream, its resourceVersion and the
// record with its successor. In a fleet of N watching followers, every
// renewal costs this N times, and a release reaches the last follower
// after about N of them on the server's and the followers' cores.
func BenchmarkWatchEvent(b *testing.B) {
	lock, seen := watchedLock(b, b.N, 0)
	b.ReportAllocs()
	b.ResetTimer()
	err := lock.WatchRecord(context.Background(), seen.observe)
	b.StopTimer()
	if *seen.n != b.N {
		b.Fatalf("%d events seen of %d (%v)", *seen.n, b.N, err)
	}
}

// TestWatchEventAllocations: a watched event costs a follower at most
// maxWatchEventAllocs allocations, and no more with 40 more managed-field
// entries: its resourceVersion and its annotations are found by scanning
// the object's bytes, once each, not by decoding the metadata into maps
// (168 allocations an event before, about 0.1 ms on this project's
// machine: 200 followers in one process spent 20 ms of CPU on each
// renewal, and a release reached the last of them that much later).
func TestWatchEventAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's allocations are its own")
	}
	const events = 200
	perEvent := func(extra int) float64 {
		lock, seen := watchedLock(t, events, extra)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := lock.WatchRecord(context.Background(), seen.observe)
		runtime.ReadMemStats(&after)
		if *seen.n != events {
			t.Fatalf("%d events seen of %d (%v)", *seen.n, events, err)
		}
		return float64(after.Mallocs-before.Mallocs) / events
	}
	small, large := perEvent(0), perEvent(40)
	t.Logf("allocations per event: %.1f, with 40 more managed-field entries %.1f", small, large)
	if small > maxWatchEventAllocs {
		t.Errorf("a watched event allocates %.1f times, want at most %d", small, maxWatchEventAllocs)
	}
	// The decoder's buffer grows to the larger events a few times in all.
	if large > small+1 {
		t.Errorf("a watched event allocates %.1f times with 40 more managed-field entries, %.1f without", large, small)
	}
}

// maxWatchEventAllocs bounds the allocations of one watched event.
const maxWatchEventAllocs = 64

// watchedLock is a follower's Lease lock whose watch delivers events
// events of watchedLease(·, extra) and ends, and the observer that checks
// and counts them.
func watchedLock(tb testing.TB, events, extra int) (*rl.LeaseLock, counted) {
	var body bytes.Buffer
	for i := range events {
		body.Write(watchedLease(1000+i, extra))
	}
	client, err := k8sapi.New(k8sapi.Config{Host: "https://fixed.invalid", Transport: streamTransport{body.Bytes()}})
	if err != nil {
		tb.Fatal(err)
	}
	lock := &rl.LeaseLock{LeaseMeta: rl.ObjectMeta{Namespace: "kubelect-1729773b", Name: "herd"}, Client: client, LockConfig: rl.ResourceLockConfig{Identity: "kubelect-009"}}
	return lock, counted{tb: tb, n: new(int)}
}

// counted observes a watch's records: each must name the successor.
type counted struct {
	tb testing.TB
	n  *int
}

func (c counted) observe(rec *rl.LeaderElectionRecord, _ []byte) {
	if rec == nil || rec.Successor != "kubelect-116" || rec.HolderIdentity != "kubelect-036" {
		c.tb.Fatalf("record %+v", rec)
	}
	*c.n++
}
