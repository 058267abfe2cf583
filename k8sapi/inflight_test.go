//go:build go1.24

package k8sapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// TestRequestsInFlightShareOneConnection: 300 requests sent at once by one
// client, to a server that takes 100 streams per HTTP/2 connection (as
// kube-apiserver does) and holds every request until the test lets it go,
// one at a time. The server never has more than 50 in hand, all arrive on
// one connection, and every request is answered: the ones beyond 50 wait
// in the client instead of opening connections of their own.
func TestRequestsInFlightShareOneConnection(t *testing.T) {
	const n, limit = 300, 50
	var mu sync.Mutex
	inServer, most := 0, 0
	conns := map[string]bool{}
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inServer++
		most = max(most, inServer)
		conns[r.RemoteAddr] = true
		mu.Unlock()
		<-release
		mu.Lock()
		inServer--
		mu.Unlock()
		fmt.Fprint(w, `{"metadata":{"name":"l"}}`)
	}))
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 100}
	srv.StartTLS()
	defer srv.Close()
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.Get(context.Background(), k8sapi.Leases, "ns", fmt.Sprintf("l-%d", i))
			errs <- err
		}()
	}
	// Each request the server answers lets exactly one more in: the
	// server never holds more than the limit, and holds the limit until
	// fewer than that are left.
	for answered := 0; answered < n; answered++ {
		want := min(limit, n-answered)
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return inServer >= want })
		release <- struct{}{}
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if most > limit {
		t.Errorf("the server held %d requests at once, want at most %d", most, limit)
	}
	if len(conns) != 1 {
		t.Errorf("%d requests came over %d connections, want 1", n, len(conns))
	}
}

// TestRequestWaitingForASlotTimesOut: a request that waits behind 50
// others in flight fails when its context ends, never reaching the
// server, with the context's error in its chain and the wait in its text.
func TestRequestWaitingForASlotTimesOut(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		fmt.Fprint(w, `{"metadata":{"name":"l"}}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer close(release)
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		go c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	}
	for range 50 {
		<-arrived
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, k8sapi.Leases, "ns", "late")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for one of the client's 50 requests in flight") {
		t.Fatalf("the 51st request, its context ended while it waited: %v, want context.DeadlineExceeded in its chain and the wait in its text", err)
	}
	select {
	case <-arrived:
		t.Errorf("the 51st request reached the server")
	default:
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
	}
}
