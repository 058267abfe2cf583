package chaos

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
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

// The store refuses the tokens a fencing.Checker refuses, and judges its
// decisions by the order in which the leaderships began (announced), not
// by the tokens: an accepted write of a leadership that began before one
// that has written is stale; a refusal that no later leadership explains
// is misfenced.
func TestStoreFencing(t *testing.T) {
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	post := func(path, id, key, token string) int {
		t.Helper()
		resp, err := http.Post(s.URL()+path+"?id="+id+"&lead="+key+"&token="+token+"&term=1", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	want := func(step string, code, wantCode int, c StoreCounts, accepted, refused, stale, misfenced int) {
		t.Helper()
		if code != wantCode || c.Accepted != accepted || c.Refused != refused || len(c.Stale) != stale || len(c.Misfenced) != misfenced {
			t.Fatalf("%s: status %d (want %d); accepted %d, refused %d, stale %v, misfenced %v; want %d, %d, %d, %d",
				step, code, wantCode, c.Accepted, c.Refused, c.Stale, c.Misfenced, accepted, refused, stale, misfenced)
		}
	}
	post("/lead", "a", "1", "100")
	want("a writes", post("/act", "a", "1", "100"), 200, s.Counts(), 1, 0, 0, 0)
	post("/lead", "b", "1", "250")
	want("b, which began later, writes", post("/act", "b", "1", "250"), 200, s.Counts(), 2, 0, 0, 0)
	want("a writes again, stale", post("/act", "a", "1", "100"), http.StatusConflict, s.Counts(), 2, 1, 0, 0)

	// c begins after b with a lower token (a token out of order): refused,
	// and the refusal is misfenced: no leadership that began after c wrote.
	post("/lead", "c", "1", "200")
	want("c writes with a token below b's", post("/act", "c", "1", "200"), http.StatusConflict, s.Counts(), 2, 2, 0, 1)
	if m := s.Counts().Misfenced[0]; m.ID != "c" || m.Other != "b" || m.Token != 200 || m.OtherToken != 250 {
		t.Fatalf("misfenced %+v", m)
	}

	// a's old leadership carrying a token above b's (a wrong token): the
	// Checker accepts it, and the store counts it stale.
	want("a's first leadership with a high token", post("/act", "a", "1", "300"), 200, s.Counts(), 3, 2, 1, 1)
	if st := s.Counts().Stale[0]; st.ID != "a" || st.Other != "b" || st.Token != 300 || st.OtherToken != 250 {
		t.Fatalf("stale %+v", st)
	}
	// a's new leadership, begun after all the others, may write with it.
	post("/lead", "a", "2", "300")
	want("a's second leadership", post("/act", "a", "2", "300"), 200, s.Counts(), 4, 2, 1, 1)

	// No token, and a leadership never announced.
	if code := post("/act", "b", "1", "0"); code != http.StatusBadRequest || s.Counts().Invalid != 1 {
		t.Fatalf("token 0: status %d, %+v", code, s.Counts())
	}
	if code := post("/act", "d", "1", "400"); code != 200 || s.Counts().Unannounced != 1 {
		t.Fatalf("unannounced: status %d, %+v", code, s.Counts())
	}
	var order []string
	for _, w := range s.Writes() {
		order = append(order, fmt.Sprintf("%s:%d:%v", w.ID, w.Token, w.Accepted))
	}
	if got, want := strings.Join(order, " "), "a:100:true b:250:true a:100:false c:200:false a:300:true a:300:true b:0:false d:400:true"; got != want {
		t.Errorf("writes in order:\n%s\nwant\n%s", got, want)
	}
}
