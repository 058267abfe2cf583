package k8sapi_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// TestFirstRequestsShareOneConnection: requests sent all at once by a new
// client, before it has any connection, share one HTTP/2 connection
// instead of each making a handshake of its own.
func TestFirstRequestsShareOneConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("%s %s over %s, want HTTP/2", r.Method, r.URL.Path, r.Proto)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"lock","namespace":"ns","resourceVersion":"1"}}`))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = discardLogger()
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), BearerToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "lock"); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := conns.Load(); got != 1 {
		t.Errorf("%d requests sent at once made %d connections, want 1", n, got)
	}
}

// TestNoCompression: the client asks for no compressed answers, of a
// request or of a watch: each end of a compressed watch keeps a
// compressor's state for as long as the watch lasts, and
// Config.MaxResponseBytes is to bound the bytes received.
func TestNoCompression(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RawQuery+": Accept-Encoding "+r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") == "1" {
			_, _ = w.Write([]byte(`{"type":"ADDED","object":{"metadata":{"name":"lock","namespace":"ns","resourceVersion":"1"}}}` + "\n"))
			return
		}
		_, _ = w.Write([]byte(`{"metadata":{"name":"lock","namespace":"ns","resourceVersion":"1"}}`))
	}, k8sapi.Config{})
	ctx := context.Background()
	if _, err := c.Get(ctx, k8sapi.Leases, "ns", "lock"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, k8sapi.Leases, "ns", "lock", k8sapi.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("server saw %q, want a GET and a watch", seen)
	}
	for _, s := range seen {
		if s[len(s)-len("Accept-Encoding "):] != "Accept-Encoding " {
			t.Errorf("%s: want no Accept-Encoding", s)
		}
	}
}
