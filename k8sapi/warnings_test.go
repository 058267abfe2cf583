package k8sapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubelect/kubelect/k8sapi"
)

const endpointsDeprecated = "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"

func TestWarningsSurfacedOnce(t *testing.T) {
	var mu sync.Mutex // guards got
	var got []string
	handler := func(text string) {
		mu.Lock()
		got = append(got, text)
		mu.Unlock()
	}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Warning", `299 - "`+endpointsDeprecated+`"`)
		if strings.HasSuffix(r.URL.Path, "/other") {
			w.Header().Add("Warning", `299 - "something else"`)
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/missing"):
			writeStatus(w, 404, "NotFound", "not found")
		case r.Method == http.MethodPut:
			writeStatus(w, 409, "Conflict", "modified")
		default:
			w.Write([]byte(`{"kind":"Endpoints","metadata":{"name":"e","namespace":"ns"}}`))
		}
	}, k8sapi.Config{WarningHandler: handler})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := c.Get(ctx, k8sapi.Endpoints, "ns", "e"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(ctx, k8sapi.Endpoints, "ns", "missing"); !k8sapi.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, k8sapi.Endpoints, k8sapi.NewObject(k8sapi.Endpoints, "ns", "e")); !k8sapi.IsConflict(err) {
		t.Fatal(err)
	}
	mu.Lock()
	if diff := cmp.Diff([]string{endpointsDeprecated}, got); diff != "" {
		t.Errorf("warnings after 7 responses (-want +got):\n%s", diff)
	}
	mu.Unlock()
	for i := 0; i < 3; i++ {
		if _, err := c.Get(ctx, k8sapi.Endpoints, "ns", "other"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{endpointsDeprecated, "something else"}, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestWarningsLoggedOnceWithoutHandler(t *testing.T) {
	var logs bytes.Buffer
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Warning", `299 - "`+endpointsDeprecated+`"`)
		writeStatus(w, 404, "NotFound", "not found")
	}, k8sapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := 0; i < 5; i++ {
		if _, err := c.Get(context.Background(), k8sapi.Endpoints, "ns", "e"); !k8sapi.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "v1 Endpoints is deprecated") {
		t.Errorf("log:\n%s", logs.String())
	}
}
