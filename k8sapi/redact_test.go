package k8sapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// slashToken has the characters JSON lets a server escape in more than
// one way: '/' as \/ and '+' as \u002b.
const slashToken = "sekret/9f+01d4c3a7b2e"

// escapeAll spells every byte of s as a \u00XX JSON escape.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\u%04x`, s[i])
	}
	return b.String()
}

// escapeSome spells s with '/' as \/, '+' as \u002B and the first byte as
// a \u escape: a JSON string that decodes to s.
func escapeSome(s string) string {
	r := strings.NewReplacer("/", `\/`, "+", `\u002B`).Replace(s[1:])
	return fmt.Sprintf(`\u%04X`, s[0]) + r
}

var jsonEscape = regexp.MustCompile(`\\u[0-9a-fA-F]{4}|\\[/"\\]`)

// showsToken reports whether s shows 8 bytes or more of tok in a row,
// literally or once JSON (or Go) escapes are read back.
func showsToken(s, tok string) bool {
	unescaped := jsonEscape.ReplaceAllStringFunc(s, func(e string) string {
		if e[1] != 'u' {
			return e[1:]
		}
		n, _ := strconv.ParseUint(e[2:], 16, 32)
		return string(rune(n))
	})
	unescaped = strings.ReplaceAll(unescaped, `\`, "")
	for _, text := range []string{s, unescaped} {
		for i := 0; i+8 <= len(tok); i++ {
			if strings.Contains(text, tok[i:i+8]) {
				return true
			}
		}
	}
	return false
}

// errorTexts is every way a caller might print err, including the fields
// of a *StatusError.
func errorTexts(err error) []string {
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	var se *k8sapi.StatusError
	if errors.As(err, &se) {
		texts = append(texts, se.Reason, se.Message, se.Body)
		if se.Details != nil {
			texts = append(texts, fmt.Sprintf("%+v", *se.Details))
		}
	}
	return texts
}

func checkNoToken(t *testing.T, what string, err error, tok string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, s := range errorTexts(err) {
		if showsToken(s, tok) {
			t.Errorf("%s: error shows the token: %s", what, s)
		}
	}
}

// TestTokenRedactedAfterJSONDecoding has the server echo the token with
// JSON escapes, which decode to the token: no error may show it.
func TestTokenRedactedAfterJSONDecoding(t *testing.T) {
	bodies := map[string]string{
		"message": `{"kind":"Status","code":403,"reason":"Forbidden","message":"you sent Bearer ` + escapeAll(slashToken) + `"}`,
		"details": `{"kind":"Status","code":409,"reason":"` + escapeSome(slashToken) + `","message":"m","details":{"name":"` +
			escapeSome(slashToken) + `","kind":"` + escapeAll(slashToken) + `","causes":[{"reason":"` + escapeSome(slashToken) +
			`","message":"` + escapeAll(slashToken) + `","field":"` + escapeSome(slashToken) + `"}]}}`,
		"notstatus": `{"error":"you sent Bearer ` + escapeSome(slashToken) + `"}`,
		"late":      `{"error":"` + strings.Repeat("x", 780) + escapeAll(slashToken) + `"}`,
	}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		switch {
		case name == "object":
			fmt.Fprintf(w, `["%s"]`, escapeSome(slashToken))
		case r.URL.Query().Get("watch") == "1" && r.URL.Query().Get("fieldSelector") == "metadata.name=type":
			writeChunks(w, `{"type":"`+slashToken+`","object":{}}`)
		case r.URL.Query().Get("watch") == "1":
			writeChunks(w, `{"type":"ERROR","object":{"kind":"Status","code":500,"message":"`+escapeAll(slashToken)+`"}}`)
		default:
			w.WriteHeader(500)
			w.Write([]byte(bodies[name]))
		}
	}, k8sapi.Config{BearerToken: slashToken})
	ctx := context.Background()
	for name := range bodies {
		_, err := c.Get(ctx, k8sapi.Leases, "ns", name)
		checkNoToken(t, name, err, slashToken)
	}
	_, err := c.Get(ctx, k8sapi.Leases, "ns", "object")
	checkNoToken(t, "not an object", err, slashToken)
	for _, name := range []string{"type", "error"} {
		w, err := c.Watch(ctx, k8sapi.Leases, "ns", name, k8sapi.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Next()
		w.Close()
		checkNoToken(t, "watch "+name, err, slashToken)
	}
}

// TestWarningRedactedBeforeCut sends a warning longer than the part kept,
// with the token across the cut: no part of it may pass.
func TestWarningRedactedBeforeCut(t *testing.T) {
	var mu sync.Mutex // guards got
	var got []string
	handler := func(text string) {
		mu.Lock()
		got = append(got, text)
		mu.Unlock()
	}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		for _, n := range []int{1000, 1012, 1020} {
			w.Header().Add("Warning", `299 - "`+strings.Repeat("x", n)+r.Header.Get("Authorization")[len("Bearer "):]+`"`)
		}
		writeStatus(w, 404, "NotFound", "not found")
	}, k8sapi.Config{WarningHandler: handler})
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "x"); !k8sapi.IsNotFound(err) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("%d warnings surfaced, want 3", len(got))
	}
	for _, text := range got {
		if len(text) > 1024 {
			t.Errorf("warning of %d bytes surfaced", len(text))
		}
		if showsToken(text, testToken) {
			t.Errorf("warning shows the token: %q", text[1000:])
		}
	}
}

// TestTokenNotInTransportErrors has a server answer with a malformed
// response that carries the token; Go's HTTP client quotes such a line in
// its error.
func TestTokenNotInTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(conn))
			if err == nil {
				tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
				if strings.HasSuffix(req.URL.Path, "/header") {
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nbad header %s\r\n\r\n", tok)
				} else {
					fmt.Fprintf(conn, "X%s\r\n\r\n", tok)
				}
			}
			conn.Close()
		}
	}()
	c, err := k8sapi.New(k8sapi.Config{Host: "http://" + ln.Addr().String(), BearerToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"status", "header"} {
		_, err := c.Get(context.Background(), k8sapi.Leases, "ns", name)
		checkNoToken(t, name, err, testToken)
		_, err = c.Watch(context.Background(), k8sapi.Leases, "ns", name, k8sapi.WatchOptions{})
		checkNoToken(t, "watch "+name, err, testToken)
	}
}

// TestRotatedTokenRedacted has the server echo the token that a request
// first carried, after the client re-read the token file on a 401 and
// sent the request again with the new token.
func TestRotatedTokenRedacted(t *testing.T) {
	const oldToken, newToken = "old-token-5e0c93ab17", "new-token-a04d71c2f8"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(oldToken), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards seen
	var seen []string
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		all := strings.Join(seen, ", ")
		mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer "+oldToken {
			writeStatus(w, 401, "Unauthorized", "expired")
			return
		}
		writeStatus(w, 403, "Forbidden", "you sent "+all)
	}, k8sapi.Config{BearerTokenFile: file})
	if err := os.WriteFile(file, []byte(newToken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "x")
	if !k8sapi.IsForbidden(err) {
		t.Fatalf("got %v, want the 403 after the retry", err)
	}
	checkNoToken(t, "old token", err, oldToken)
	checkNoToken(t, "new token", err, newToken)
}
