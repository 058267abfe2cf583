package k8sapi_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// TestTokenNeverInErrors makes requests fail in every way it can, with a
// server that echoes the Authorization header back wherever it can, and
// checks that the token appears in no error and no log line.
func TestTokenNeverInErrors(t *testing.T) {
	const token = "sekret-6b2e9f01d4c3a7"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	echo := func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("Warning", fmt.Sprintf(`299 - "you sent %s"`, auth))
		switch {
		case strings.HasSuffix(r.URL.Path, "/html"):
			w.WriteHeader(500)
			fmt.Fprintf(w, "<html>%s %s</html>", strings.Repeat("x", 190), auth) // the snippet cut falls in the token
		case strings.HasSuffix(r.URL.Path, "/status"):
			writeStatus(w, 401, "Unauthorized", "bad token "+auth)
		case strings.HasSuffix(r.URL.Path, "/notobject"):
			fmt.Fprintf(w, "[%q]", auth)
		case r.URL.Query().Get("watch") == "1":
			fmt.Fprintf(w, `{"type":"ERROR","object":{"kind":"Status","code":500,"message":%q}}`, auth)
		default:
			writeStatus(w, 403, "Forbidden", auth)
		}
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(echo))
	defer srv.Close()
	cfg := k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), BearerToken: token, Logger: logger}
	c, err := k8sapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var errs []error
	add := func(_ any, err error) { errs = append(errs, err) }
	add(c.Get(ctx, k8sapi.Leases, "ns", "html"))
	add(c.Get(ctx, k8sapi.Leases, "ns", "status"))
	add(c.Get(ctx, k8sapi.Leases, "ns", "notobject"))
	add(c.Get(ctx, k8sapi.Leases, "ns", "other"))
	add(c.Update(ctx, k8sapi.Leases, k8sapi.NewObject(k8sapi.Leases, "ns", "status")))
	if w, err := c.Watch(ctx, k8sapi.Leases, "ns", "x", k8sapi.WatchOptions{}); err != nil {
		errs = append(errs, err)
	} else {
		add(w.Next())
		w.Close()
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	add(c.Get(canceled, k8sapi.Leases, "ns", "x"))

	// A server that is gone.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	c2, err := k8sapi.New(k8sapi.Config{Host: gone.URL, BearerToken: token, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	add(c2.Get(ctx, k8sapi.Leases, "ns", "x"))
	add(c2.Watch(ctx, k8sapi.Leases, "ns", "x", k8sapi.WatchOptions{}))

	// Configs that New refuses.
	add(k8sapi.New(k8sapi.Config{Host: "https://h", BearerToken: token + "\n"}))
	add(k8sapi.New(k8sapi.Config{Host: "http://10.1.1.1", BearerToken: token}))
	add(k8sapi.New(k8sapi.Config{Host: "https://%zz", BearerToken: token}))
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte(token+"\x00"), 0o600)
	add(k8sapi.New(k8sapi.Config{Host: "https://h", BearerTokenFile: file}))

	if len(errs) != 13 {
		t.Fatalf("%d errors collected", len(errs))
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, token) || strings.Contains(s, token[:12]) {
				t.Errorf("case %d: error shows the token: %s", i, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "you sent Bearer [redacted]") {
		t.Errorf("warning not logged with the token redacted:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), token[:12]) {
		t.Errorf("log shows the token:\n%s", logs.String())
	}
}
