package k8sapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// cannedAnswer answers every request with code and body, after checking
// that it carried the token.
type cannedAnswer struct {
	t     *testing.T
	token string
	code  int
	body  string
}

func (c cannedAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+c.token {
		c.t.Errorf("Authorization = %q, want the bearer token", got)
	}
	return &http.Response{
		StatusCode: c.code, Status: http.StatusText(c.code),
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(c.body)),
		Request: req, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// TestShortTokenKeepsStatus: with a one-character bearer token ("t", as
// tests use), a Status answer whose text holds that letter many times is
// still decoded whole: the error is a *StatusError with the reason and code
// the server sent, its message reads as sent, and only a place where the
// token stands as a word of its own is redacted.
func TestShortTokenKeepsStatus(t *testing.T) {
	const token = "t"
	const modified = `Operation cannot be fulfilled on leases.coordination.k8s.io "test-lock": the object has been modified; please apply your changes to the latest version and try again`
	const forbidden = `leases.coordination.k8s.io "test-lock" is forbidden: User "system:serviceaccount:test:elector" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "test"`
	const exists = `leases.coordination.k8s.io "test-lock" already exists`
	status := func(code int, reason, message string) string {
		return `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"` + message + `","reason":"` + reason +
			`","details":{"name":"test-lock","group":"coordination.k8s.io","kind":"leases","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"t\": must start with a letter","field":"metadata.name"}]},"code":` +
			strconv.Itoa(code) + `}`
	}
	tests := []struct {
		name        string
		method      string
		code        int
		reason      string
		message     string
		wantMessage string
		is          func(error) bool
	}{
		{"409 Conflict", http.MethodPut, 409, "Conflict", strings.ReplaceAll(modified, `"`, `\"`), modified, k8sapi.IsConflict},
		{"409 AlreadyExists", http.MethodPost, 409, "AlreadyExists", strings.ReplaceAll(exists, `"`, `\"`), exists, k8sapi.IsAlreadyExists},
		{"403 Forbidden", http.MethodGet, 403, "Forbidden", strings.ReplaceAll(forbidden, `"`, `\"`), forbidden, k8sapi.IsForbidden},
		// The token as a word of its own is redacted, and nothing else.
		{"403 echoing the token", http.MethodGet, 403, "Forbidden", `the request sent Authorization: Bearer t, that token is not allowed to get leases`,
			`the request sent Authorization: Bearer [redacted], that token is not allowed to get leases`, k8sapi.IsForbidden},
		{"401 token in quotes", http.MethodGet, 401, "Unauthorized", `token \"t\" is not valid`, `token "[redacted]" is not valid`, k8sapi.IsUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := k8sapi.New(k8sapi.Config{
				Host: "https://api.example", BearerToken: token,
				Transport: cannedAnswer{t: t, token: token, code: tt.code, body: status(tt.code, tt.reason, tt.message)},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			lock := k8sapi.NewObject(k8sapi.Leases, "test", "test-lock")
			switch tt.method {
			case http.MethodGet:
				_, err = c.Get(ctx, k8sapi.Leases, "test", "test-lock")
			case http.MethodPost:
				_, err = c.Create(ctx, k8sapi.Leases, lock)
			case http.MethodPut:
				_, err = c.Update(ctx, k8sapi.Leases, lock)
			}
			var se *k8sapi.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is no *StatusError", err, err)
			}
			if se.Code != tt.code || se.Reason != tt.reason || !tt.is(err) {
				t.Errorf("Code %d, Reason %q (want %d %q), predicate %v", se.Code, se.Reason, tt.code, tt.reason, tt.is(err))
			}
			if se.Message != tt.wantMessage {
				t.Errorf("Message = %q\nwant      %q", se.Message, tt.wantMessage)
			}
			if se.Details == nil || se.Details.Name != "test-lock" || se.Details.Group != "coordination.k8s.io" || se.Details.Kind != "leases" {
				t.Errorf("Details = %+v", se.Details)
			}
			// The cause's value is the token as a quoted word: redacted.
			if len(se.Details.Causes) != 1 || se.Details.Causes[0].Message != `Invalid value: "[redacted]": must start with a letter` ||
				se.Details.Causes[0].Field != "metadata.name" || se.Details.Causes[0].Type != "FieldValueInvalid" {
				t.Errorf("Causes = %+v", se.Details.Causes)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("Error() = %q does not read the message", err.Error())
			}
		})
	}
}

// TestShortTokenKeepsSnippet: the snippet of a body that is not a Status
// is readable with a one-character token too.
func TestShortTokenKeepsSnippet(t *testing.T) {
	body := "<html>gateway timeout: the upstream server did not answer in time; token t refused</html>"
	c, err := k8sapi.New(k8sapi.Config{
		Host: "https://api.example", BearerToken: "t",
		Transport: cannedAnswer{t: t, token: "t", code: 504, body: body},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), k8sapi.Leases, "test", "test-lock")
	var se *k8sapi.StatusError
	if !errors.As(err, &se) || se.Code != 504 {
		t.Fatalf("error %v, want a 504 *StatusError", err)
	}
	want := "<html>gateway timeout: the upstream server did not answer in time; token [redacted] refused</html>"
	if se.Body != want {
		t.Errorf("Body = %q\nwant   %q", se.Body, want)
	}
}

// TestShortTokenThreshold: a token of fewer than 8 bytes inside a word is
// left alone; from 8 bytes on it is redacted wherever it appears.
func TestShortTokenThreshold(t *testing.T) {
	for _, tt := range []struct {
		token, want string
	}{
		{"abcdefg", "no route for xabcdefgx; token [redacted] refused"},
		{"abcdefgh", "no route for x[redacted]x; token [redacted] refused"},
	} {
		body := "no route for x" + tt.token + "x; token " + tt.token + " refused"
		c, err := k8sapi.New(k8sapi.Config{
			Host: "https://api.example", BearerToken: tt.token,
			Transport: cannedAnswer{t: t, token: tt.token, code: 502, body: body},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Get(context.Background(), k8sapi.Leases, "test", "test-lock")
		var se *k8sapi.StatusError
		if !errors.As(err, &se) || se.Body != tt.want {
			t.Errorf("token %q: error %v, want body %q", tt.token, err, tt.want)
		}
	}
}
