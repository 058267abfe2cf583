package k8sapi

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeStatus(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		retryAfter string
		body       string
		want       StatusError
	}{
		{
			name: "404",
			code: 404,
			body: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"x\" not found","reason":"NotFound","details":{"name":"x","group":"coordination.k8s.io","kind":"leases"},"code":404}`,
			want: StatusError{Code: 404, Reason: "NotFound", Message: `leases.coordination.k8s.io "x" not found`,
				Details: &StatusDetails{Name: "x", Group: "coordination.k8s.io", Kind: "leases"}},
		},
		{
			name: "409 with causes",
			code: 409,
			body: `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":"Conflict","details":{"name":"x","causes":[{"reason":"FieldValueInvalid","message":"bad","field":"spec"}]},"code":409}`,
			want: StatusError{Code: 409, Reason: "Conflict", Message: "m",
				Details: &StatusDetails{Name: "x", Causes: []StatusCause{{Type: "FieldValueInvalid", Message: "bad", Field: "spec"}}}},
		},
		{
			name: "429 header wins over details",
			code: 429, retryAfter: "7",
			body: `{"kind":"Status","status":"Failure","reason":"TooManyRequests","details":{"retryAfterSeconds":2},"code":429}`,
			want: StatusError{Code: 429, Reason: "TooManyRequests", RetryAfter: 7 * time.Second, Details: &StatusDetails{RetryAfterSeconds: 2}},
		},
		{
			name: "details retryAfterSeconds",
			code: 500,
			body: `{"kind":"Status","status":"Failure","reason":"ServerTimeout","details":{"retryAfterSeconds":2},"code":500}`,
			want: StatusError{Code: 500, Reason: "ServerTimeout", RetryAfter: 2 * time.Second, Details: &StatusDetails{RetryAfterSeconds: 2}},
		},
		{
			name: "bad Retry-After ignored",
			code: 429, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT",
			body: "",
			want: StatusError{Code: 429},
		},
		{
			name: "watch ERROR object: code from the Status",
			code: 0,
			body: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}`,
			want: StatusError{Code: 410, Reason: "Expired", Message: "too old resource version: 1 (2)"},
		},
		{
			name: "HTML from a proxy",
			code: 502,
			body: "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n",
			want: StatusError{Code: 502, Body: "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>"},
		},
		{
			name: "truncated Status",
			code: 409,
			body: `{"kind":"Status","apiVersion":"v1","status":"Fail`,
			want: StatusError{Code: 409, Body: `{"kind":"Status","apiVersion":"v1","status":"Fail`},
		},
		{
			name: "JSON that is not a Status",
			code: 500,
			body: `{"error":"boom"}`,
			want: StatusError{Code: 500, Body: `{"error":"boom"}`},
		},
		{
			name: "empty",
			code: 503,
			want: StatusError{Code: 503},
		},
		{
			name: "no code anywhere",
			code: 0,
			body: `{"kind":"Status"}`,
			want: StatusError{Code: 500},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeStatus(tt.code, tt.retryAfter, []byte(tt.body), nil)
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("decodeStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes, two per rune
	got := snippet([]byte(long), nil)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "...") || len(got) > maxSnippet+3 {
		t.Errorf("snippet of 300 bytes = %q (len %d)", got, len(got))
	}
	if got := snippet([]byte("a\x00b\x1b[31mc\xff"), nil); got != "a b [31mc\uFFFD" {
		t.Errorf("snippet with control bytes = %q", got)
	}
}

// FuzzDecodeStatus feeds decodeStatus arbitrary bodies from the network:
// it must not panic, must keep the HTTP code, and must give a short, valid
// UTF-8 snippet when the body is not a Status.
func FuzzDecodeStatus(f *testing.F) {
	f.Add(404, "", []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":"NotFound","code":404}`))
	f.Add(429, "3", []byte(`{"kind":"Status","details":{"retryAfterSeconds":-1,"causes":[{}]}}`))
	f.Add(0, "", []byte(`{"kind":"Status","code":410,"reason":"Expired"}`))
	f.Add(502, "x", []byte("<html>\xff\xfe</html>"))
	f.Add(500, "", []byte(`{"kind":"Status","details":null,"code":"x"}`))
	f.Add(409, "99999999999999999999", []byte(strings.Repeat("\u00e9", 300)))
	f.Fuzz(func(t *testing.T, code int, retryAfter string, body []byte) {
		if code < 0 || code > 999 {
			return
		}
		se := decodeStatus(code, retryAfter, body, nil)
		if code != 0 && se.Code != code {
			t.Errorf("code %d became %d", code, se.Code)
		}
		if len(se.Body) > maxSnippet+3 || !utf8.ValidString(se.Body) {
			t.Errorf("bad snippet %q", se.Body)
		}
		if se.RetryAfter < 0 {
			t.Errorf("negative RetryAfter %v", se.RetryAfter)
		}
		_ = se.Error()
	})
}
