package k8sapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// gatedFake is the transport under a sharedTransport in these tests: each
// request reports itself on arrived and then does what its step says.
type gatedFake struct {
	arrived chan *http.Request
	steps   chan func(*http.Request) (*http.Response, error)
}

func newGatedFake() *gatedFake {
	return &gatedFake{arrived: make(chan *http.Request), steps: make(chan func(*http.Request) (*http.Response, error))}
}

func (f *gatedFake) RoundTrip(req *http.Request) (*http.Response, error) {
	f.arrived <- req
	return (<-f.steps)(req)
}

func answer(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func gotConn(req *http.Request) {
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.GotConn != nil {
		tr.GotConn(httptrace.GotConnInfo{})
	}
}

func newGated(f *gatedFake) *sharedTransport {
	s := newSharedTransport(&http.Transport{})
	s.rt = f
	return s
}

func get(t *testing.T, ctx context.Context, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://server.invalid"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

type result struct {
	resp *http.Response
	err  error
}

func send(s *sharedTransport, req *http.Request) chan result {
	done := make(chan result, 1)
	go func() {
		resp, err := s.RoundTrip(req)
		done <- result{resp, err}
	}()
	return done
}

// TestSharedTransportGotConnOpens: the requests held back pass as soon as
// the first one has its connection, before its answer, and from then on
// none waits.
func TestSharedTransportGotConnOpens(t *testing.T) {
	f := newGatedFake()
	s := newGated(f)
	first := send(s, get(t, context.Background(), "/first"))
	if r := <-f.arrived; r.URL.Path != "/first" {
		t.Fatalf("%s arrived first", r.URL.Path)
	}
	second := send(s, get(t, context.Background(), "/second"))
	// The first request gets its connection and stays in flight: the
	// second one must then arrive while the first has no answer yet.
	holdFirst := make(chan struct{})
	f.steps <- func(req *http.Request) (*http.Response, error) {
		gotConn(req)
		<-holdFirst
		return answer(req)
	}
	if r := <-f.arrived; r.URL.Path != "/second" {
		t.Fatalf("%s arrived second", r.URL.Path)
	}
	f.steps <- answer
	if r := <-second; r.err != nil {
		t.Fatal(r.err)
	}
	close(holdFirst)
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	if !s.connected.Load() {
		t.Fatal("the gate is not open after a connection")
	}
}

// TestSharedTransportFailedFirst: a first request that gets no connection
// lets the next one try, and the gate stays closed until one succeeds.
func TestSharedTransportFailedFirst(t *testing.T) {
	f := newGatedFake()
	s := newGated(f)
	first := send(s, get(t, context.Background(), "/first"))
	<-f.arrived
	second := send(s, get(t, context.Background(), "/second"))
	f.steps <- func(*http.Request) (*http.Response, error) { return nil, errors.New("dial refused") }
	if r := <-first; r.err == nil {
		t.Fatal("the first request did not fail")
	}
	if r := <-f.arrived; r.URL.Path != "/second" {
		t.Fatalf("%s arrived", r.URL.Path)
	}
	if s.connected.Load() {
		t.Fatal("the gate opened on a failure")
	}
	f.steps <- answer // no GotConn: an answer is proof enough
	if r := <-second; r.err != nil {
		t.Fatal(r.err)
	}
	if !s.connected.Load() {
		t.Fatal("the gate is not open after an answer")
	}
}

// TestSharedTransportWaitHonoursContext: a request held back returns when
// its context ends, closing its body, without reaching the transport.
func TestSharedTransportWaitHonoursContext(t *testing.T) {
	f := newGatedFake()
	s := newGated(f)
	first := send(s, get(t, context.Background(), "/first"))
	<-f.arrived
	ctx, cancel := context.WithCancel(context.Background())
	body := &closeRecorder{Reader: strings.NewReader("{}")}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "https://server.invalid/second", body)
	if err != nil {
		t.Fatal(err)
	}
	second := send(s, req)
	cancel()
	r := <-second
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("held-back request with its context cancelled: %v, want context.Canceled", r.err)
	}
	if !body.closed {
		t.Error("its body was not closed")
	}
	f.steps <- answer
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestSharedTransportStuckFirst: a request does not wait on a first one
// whose connection is stuck for longer than the gate's bound.
func TestSharedTransportStuckFirst(t *testing.T) {
	f := newGatedFake()
	s := newGated(f)
	s.wait = time.Millisecond
	first := send(s, get(t, context.Background(), "/first"))
	<-f.arrived
	second := send(s, get(t, context.Background(), "/second"))
	// The first request has neither a connection nor an answer: the
	// second arrives all the same.
	if r := <-f.arrived; r.URL.Path != "/second" {
		t.Fatalf("%s arrived", r.URL.Path)
	}
	f.steps <- answer
	f.steps <- answer
	for _, done := range []chan result{first, second} {
		if r := <-done; r.err != nil {
			t.Fatal(r.err)
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestWithAuthorizationLeavesRequest: the request given to RoundTrip
// keeps its header; the copy's is its own.
func TestWithAuthorizationLeavesRequest(t *testing.T) {
	req := get(t, context.Background(), "/x")
	req.Header.Set("Accept", "application/json")
	var a bearerAuth
	r := withAuthorization(req, a.header("tok"))
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("the original request got Authorization %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("the copy has Authorization %q", got)
	}
	r.Header.Set("Accept", "changed")
	if got := req.Header.Get("Accept"); got != "application/json" {
		t.Errorf("changing the copy's header changed the original's: Accept %q", got)
	}
	if r.Context() != req.Context() || r.URL != req.URL || r.Method != req.Method {
		t.Error("the copy is not of the same request")
	}
	if got := withAuthorization(req, a.header("")).Header.Get("Authorization"); got != "" {
		t.Errorf("no token, yet Authorization %q", got)
	}
}

// TestAuthorizationHeaderKept: the header of the current token is built
// once, and a new token gets its own.
func TestAuthorizationHeaderKept(t *testing.T) {
	var a bearerAuth
	tok := strings.Repeat("t", 1000)
	if got := a.header(tok); got != "Bearer "+tok {
		t.Fatalf("header %q", got)
	}
	if allocs := testing.AllocsPerRun(10, func() { _ = a.header(tok) }); allocs != 0 {
		t.Errorf("the header of the same token: %v allocations, want 0", allocs)
	}
	if got := a.header("other"); got != "Bearer other" {
		t.Errorf("after a new token, header %q", got)
	}
}

// TestReadBody: what the answer declares sizes the buffer, and decides
// nothing else: a body longer or shorter than declared is read as it is,
// and the limit holds.
func TestReadBody(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	for _, tc := range []struct {
		name        string
		size, limit int64
		want        int
	}{
		{"declared", 1000, 4096, 1000},
		{"unknown", -1, 4096, 1000},
		{"declared short", 10, 4096, 1000},
		{"declared long", 5000, 4096, 1000},
		{"over the limit", 1000, 100, 101},
		{"over the limit, undeclared", -1, 100, 101},
		{"at the limit", 1000, 1000, 1000},
	} {
		b, err := readBody(bytes.NewReader(body), tc.size, tc.limit)
		if err != nil || len(b) != tc.want || !bytes.Equal(b, body[:tc.want]) {
			t.Errorf("%s: %d bytes, %v; want %d", tc.name, len(b), err, tc.want)
		}
	}
	big, err := readBody(bytes.NewReader(body), 1<<20, 4<<20)
	if err != nil || len(big) != len(body) || cap(big) > presizeMax+1 {
		t.Errorf("a body declaring a MiB: %d bytes in a buffer of %d, %v; want %d in at most %d", len(big), cap(big), err, len(body), presizeMax+1)
	}
	wantErr := errors.New("reset")
	if _, err := readBody(io.MultiReader(bytes.NewReader(body), errReader{wantErr}), -1, 4096); !errors.Is(err, wantErr) {
		t.Errorf("a failing body: %v, want %v", err, wantErr)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestReadBodyAllocations: a body of declared length is read into one
// buffer, where io.ReadAll would grow one several times.
func TestReadBodyAllocations(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1500)
	rd := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(body)
		if _, err := readBody(rd, int64(len(body)), 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	// The buffer, and the LimitedReader when the compiler keeps it on
	// the heap.
	if allocs > 2 {
		t.Errorf("readBody of a %d-byte body of known length: %v allocations, want at most 2", len(body), allocs)
	}
}
