package k8sapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every decoder of bytes that come from the network or a
// file: Status and error answers, the watch stream, objects and their
// fields, Warning headers, the token redaction, and the in-cluster config
// files. The seeds below and the files in testdata/fuzz run with every
// plain "go test"; test/fuzz.sh runs each target with -fuzz.

// token68 is the alphabet of a bearer token (RFC 6750).
const token68 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"

// fuzzToken maps seed onto a bearer token of 8 to 128 characters, so that
// every input gives a token; "" when seed is too short. The token starts
// with "Zq", which no error text of this package holds, so that it cannot
// be all digits (a number in the error) or a word of a path.
func fuzzToken(seed []byte) string {
	if len(seed) < 6 {
		return ""
	}
	if len(seed) > 126 {
		seed = seed[:126]
	}
	b := []byte("Zq")
	for _, c := range seed {
		b = append(b, token68[int(c)%len(token68)])
	}
	return string(b)
}

// spell writes tok as a JSON string's contents would, each byte chosen by
// two bits of mask: as itself, as \u00xx, as \u00XX, or ('/' only) as \/.
func spell(tok string, mask uint64) string {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; (mask >> (2 * (i % 32))) & 3 {
		case 1:
			fmt.Fprintf(&b, `\u%04x`, c)
		case 2:
			fmt.Fprintf(&b, `\u%04X`, c)
		case 3:
			if c == '/' {
				b.WriteString(`\/`)
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var jsonEscapeRE = regexp.MustCompile(`\\u[0-9a-fA-F]{4}|\\[/"\\]`)

// readsAs is s as a JSON string's contents read: escapes decoded, anything
// else kept.
func readsAs(s string) string {
	return jsonEscapeRE.ReplaceAllStringFunc(s, func(e string) string {
		if e[1] != 'u' {
			return e[1:]
		}
		n, _ := strconv.ParseUint(e[2:], 16, 32)
		return string(rune(n))
	})
}

// shows reports whether s shows tok, as it is or read as JSON.
func shows(s, tok string) bool {
	return strings.Contains(s, tok) || strings.Contains(readsAs(s), tok)
}

// insertToken returns b with tok, spelled by mask, inserted at at (modulo
// the length).
func insertToken(b []byte, tok string, mask uint64, at int) []byte {
	if at < 0 {
		at = -(at + 1)
	}
	at %= len(b) + 1
	out := make([]byte, 0, len(b)+6*len(tok))
	out = append(out, b[:at]...)
	out = append(out, spell(tok, mask)...)
	return append(out, b[at:]...)
}

func FuzzRedact(f *testing.F) {
	f.Add([]byte("sekret-6b2e9f01d4c3a7"), "you sent Bearer ", `"}`, uint64(0), 0)
	f.Add([]byte("eyJhbGciOiJSUzI1NiIs/+"), `{"message":"`, "", uint64(0x5555555555555555), 30)
	f.Add([]byte("abcdefgabcdefgab"), "abcdefg", "abcdefgab", uint64(0xAAAAAAAAAAAAAAAA), -7)
	f.Add([]byte("zzzzzzzz/zzz"), `\\\`, `\u00`, uint64(0xFFFFFFFFFFFFFFFF), 12)
	f.Fuzz(func(t *testing.T, seed []byte, prefix, suffix string, mask uint64, cutAt int) {
		tok := fuzzToken(seed)
		if tok == "" {
			return
		}
		s := prefix + spell(tok, mask) + suffix
		if r := redactTokens(s, []string{tok}, false); shows(r, tok) {
			t.Fatalf("redact(%q) = %q shows %q", s, r, tok)
		}
		if cutAt < 0 {
			cutAt = -(cutAt + 1)
		}
		cut := s[:cutAt%(len(s)+1)]
		r := redactTokens(cut, []string{tok}, true)
		if shows(r, tok) {
			t.Fatalf("redact(%q, cut) = %q shows %q", cut, r, tok)
		}
		for k := minPartial; k < len(tok); k++ {
			if strings.HasSuffix(r, tok[:k]) || strings.HasSuffix(readsAs(r), tok[:k]) {
				t.Fatalf("redact(%q, cut) = %q ends with %q", cut, r, tok[:k])
			}
		}
	})
}

// cannedTransport answers every request with what answer returns.
type cannedTransport func(*http.Request) *http.Response

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) { return c(r), nil }

// cannedClient is a client whose requests all get the answer code, header
// and body, carrying the token tok.
func cannedClient(t *testing.T, tok string, maxBytes int64, code int, header http.Header, body []byte, warn func(string)) *Client {
	t.Helper()
	c, err := New(Config{
		Host:             "https://fuzz.invalid",
		BearerToken:      tok,
		MaxResponseBytes: maxBytes,
		WarningHandler:   warn,
		Transport: cannedTransport(func(r *http.Request) *http.Response {
			return &http.Response{
				StatusCode: code, Status: strconv.Itoa(code), Header: header.Clone(),
				Body: io.NopCloser(bytes.NewReader(body)), Request: r,
				ProtoMajor: 1, ProtoMinor: 1,
			}
		}),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// errorTexts is what a caller may print of err.
func errorTexts(err error) []string {
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	var se *StatusError
	if errors.As(err, &se) {
		texts = append(texts, se.Reason, se.Message, se.Body)
		if se.Details != nil {
			texts = append(texts, fmt.Sprintf("%+v", *se.Details))
		}
	}
	return texts
}

// FuzzResponse answers a GET with an arbitrary code, content type,
// Retry-After, Warning and body, with the token spelled somewhere in the
// body and in a warning: the result is an object or an error; a non-2xx
// is a *StatusError with that code; the token shows in no error and no
// warning; warnings are at most maxWarningLen bytes.
func FuzzResponse(f *testing.F) {
	status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"you sent Bearer ","reason":"Forbidden","details":{"name":"x","causes":[{"reason":"r","message":"m"}]},"code":403}`
	f.Add(403, "application/json", "", `299 - "deprecated"`, []byte(status), []byte("sekret-6b2e9f01d4c3a7"), uint64(0x5555), 98)
	f.Add(500, "text/html", "1", `299 - "you sent "`, []byte("<html>"+strings.Repeat("x", 195)+"</html>"), []byte("eyJhbGciOiJSUzI1NiIs/+"), uint64(0), 200)
	f.Add(200, "application/json", "", "", []byte(`["",{}]`), []byte("0123456789abcdef"), uint64(0xFFFFFFFF), 2)
	f.Add(200, "application/json", "", "", []byte(`{"kind":"Lease","metadata":{"name":""}}`), []byte("0123456789abcdef"), uint64(1), 36)
	f.Add(429, "application/json", "99999999999", strings.Repeat("x", 1100), []byte(`{"kind":"Status","code":429,"details":{"retryAfterSeconds":3}}`), []byte("abcdefgh"), uint64(0), 0)
	f.Add(302, "", "", "", []byte(nil), []byte("redirect-token"), uint64(0), 0)
	f.Fuzz(func(t *testing.T, code int, contentType, retryAfter, warning string, body, seed []byte, mask uint64, at int) {
		tok := fuzzToken(seed)
		if tok == "" {
			return
		}
		if code < 0 {
			code = -(code + 1)
		}
		code = 100 + code%500
		body = insertToken(body, tok, mask, at)
		pad := strings.Repeat("x", len(warning)%(maxWarningLen+8))
		header := http.Header{
			"Content-Type": {contentType},
			"Retry-After":  {retryAfter},
			"Warning":      {warning, `299 - "` + pad + tok + `"`},
		}
		var warnings []string
		c := cannedClient(t, tok, 0, code, header, body, func(s string) { warnings = append(warnings, s) })
		obj, err := c.Get(context.Background(), Leases, "ns", "x")
		if code < 200 || code > 299 {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != code {
				t.Fatalf("code %d: got %v, want a *StatusError with that code", code, err)
			}
			if se.RetryAfter < 0 || !utf8.ValidString(se.Body) || len(se.Body) > maxSnippet+3 {
				t.Fatalf("bad StatusError %#v", se)
			}
		}
		if err == nil && obj == nil {
			t.Fatal("no object and no error")
		}
		if err != nil {
			for _, s := range errorTexts(err) {
				if shows(s, tok) {
					t.Fatalf("error shows the token %q: %s", tok, s)
				}
			}
		}
		for _, w := range warnings {
			if len(w) > maxWarningLen || strings.Contains(w, tok) {
				t.Fatalf("warning of %d bytes shows the token %q or is too long: %q", len(w), tok, w)
			}
		}
	})
}

// FuzzWatch reads an arbitrary stream as a watch: Next never panics and
// ends (a stream of n bytes gives at most n events), an error is sticky,
// io.EOF comes only after a stream of whole JSON values that all became
// events, no event's object is over MaxResponseBytes, and a stream
// shorter than that limit is never too large.
func FuzzWatch(f *testing.F) {
	f.Add([]byte(`{"type":"ADDED","object":{"kind":"Lease","metadata":{"name":"l","resourceVersion":"5"}}}`+"\n"+
		`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}`), uint16(1024))
	f.Add([]byte(`{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}}`), uint16(1024))
	f.Add([]byte(`{"type":"MODIFIED","object":{"spec":{"holderIdentity":"`+strings.Repeat("a", 200)+`"}}}`), uint16(100))
	f.Add([]byte(`{"type":"ADDED","object":null}{"type":"DELETED","object":[]}`), uint16(64))
	f.Add([]byte(`{"type":"ADDED","object":{}} garbage`), uint16(64))
	f.Add([]byte(`{"type":"ADDED","object":{}`), uint16(64))
	f.Add([]byte(`{"type":"UNKNOWN","object":{}}`), uint16(64))
	f.Add([]byte(`{"type":1}`), uint16(64))
	f.Add([]byte("<html>502 Bad Gateway</html>"), uint16(64))
	f.Add([]byte(""), uint16(0))
	f.Add([]byte("null {} [] \"x\" 1"), uint16(0))
	f.Fuzz(func(t *testing.T, stream []byte, limit uint16) {
		maxBytes := 16 + int64(limit)%8192
		c := cannedClient(t, "fuzz-token-0123", maxBytes, 200, http.Header{}, stream, nil)
		w, err := c.Watch(context.Background(), Leases, "ns", "l", WatchOptions{})
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Close()

		// The stream's values, read on their own.
		var objects []json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(stream))
		for {
			var v struct {
				Object json.RawMessage `json:"object"`
			}
			if err := dec.Decode(&v); err != nil {
				break
			}
			objects = append(objects, v.Object)
		}
		_, clean := whole(stream)

		events := 0
		for {
			if events > len(stream) {
				t.Fatalf("%d events from %d bytes", events, len(stream))
			}
			ev, err := w.Next()
			if err != nil {
				if _, again := w.Next(); again == nil || again.Error() != err.Error() {
					t.Fatalf("error not sticky: %v then %v", err, again)
				}
				if err == io.EOF && (!clean || events != len(objects)) {
					t.Fatalf("EOF after %d events from a stream of %d values (whole: %v)", events, len(objects), clean)
				}
				if errors.Is(err, ErrResponseTooLarge) && int64(len(stream)) <= maxBytes {
					t.Fatalf("a stream of %d bytes is too large for a limit of %d: %v", len(stream), maxBytes, err)
				}
				return
			}
			if ev.Object == nil {
				t.Fatalf("event %s without an object", ev.Type)
			}
			switch ev.Type {
			case Added, Modified, Deleted, Bookmark:
			default:
				t.Fatalf("event of type %q", ev.Type)
			}
			if events < len(objects) && int64(len(objects[events])) > maxBytes {
				t.Fatalf("event %d has an object of %d bytes, over the limit of %d", events, len(objects[events]), maxBytes)
			}
			events++
		}
	})
}

// whole reports how many JSON values b holds, and whether it is nothing
// but those values and white space.
func whole(b []byte) (int, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	n := 0
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			return n, true
		}
		if err != nil {
			return n, false
		}
		n++
	}
}

// FuzzObjectFields decodes an arbitrary object and checks its accessors
// against Field and DecodeField, that encoding it keeps every field, and
// that SetFields sets what it says and nothing else.
func FuzzObjectFields(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"e","namespace":"ns","resourceVersion":"7","uid":"u","annotations":{"control-plane.alpha.kubernetes.io/leader":"{\"holderIdentity\":\"a\"}"}},"subsets":[{"addresses":[{"ip":"10.0.0.1"}]}],"unknown":{"x":1.50}}`),
		"spec", "holderIdentity", "me", int64(15))
	f.Add([]byte(`{"metadata":{"annotations":{"a":1}},"spec":{"leaseDurationSeconds":15.0,"renewTime":"garbage"}}`), "metadata/annotations", "k", "v", int64(-1))
	f.Add([]byte(`{"spec":null,"status":"x"}`), "status/a", "k", "v", int64(0))
	f.Add([]byte(`{"metadata":{"name":1,"namespace":"ns","resourceVersion":["x"]}}`), "", "data", "\u2028<&>", int64(18446744073))
	f.Add([]byte(`{"a":{"b":{"c":{}}}, "a":{"b":2}}`), "a/b/c", "d", "\xff", int64(1))
	f.Add([]byte(`{"metadata":{"resourceVersion":"1","ResourceVersion":"2"}}`), "metadata", "resourceVersion", "3", int64(3))
	f.Add([]byte(`{ "metadata" : { "resourceVersion" : "1" , "resourceVersion" : "\u0032" , "uid" : "\"}" } , "spec" : [ "{" ] }`), "metadata/uid", "k", "v", int64(4))
	f.Add([]byte("{\"metadata\":{\"name\":\"\xff\",\"\xff\":{\"a\":[{},[]]},\"namespace\":\"n\\\\\"}}"), "metadata/\uFFFD/a", "k", "v", int64(5))
	f.Fuzz(func(t *testing.T, doc []byte, path, key, value string, num int64) {
		var o Object
		if o.UnmarshalJSON(doc) != nil {
			return
		}
		before, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, doc, before) {
			t.Fatalf("re-encoding changed the object:\n%s\n%s", doc, before)
		}

		// The metadata accessors read what DecodeField reads, and what
		// decoding the metadata with encoding/json finds.
		for _, acc := range []struct {
			field string
			get   func() string
		}{
			{"name", o.Name}, {"namespace", o.Namespace},
			{"resourceVersion", o.ResourceVersion}, {"uid", o.UID},
		} {
			var s string
			if ok, err := o.DecodeField(&s, "metadata", acc.field); ok && err == nil && acc.get() != s {
				t.Errorf("metadata.%s: accessor %q, DecodeField %q", acc.field, acc.get(), s)
			}
			raw, _ := decodedField(&o, "metadata", acc.field)
			var want string
			_ = json.Unmarshal(raw, &want)
			if acc.get() != want {
				t.Errorf("metadata.%s: accessor %q, encoding/json %q", acc.field, acc.get(), want)
			}
		}
		var ann map[string]string
		if ok, err := o.DecodeField(&ann, "metadata", "annotations"); ok && err == nil && !reflect.DeepEqual(ann, o.Annotations()) {
			t.Errorf("Annotations() = %v, DecodeField %v", o.Annotations(), ann)
		}

		if !utf8.ValidString(path) || !utf8.ValidString(key) {
			return // a key JSON cannot hold: it is written as U+FFFD
		}
		var steps []string
		if path != "" {
			steps = strings.Split(path, "/")
		}
		if raw, ok := o.Field(steps...); ok && !json.Valid(raw) {
			t.Fatalf("Field(%q) = invalid JSON %q", steps, raw)
		}
		for i := range steps {
			raw, ok := o.Field(steps[:i+1]...)
			want, wantOK := decodedField(&o, steps[:i+1]...)
			if ok != wantOK || !bytes.Equal(raw, want) {
				t.Fatalf("Field(%q) = %q, %v; encoding/json finds %q, %v", steps[:i+1], raw, ok, want, wantOK)
			}
		}

		other := key + "2"
		err = o.SetFields(map[string]any{key: value, other: num}, steps...)
		after, merr := o.MarshalJSON()
		if merr != nil || !json.Valid(after) {
			t.Fatalf("MarshalJSON after SetFields = %q, %v", after, merr)
		}
		if err != nil {
			if !bytes.Equal(before, after) {
				t.Fatalf("a failed SetFields (%v) changed the object:\n%s\n%s", err, before, after)
			}
			return
		}
		var again Object
		if err := again.UnmarshalJSON(after); err != nil {
			t.Fatalf("decode %s: %v", after, err)
		}
		var gotValue, wantValue string
		var gotNum int64
		// JSON replaces each byte of invalid UTF-8 with U+FFFD.
		wantJSON, _ := json.Marshal(value)
		_ = json.Unmarshal(wantJSON, &wantValue)
		if ok, err := again.DecodeField(&gotValue, append(steps[:len(steps):len(steps)], key)...); !ok || err != nil || gotValue != wantValue {
			t.Errorf("%v/%q = %q (%v, %v), want %q", steps, key, gotValue, ok, err, wantValue)
		}
		if ok, err := again.DecodeField(&gotNum, append(steps[:len(steps):len(steps)], other)...); !ok || err != nil || gotNum != num {
			t.Errorf("%v/%q = %d (%v, %v), want %d", steps, other, gotNum, ok, err, num)
		}
		// Every other top-level field is as it was, byte for byte.
		for k, v := range o.fields {
			if len(steps) == 0 && (k == key || k == other) || len(steps) > 0 && k == steps[0] {
				continue
			}
			if old, ok := decodedFields(t, before)[k]; !ok || !bytes.Equal(old, v) {
				t.Errorf("field %q changed: %s -> %s", k, old, v)
			}
		}
	})
}

// decodedFields is the top-level fields of the JSON object b.
func decodedFields(t *testing.T, b []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// sameJSON reports whether a and b decode to the same value, numbers
// compared as written.
func sameJSON(t *testing.T, a, b []byte) bool {
	decodeAny := func(b []byte) any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return v
	}
	return reflect.DeepEqual(decodeAny(a), decodeAny(b))
}

// FuzzWarningHeader parses arbitrary Warning header values: every text
// surfaced is at most maxWarningLen bytes, and a token in a text, even
// across the cut, does not pass.
func FuzzWarningHeader(f *testing.F) {
	f.Add(`299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"`, []byte("sekret-6b2e9f01d4c3a7"), 0)
	f.Add(`299 - "a", 299 kube-apiserver "b" "Sat, 25 Aug 2012 23:34:45 GMT"`+"\n"+`199 - "c"`, []byte("abcdefghijkl"), 1012)
	f.Add(`299 - "with \"quotes\" and \\ backslash`, []byte("abcdefghijkl"), 1020)
	f.Add("299 - \"\xff\xfe\"", []byte("abcdefghijkl"), 1023)
	f.Fuzz(func(t *testing.T, values string, seed []byte, pad int) {
		tok := fuzzToken(seed)
		if tok == "" {
			return
		}
		if pad < 0 {
			pad = -(pad + 1)
		}
		pad %= maxWarningLen + 16
		vals := strings.Split(values, "\n")
		vals = append(vals, `299 - "`+strings.Repeat("x", pad)+tok+`"`)
		for _, text := range parseWarnings(vals) {
			short := shortWarning(text, []string{tok})
			if len(short) > maxWarningLen {
				t.Fatalf("warning of %d bytes", len(short))
			}
			if utf8.ValidString(text) && !utf8.ValidString(short) {
				t.Fatalf("valid text %q became invalid %q", text, short)
			}
			if strings.Contains(short, tok) {
				t.Fatalf("warning shows the token %q: %q", tok, short)
			}
			if strings.HasSuffix(text, tok) && len(text) > maxWarningLen && strings.HasSuffix(short, tok[:minPartial]) {
				t.Fatalf("the cut leaves part of the token %q: %q", tok, short)
			}
		}
	})
}

// FuzzInClusterConfig builds a config from arbitrary environment and
// service-account files and a client from it: no panic, a token file that
// New accepts is the token it sends, and no error shows the token.
func FuzzInClusterConfig(f *testing.F) {
	f.Add("10.96.0.1", "443", []byte("eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.e30.sig\n"), []byte("kube-system\n"))
	f.Add("fd00::1", "6443", []byte("  tok\r\n"), []byte("ns"))
	f.Add("", "443", []byte("tok"), []byte("ns"))
	f.Add("h", "x", []byte("sekret\x00-token"), []byte(" \n"))
	f.Add("a b/c", "99999", []byte("\n\n"), []byte("ns"))
	f.Add("[::1]", "443", []byte("tok\x7fen-0123"), []byte("ns"))
	dir := f.TempDir()
	ca := []byte("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
	f.Fuzz(func(t *testing.T, host, port string, token, namespace []byte) {
		if strings.ContainsRune(host+port, 0) {
			return // not an environment variable
		}
		t.Setenv("KUBERNETES_SERVICE_HOST", host)
		t.Setenv("KUBERNETES_SERVICE_PORT", port)
		for name, b := range map[string][]byte{"token": token, "ca.crt": ca, "namespace": namespace} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		secret := strings.TrimSpace(string(token))
		check := func(what string, err error) {
			// An error may name the host and port, which may hold the same text.
			// So may their quoted form (a byte 0xb7 before "00" reads \xb700).
			addr := host + ":" + port
			if err != nil && len(secret) >= 4 && !strings.Contains(addr, secret) && !strings.Contains(strconv.Quote(addr), secret) &&
				strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: error shows the token: %v", what, err)
			}
		}
		tok, err := readToken(filepath.Join(dir, "token"))
		check("readToken", err)
		if err == nil && (tok != secret || tok == "" || checkToken(tok) != nil) {
			t.Fatalf("readToken = %q from %q", tok, token)
		}
		cfg, err := InClusterConfigFromDir(dir)
		check("InClusterConfigFromDir", err)
		if err != nil {
			return
		}
		if cfg.Namespace != strings.TrimSpace(string(namespace)) || cfg.Namespace == "" {
			t.Fatalf("namespace %q from %q", cfg.Namespace, namespace)
		}
		cfg.CAFile = "" // the CA is not a certificate; see that the rest works
		c, err := New(*cfg)
		check("New", err)
		if err != nil {
			return
		}
		if got := c.tokens.Token(); got != tok {
			t.Fatalf("client sends %q, the file holds %q", got, tok)
		}
	})
}

// decodedField is Field as encoding/json finds it: each step decoded into
// a map.
func decodedField(o *Object, path ...string) (json.RawMessage, bool) {
	raw, ok := o.fields[path[0]]
	for _, key := range path[1:] {
		var m map[string]json.RawMessage
		if !ok || len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '{' || json.Unmarshal(raw, &m) != nil {
			return nil, false
		}
		raw, ok = m[key]
	}
	return raw, ok
}
