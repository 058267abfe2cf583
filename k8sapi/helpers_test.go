package k8sapi_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// request is what a test server saw of one request.
type request struct {
	Method, Path, RawPath, Query, Auth, Accept, ContentType, UserAgent string
	Body                                                               string
}

// recorder records requests; safe for the server's goroutines.
type recorder struct {
	mu   sync.Mutex // guards reqs
	reqs []request
}

func (rec *recorder) add(r *http.Request) request {
	b, _ := io.ReadAll(r.Body)
	req := request{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), Accept: r.Header.Get("Accept"),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		Body: string(b),
	}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, req)
	rec.mu.Unlock()
	return req
}

func (rec *recorder) all() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.reqs...)
}

// caPEM is the PEM of the test server's certificate, its own CA.
func caPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// newServer starts a TLS server answering with h and a client for it
// carrying the token "secret-token" unless cfg says otherwise.
func newServer(t *testing.T, h http.HandlerFunc, cfg k8sapi.Config) (*httptest.Server, *k8sapi.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	cfg.Host = srv.URL
	cfg.CAData = caPEM(srv)
	if cfg.BearerToken == "" && cfg.BearerTokenFile == "" {
		cfg.BearerToken = testToken
	}
	c, err := k8sapi.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv, c
}

const testToken = "secret-token-6d1f0c2a"

// writeStatus answers with a Kubernetes Status.
func writeStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code,
	})
}

// decode returns JSON as generic values, for comparing documents.
func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(stringsReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// discardLogger silences an httptest server's TLS handshake errors.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
