package k8sapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubelect/kubelect/k8sapi"
)

// writeChunks writes each chunk and flushes it, so events arrive split
// anywhere, not one per line.
func writeChunks(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	for _, c := range chunks {
		io.WriteString(w, c)
		w.(http.Flusher).Flush()
	}
}

func TestWatchEventsInOrder(t *testing.T) {
	rec := &recorder{}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		writeChunks(w,
			`{"type":"ADDED","object":{"kind":"Lease","metadata":{"name":"l","resourceVersion":"5"}}}`+"\n",
			`{"type":"MODIFIED","obj`, `ect":{"kind":"Lease","metadata":{"name":"l","resourceVersion":"6"},"spec":{"holderIdentity":"b"}}}`,
			` {"type":"BOOKMARK","object":{"kind":"Lease","metadata":{"resourceVersion":"7"}}}`,
			`{"type":"DELETED","object":{"kind":"Lease","metadata":{"name":"l","resourceVersion":"8"}}}`)
	}, k8sapi.Config{})
	w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "my lock", k8sapi.WatchOptions{
		ResourceVersion: "4", TimeoutSeconds: 300, AllowBookmarks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	type ev struct {
		Type k8sapi.EventType
		RV   string
	}
	var got []ev
	for {
		e, err := w.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev{e.Type, e.Object.ResourceVersion()})
	}
	want := []ev{{k8sapi.Added, "5"}, {k8sapi.Modified, "6"}, {k8sapi.Bookmark, "7"}, {k8sapi.Deleted, "8"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, err := w.Next(); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
	reqs := rec.all()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/apis/coordination.k8s.io/v1/namespaces/ns/leases" {
		t.Fatalf("requests %+v", reqs)
	}
	q, _ := url.ParseQuery(reqs[0].Query)
	wantQ := url.Values{"watch": {"1"}, "fieldSelector": {"metadata.name=my lock"}, "resourceVersion": {"4"},
		"allowWatchBookmarks": {"true"}, "timeoutSeconds": {"300"}}
	if diff := cmp.Diff(wantQ, q); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if !strings.Contains(reqs[0].Query, "fieldSelector=metadata.name%3Dmy+lock") {
		t.Errorf("field selector not encoded: %s", reqs[0].Query)
	}
}

func TestWatchMinimalQuery(t *testing.T) {
	rec := &recorder{}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { rec.add(r); writeChunks(w) }, k8sapi.Config{})
	w, err := c.Watch(context.Background(), k8sapi.Endpoints, "ns", "e", k8sapi.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(); err != io.EOF {
		t.Errorf("Next = %v, want io.EOF", err)
	}
	if got := rec.all()[0]; got.Path != "/api/v1/namespaces/ns/endpoints" || got.Query != "fieldSelector=metadata.name%3De&watch=1" {
		t.Errorf("request %s?%s", got.Path, got.Query)
	}
}

func TestWatchErrorEventIsGone(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeChunks(w,
			`{"type":"ADDED","object":{"metadata":{"name":"l","resourceVersion":"5"}}}`,
			`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}`)
	}, k8sapi.Config{})
	w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if e, err := w.Next(); err != nil || e.Type != k8sapi.Added {
		t.Fatalf("first event %v, %v", e, err)
	}
	_, err = w.Next()
	if !k8sapi.IsGone(fmt.Errorf("wrapped: %w", err)) {
		t.Fatalf("error %v, want IsGone", err)
	}
	var se *k8sapi.StatusError
	if errors.As(err, &se); se.Code != 410 || se.Reason != "Expired" || se.Path != "/apis/coordination.k8s.io/v1/namespaces/ns/leases" {
		t.Errorf("status error %+v", se)
	}
	if _, err2 := w.Next(); err2 != err {
		t.Errorf("Next after the error = %v, want the same error", err2)
	}
}

func TestWatchForbidden(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, 403, "Forbidden", `leases.coordination.k8s.io is forbidden: User "x" cannot watch resource "leases"`)
	}, k8sapi.Config{})
	w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
	if !k8sapi.IsForbidden(err) || w != nil {
		t.Fatalf("Watch = %v, %v; want a Forbidden error", w, err)
	}
	if !strings.HasPrefix(err.Error(), "k8sapi: GET /apis/coordination.k8s.io/v1/namespaces/ns/leases: 403 Forbidden") {
		t.Errorf("error %q", err)
	}
}

func TestWatchBadStreams(t *testing.T) {
	tests := []struct {
		name    string
		chunks  []string
		inError string
	}{
		{"truncated", []string{`{"type":"ADDED","object":{"metadata":`}, "unexpected EOF"},
		{"not JSON", []string{`<html>`}, "read event"},
		{"unknown type", []string{`{"type":"SURPRISE","object":{}}`}, `unknown event type "SURPRISE"`},
		{"object not an object", []string{`{"type":"ADDED","object":[1]}`}, "ADDED event"},
		{"no object", []string{`{"type":"MODIFIED"}`}, "MODIFIED event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeChunks(w, tt.chunks...) }, k8sapi.Config{})
			w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			_, err = w.Next()
			if err == nil || err == io.EOF || !strings.Contains(err.Error(), tt.inError) || !strings.HasPrefix(err.Error(), "k8sapi: watch ") {
				t.Errorf("error %v, want one containing %q", err, tt.inError)
			}
		})
	}
}

func TestWatchEventCap(t *testing.T) {
	small := `{"type":"ADDED","object":{"metadata":{"name":"l"}}}`
	big := `{"type":"MODIFIED","object":{"metadata":{"name":"l"},"data":{"k":"` + strings.Repeat("v", 5000) + `"}}}`
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeChunks(w, small, small, big, small)
	}, k8sapi.Config{MaxResponseBytes: 1000})
	w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < 2; i++ {
		if _, err := w.Next(); err != nil {
			t.Fatalf("small event %d: %v", i, err)
		}
	}
	_, err = w.Next()
	if !errors.Is(err, k8sapi.ErrResponseTooLarge) {
		t.Errorf("big event: %v, want ErrResponseTooLarge", err)
	}
}

// blockingWatch is a server that sends one event and then holds the
// stream open until the client goes away.
func blockingWatch(t *testing.T) *k8sapi.Client {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeChunks(w, `{"type":"ADDED","object":{"metadata":{"name":"l"}}}`)
		<-r.Context().Done()
	}, k8sapi.Config{})
	return c
}

func TestWatchCloseUnblocksNext(t *testing.T) {
	c := blockingWatch(t)
	w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := w.Next()
		done <- err
	}()
	w.Close()
	w.Close() // idempotent
	if err := <-done; !errors.Is(err, k8sapi.ErrWatchClosed) {
		t.Errorf("Next after Close = %v, want ErrWatchClosed", err)
	}
	if _, err := w.Next(); !errors.Is(err, k8sapi.ErrWatchClosed) {
		t.Errorf("Next again = %v, want ErrWatchClosed", err)
	}
}

func TestWatchContextCancelUnblocksNext(t *testing.T) {
	c := blockingWatch(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx, k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := w.Next()
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel = %v, want context.Canceled", err)
	}
}

// TestWatchStreamEndingAtTheLimit: a stream cut short exactly at
// MaxResponseBytes is a broken stream, not an event too large; an event of
// exactly the limit is an event. Found by FuzzWatch.
func TestWatchStreamEndingAtTheLimit(t *testing.T) {
	for _, tt := range []struct {
		stream  string
		tooBig  bool
		events  int
		wantEOF bool
	}{
		{stream: `{"type":"ADDED","ob`, events: 0},
		{stream: `{"type":"ADDED","object":{}}`, events: 1, wantEOF: true},
		{stream: `{"type":"ADDED","object":{}} `, events: 1, wantEOF: true},
		{stream: `{"type":"ADDED","object":{"a":1}}`, tooBig: true},
	} {
		limit := int64(len(strings.TrimSpace(tt.stream)))
		if tt.tooBig {
			limit -= 4
		}
		_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeChunks(w, tt.stream)
		}, k8sapi.Config{MaxResponseBytes: limit})
		w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		events := 0
		for {
			_, err = w.Next()
			if err != nil {
				break
			}
			events++
		}
		w.Close()
		if events != tt.events || errors.Is(err, k8sapi.ErrResponseTooLarge) != tt.tooBig || (err == io.EOF) != tt.wantEOF {
			t.Errorf("%q with a limit of %d: %d events, then %v", tt.stream, limit, events, err)
		}
	}
}
