//go:build go1.25

package electiontest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The lock every candidate elects through, and its timings.
const (
	Namespace = "default"
	LockName  = "e2e-lock"

	LeaseDuration = 15 * time.Second
	RenewDeadline = 10 * time.Second
	RetryPeriod   = 2 * time.Second

	// MaxHerdDelay bounds a watching follower's herd delay against the
	// in-process server, which answers in no fake time: s·ln 1024 with s
	// at its floor of 5ms is 34.7ms (election/acquire.go).
	MaxHerdDelay = 35 * time.Millisecond
)

// BubbleStart is the fake clock's first instant in every synctest bubble.
var BubbleStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// MustGet returns the lock object of the given group and resource on srv,
// decoded; it fails the test if there is none.
func MustGet(t testing.TB, srv *testapiserver.Server, group, resource string) map[string]any {
	t.Helper()
	raw, ok := srv.Get(group, resource, Namespace, LockName)
	if !ok {
		t.Fatalf("%s %s/%s not found", resource, Namespace, LockName)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

// AnnotationRecord is the record in the Endpoints lock's annotation.
func AnnotationRecord(t testing.TB, srv *testapiserver.Server) rl.LeaderElectionRecord {
	t.Helper()
	obj := MustGet(t, srv, "", "endpoints")
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	s, _ := ann[rl.LeaderElectionRecordAnnotationKey].(string)
	var rec rl.LeaderElectionRecord
	if err := json.Unmarshal([]byte(s), &rec); err != nil {
		t.Fatalf("annotation %q: %v", s, err)
	}
	return rec
}

// LeaseRecord is the Lease lock's holder.
func LeaseRecord(t testing.TB, srv *testapiserver.Server) rl.LeaderElectionRecord {
	t.Helper()
	obj := MustGet(t, srv, "coordination.k8s.io", "leases")
	spec, _ := obj["spec"].(map[string]any)
	holder, _ := spec["holderIdentity"].(string)
	return rl.LeaderElectionRecord{HolderIdentity: holder}
}

// CountRequests counts the requests srv sees, by method ("WATCH" for
// watches): each call of the function it returns gives the counts since
// the last call.
func CountRequests(srv *testapiserver.Server) func() map[string]int {
	var mu sync.Mutex
	counts := map[string]int{}
	srv.SetHook(func(r *http.Request) {
		kind := r.Method
		if r.URL.Query().Get("watch") != "" {
			kind = "WATCH"
		}
		mu.Lock()
		counts[kind]++
		mu.Unlock()
	})
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		c := map[string]int{}
		for k, v := range counts {
			if v > 0 {
				c[k] = v
			}
		}
		clear(counts)
		return c
	}
}

// Logger logs through t.Log, so that a failing test shows what the
// electors did and a passing one stays quiet.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
