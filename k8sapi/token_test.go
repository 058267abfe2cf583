package k8sapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a settable now.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tokenServer is a RoundTripper that records the token of each request
// and answers 401 unless the token is the accepted one.
type tokenServer struct {
	mu       sync.Mutex // guards the fields below
	accepted string
	seen     []string // Authorization tokens, in order
	bodies   []string
}

func (s *tokenServer) accept(tok string) {
	s.mu.Lock()
	s.accepted = tok
	s.mu.Unlock()
}

func (s *tokenServer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	s.seen = append(s.seen, tok)
	s.bodies = append(s.bodies, string(body))
	ok := tok == s.accepted
	s.mu.Unlock()
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Request: r,
		Body: io.NopCloser(strings.NewReader(`{"kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`))}
	if !ok {
		resp.StatusCode = 401
		resp.Body = io.NopCloser(strings.NewReader(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
	}
	return resp, nil
}

func (s *tokenServer) tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.seen
	s.seen, s.bodies = nil, nil
	return out
}

// newTokenClient makes a client reading its token from a file in a temp
// dir, with a fake clock, and a buffer collecting its log.
func newTokenClient(t *testing.T, first string) (c *Client, srv *tokenServer, file string, clock *fakeClock, logs *bytes.Buffer) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "token")
	writeToken(t, file, first)
	srv = &tokenServer{accepted: first}
	logs = &bytes.Buffer{}
	c, err := New(Config{Host: "https://api.example", BearerTokenFile: file, Transport: srv,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clock = &fakeClock{t: time.Unix(1000, 0)}
	c.tokens.now = clock.now
	c.tokens.readAt = clock.now()
	return c, srv, file, clock, logs
}

func writeToken(t *testing.T, file, tok string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFileIsReReadAfterTheInterval(t *testing.T) {
	c, srv, file, clock, logs := newTokenClient(t, "token-one")
	ctx := context.Background()
	get := func() {
		t.Helper()
		if _, err := c.Get(ctx, Leases, "ns", "l"); err != nil {
			t.Fatal(err)
		}
	}
	get()
	writeToken(t, file, "token-two")
	clock.advance(tokenRefreshInterval - time.Second)
	get() // before the interval: still the old token, and the server still takes it
	srv.accept("token-two")
	clock.advance(time.Second)
	get()
	if diff := cmp.Diff([]string{"token-one", "token-one", "token-two"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}

	// A failed read, then an empty file, keep the last good token.
	os.Remove(file)
	clock.advance(tokenRefreshInterval)
	get()
	writeToken(t, file, "  ")
	clock.advance(tokenRefreshInterval)
	get()
	writeToken(t, file, "bad\x01token")
	clock.advance(tokenRefreshInterval)
	get()
	writeToken(t, file, "token-three")
	srv.accept("token-three")
	clock.advance(tokenRefreshInterval)
	get()
	if diff := cmp.Diff([]string{"token-two", "token-two", "token-two", "token-three"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}
	// The failure streak is logged once, without any token.
	if n := strings.Count(logs.String(), "cannot re-read bearer token file"); n != 1 {
		t.Errorf("logged the failure %d times:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "token-") {
		t.Errorf("log has a token:\n%s", logs)
	}
}

func TestUnauthorizedReReadsTheTokenAndRetriesOnce(t *testing.T) {
	c, srv, file, _, _ := newTokenClient(t, "old")
	ctx := context.Background()
	lease := NewObject(Leases, "ns", "l")
	lease.SetField("me", "spec", "holderIdentity")

	// Rotated before the interval ran out: the 401 makes the client read
	// the file at once and send the same request again.
	writeToken(t, file, "new")
	srv.accept("new")
	if _, err := c.Update(ctx, Leases, lease); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	bodies := append([]string(nil), srv.bodies...)
	srv.mu.Unlock()
	if diff := cmp.Diff([]string{"old", "new"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}
	want, _ := lease.MarshalJSON()
	if len(bodies) != 2 || bodies[0] != string(want) || bodies[1] != string(want) {
		t.Errorf("bodies %q, want the PUT body twice", bodies)
	}

	// A second 401 is returned.
	writeToken(t, file, "newer")
	srv.accept("something else")
	_, err := c.Get(ctx, Leases, "ns", "l")
	if !IsUnauthorized(err) {
		t.Errorf("error %v, want Unauthorized", err)
	}
	if diff := cmp.Diff([]string{"new", "newer"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}

	// Nothing new in the file: no second attempt.
	_, err = c.Get(ctx, Leases, "ns", "l")
	if !IsUnauthorized(err) {
		t.Errorf("error %v, want Unauthorized", err)
	}
	if diff := cmp.Diff([]string{"newer"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}
}

func TestFixedTokenIsNotRetried(t *testing.T) {
	srv := &tokenServer{accepted: "other"}
	c, err := New(Config{Host: "https://api.example", BearerToken: "fixed", Transport: srv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), Leases, "ns", "l"); !IsUnauthorized(err) {
		t.Errorf("error %v, want Unauthorized", err)
	}
	if diff := cmp.Diff([]string{"fixed"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}
}

func TestTokenFileFallsBackToBearerToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing")
	srv := &tokenServer{accepted: "fixed"}
	c, err := New(Config{Host: "https://api.example", BearerToken: "fixed", BearerTokenFile: file, Transport: srv,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(0, 0)}
	c.tokens.now, c.tokens.readAt = clock.now, clock.now()
	if _, err := c.Get(context.Background(), Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	writeToken(t, file, "from-file")
	srv.accept("from-file")
	clock.advance(tokenRefreshInterval)
	if _, err := c.Get(context.Background(), Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"fixed", "from-file"}, srv.tokens()); diff != "" {
		t.Errorf("tokens sent (-want +got):\n%s", diff)
	}
}
