package chaos

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRequestScanner(t *testing.T) {
	stream := "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /c?watch=1 HTTP/1.1\r\n\r\n"
	for split := 1; split <= len(stream); split++ {
		var s requestScanner
		n := 0
		for i := 0; i < len(stream); i += split {
			n += s.count([]byte(stream[i:min(i+split, len(stream))]))
		}
		if n != 3 {
			t.Fatalf("chunks of %d: counted %d requests, want 3", split, n)
		}
	}
}

// upstream is a TLS server standing in for kube-apiserver, and the file
// of its certificate.
func upstream(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func get(c *http.Client, url string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestProxyModes(t *testing.T) {
	srv, ca := upstream(t)
	p, err := NewProxy(srv.URL, ca)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := &http.Client{Transport: &http.Transport{}}
	start := time.Now()
	if body, err := get(c, p.URL()+"/pass", 5*time.Second); err != nil || body != "ok /pass" {
		t.Fatalf("pass: %q, %v", body, err)
	}

	p.SetMode(Blackhole)
	if _, err := get(c, p.URL()+"/hole", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blackhole: %v, want a timeout", err)
	}
	// A request in the hole is delivered when it heals.
	done := make(chan string, 1)
	go func() { body, _ := get(c, p.URL()+"/held", 5*time.Second); done <- body }()
	time.Sleep(200 * time.Millisecond)
	p.SetMode(Pass)
	if body := <-done; body != "ok /held" {
		t.Fatalf("held request: %q after the heal", body)
	}

	p.SetMode(Reset)
	if _, err := get(c, p.URL()+"/reset", 5*time.Second); err == nil || !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("reset: %v, want a connection reset", err)
	}
	p.SetMode(Pass)

	p.SetDelay(300*time.Millisecond, 0)
	before := time.Now()
	if body, err := get(c, p.URL()+"/slow", 5*time.Second); err != nil || body != "ok /slow" || time.Since(before) < 300*time.Millisecond {
		t.Fatalf("delay: %q, %v after %v", body, err, time.Since(before))
	}
	p.SetDelay(0, 0)
	if n := p.Requests(start, time.Now().Add(time.Second)); n != 5 {
		t.Errorf("counted %d requests, want 5", n)
	}
}

func TestStoreFencing(t *testing.T) {
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	post := func(path, id, term string) int {
		resp, err := http.Post(s.URL()+path+"?id="+id+"&term="+term, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post("/lead", "a", "1")
	if code := post("/act", "a", "1"); code != 200 {
		t.Fatalf("a's write: %d", code)
	}
	post("/lead", "b", "2")
	if code := post("/act", "b", "2"); code != 200 {
		t.Fatalf("b's write: %d", code)
	}
	if code := post("/act", "a", "1"); code != http.StatusConflict {
		t.Fatalf("a's stale write: %d, want 409", code)
	}
	// A write carrying the new leader's term from the old leader is
	// accepted by the store, and counted stale.
	if code := post("/act", "a", "2"); code != 200 {
		t.Fatalf("a's write with b's term: %d", code)
	}
	acc, rej, stale := s.Counts()
	if acc != 3 || rej != 1 || len(stale) != 1 || stale[0].Other != "b" {
		t.Fatalf("accepted %d, rejected %d, stale %+v", acc, rej, stale)
	}
}
