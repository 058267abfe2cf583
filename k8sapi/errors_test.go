package k8sapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

func TestIsHelpersOnHandBuiltErrors(t *testing.T) {
	type preds struct{ notFound, conflict, exists, forbidden, unauthorized, gone, tooMany, invalid bool }
	tests := []struct {
		name string
		err  *k8sapi.StatusError
		want preds
	}{
		{"404 reason", &k8sapi.StatusError{Code: 404, Reason: "NotFound"}, preds{notFound: true}},
		{"404 no reason", &k8sapi.StatusError{Code: 404}, preds{notFound: true}},
		{"404 odd reason", &k8sapi.StatusError{Code: 404, Reason: "Whatever"}, preds{notFound: true}},
		{"409 conflict", &k8sapi.StatusError{Code: 409, Reason: "Conflict"}, preds{conflict: true}},
		{"409 no reason PUT", &k8sapi.StatusError{Code: 409, Method: "PUT"}, preds{conflict: true}},
		{"409 no reason, no method", &k8sapi.StatusError{Code: 409}, preds{conflict: true}},
		{"409 exists", &k8sapi.StatusError{Code: 409, Reason: "AlreadyExists"}, preds{exists: true}},
		{"409 no reason POST", &k8sapi.StatusError{Code: 409, Method: "POST"}, preds{exists: true}},
		{"409 conflict on POST", &k8sapi.StatusError{Code: 409, Reason: "Conflict", Method: "POST"}, preds{conflict: true}},
		{"403", &k8sapi.StatusError{Code: 403}, preds{forbidden: true}},
		{"403 reason", &k8sapi.StatusError{Code: 403, Reason: "Forbidden"}, preds{forbidden: true}},
		{"401", &k8sapi.StatusError{Code: 401}, preds{unauthorized: true}},
		{"401 reason", &k8sapi.StatusError{Code: 401, Reason: "Unauthorized"}, preds{unauthorized: true}},
		{"410", &k8sapi.StatusError{Code: 410}, preds{gone: true}},
		{"410 Expired", &k8sapi.StatusError{Code: 410, Reason: "Expired"}, preds{gone: true}},
		{"410 Gone", &k8sapi.StatusError{Code: 410, Reason: "Gone"}, preds{gone: true}},
		{"Expired without code", &k8sapi.StatusError{Reason: "Expired"}, preds{gone: true}},
		{"429", &k8sapi.StatusError{Code: 429}, preds{tooMany: true}},
		{"429 reason", &k8sapi.StatusError{Code: 429, Reason: "TooManyRequests"}, preds{tooMany: true}},
		{"422", &k8sapi.StatusError{Code: 422}, preds{invalid: true}},
		{"422 reason", &k8sapi.StatusError{Code: 422, Reason: "Invalid"}, preds{invalid: true}},
		{"400 BadRequest", &k8sapi.StatusError{Code: 400, Reason: "BadRequest"}, preds{}},
		{"500", &k8sapi.StatusError{Code: 500, Reason: "InternalError"}, preds{}},
		// A known reason wins over the code.
		{"404 code, Conflict reason", &k8sapi.StatusError{Code: 404, Reason: "Conflict"}, preds{conflict: true}},
	}
	for _, tt := range tests {
		for _, wrapped := range []bool{false, true} {
			var err error = tt.err
			name := tt.name
			if wrapped {
				err = fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", err))
				name += " wrapped"
			}
			got := preds{
				notFound: k8sapi.IsNotFound(err), conflict: k8sapi.IsConflict(err),
				exists: k8sapi.IsAlreadyExists(err), forbidden: k8sapi.IsForbidden(err),
				unauthorized: k8sapi.IsUnauthorized(err), gone: k8sapi.IsGone(err),
				tooMany: k8sapi.IsTooManyRequests(err), invalid: k8sapi.IsInvalid(err),
			}
			if got != tt.want {
				t.Errorf("%s: got %+v, want %+v", name, got, tt.want)
			}
		}
	}
}

func TestIsHelpersOnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("k8sapi: 404 NotFound"), (*k8sapi.StatusError)(nil)} {
		if k8sapi.IsNotFound(err) || k8sapi.IsConflict(err) || k8sapi.IsGone(err) || k8sapi.IsAlreadyExists(err) || k8sapi.IsInvalid(err) {
			t.Errorf("%#v matched", err)
		}
		if _, ok := k8sapi.RetryAfter(err); ok {
			t.Errorf("RetryAfter(%#v) ok", err)
		}
	}
}

func TestStatusErrorMessage(t *testing.T) {
	tests := []struct {
		err  *k8sapi.StatusError
		want string
	}{
		{&k8sapi.StatusError{Code: 409, Reason: "Conflict", Method: "PUT", Path: "/apis/coordination.k8s.io/v1/namespaces/ns/leases/x",
			Message: `Operation cannot be fulfilled on leases.coordination.k8s.io "x": the object has been modified`},
			`k8sapi: PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/x: 409 Conflict: Operation cannot be fulfilled on leases.coordination.k8s.io "x": the object has been modified`},
		{&k8sapi.StatusError{Code: 404}, "k8sapi: 404 Not Found"},
		{&k8sapi.StatusError{Code: 502, Method: "GET", Path: "/api/v1/namespaces/a/endpoints/b", Body: "<html>bad gateway</html>"},
			`k8sapi: GET /api/v1/namespaces/a/endpoints/b: 502 Bad Gateway: body: "<html>bad gateway</html>"`},
		{&k8sapi.StatusError{Code: 429, Reason: "TooManyRequests", Message: "slow down", RetryAfter: 3 * time.Second},
			"k8sapi: 429 TooManyRequests: slow down (retry after 3s)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q\nwant      %q", got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	err := fmt.Errorf("renew: %w", &k8sapi.StatusError{Code: 429, RetryAfter: 2 * time.Second})
	if d, ok := k8sapi.RetryAfter(err); !ok || d != 2*time.Second {
		t.Errorf("RetryAfter = %v, %v; want 2s, true", d, ok)
	}
	err = &k8sapi.StatusError{Code: 500, Details: &k8sapi.StatusDetails{RetryAfterSeconds: 5}}
	if d, ok := k8sapi.RetryAfter(err); !ok || d != 5*time.Second {
		t.Errorf("RetryAfter(details) = %v, %v; want 5s, true", d, ok)
	}
	if _, ok := k8sapi.RetryAfter(&k8sapi.StatusError{Code: 500}); ok {
		t.Error("RetryAfter without advice is ok")
	}
}

func stringsReader(b []byte) *strings.Reader { return strings.NewReader(string(b)) }
