package k8sapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StatusError is a non-2xx answer, decoded from a Kubernetes Status body
// when there is one.
//
// The Is* helpers below also work on values built by hand, such as
// &StatusError{Code: 404}: they match on Reason, and fall back to Code when
// Reason is empty or not one Kubernetes defines.
type StatusError struct {
	Code       int
	Reason     string // "NotFound", "Conflict", "AlreadyExists", ...
	Message    string
	Details    *StatusDetails
	RetryAfter time.Duration
	Method     string
	Path       string
	Body       string // short snippet when the body was not a Status
}

// StatusDetails is the details field of a Status.
type StatusDetails struct {
	Name              string        `json:"name,omitempty"`
	Group             string        `json:"group,omitempty"`
	Kind              string        `json:"kind,omitempty"`
	UID               string        `json:"uid,omitempty"`
	Causes            []StatusCause `json:"causes,omitempty"`
	RetryAfterSeconds int           `json:"retryAfterSeconds,omitempty"`
}

// StatusCause is one cause in StatusDetails.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

// Error reads like
// "k8sapi: PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/x: 409 Conflict: <message>".
func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString("k8sapi: ")
	if e.Method != "" || e.Path != "" {
		if e.Method != "" {
			b.WriteString(e.Method)
			b.WriteByte(' ')
		}
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(strconv.Itoa(e.Code))
	reason := e.Reason
	if reason == "" {
		reason = http.StatusText(e.Code)
	}
	if reason != "" {
		b.WriteByte(' ')
		b.WriteString(reason)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Body != "" {
		b.WriteString(": body: ")
		b.WriteString(strconv.Quote(e.Body))
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after ")
		b.WriteString(e.RetryAfter.String())
		b.WriteByte(')')
	}
	return b.String()
}

// The Status reasons Kubernetes defines (metav1.StatusReason). A reason
// outside this set is treated like no reason: the code decides.
const (
	reasonNotFound        = "NotFound"
	reasonConflict        = "Conflict"
	reasonAlreadyExists   = "AlreadyExists"
	reasonForbidden       = "Forbidden"
	reasonUnauthorized    = "Unauthorized"
	reasonGone            = "Gone"
	reasonExpired         = "Expired"
	reasonTooManyRequests = "TooManyRequests"
	reasonInvalid         = "Invalid"
)

var knownReasons = map[string]bool{
	"Unknown": true, reasonUnauthorized: true, reasonForbidden: true,
	reasonNotFound: true, reasonAlreadyExists: true, reasonConflict: true,
	reasonGone: true, reasonInvalid: true, "ServerTimeout": true,
	"StoreReadError": true, "Timeout": true, reasonTooManyRequests: true,
	"BadRequest": true, "MethodNotAllowed": true, "NotAcceptable": true,
	"RequestEntityTooLarge": true, "UnsupportedMediaType": true,
	"InternalError": true, reasonExpired: true, "ServiceUnavailable": true,
}

// asStatus finds a *StatusError in err's chain.
func asStatus(err error) (*StatusError, bool) {
	var se *StatusError
	if err == nil || !errors.As(err, &se) || se == nil {
		return nil, false
	}
	return se, true
}

// matches reports whether err carries one of reasons, or, when its reason
// is empty or unknown, the code.
func matches(err error, code int, reasons ...string) bool {
	se, ok := asStatus(err)
	if !ok {
		return false
	}
	for _, r := range reasons {
		if se.Reason == r {
			return true
		}
	}
	return !knownReasons[se.Reason] && se.Code == code
}

// IsNotFound reports whether err is a 404 NotFound.
func IsNotFound(err error) bool { return matches(err, http.StatusNotFound, reasonNotFound) }

// IsConflict reports whether err is a 409 Conflict: an update carried a
// stale resourceVersion. A 409 without a reason on a POST is AlreadyExists
// instead.
func IsConflict(err error) bool {
	se, ok := asStatus(err)
	if !ok {
		return false
	}
	if se.Reason == reasonConflict {
		return true
	}
	return !knownReasons[se.Reason] && se.Code == http.StatusConflict && se.Method != http.MethodPost
}

// IsAlreadyExists reports whether err is a 409 AlreadyExists: a create
// found the object there. Without a reason, a 409 answering a POST counts.
func IsAlreadyExists(err error) bool {
	se, ok := asStatus(err)
	if !ok {
		return false
	}
	if se.Reason == reasonAlreadyExists {
		return true
	}
	return !knownReasons[se.Reason] && se.Code == http.StatusConflict && se.Method == http.MethodPost
}

// IsForbidden reports whether err is a 403 Forbidden.
func IsForbidden(err error) bool { return matches(err, http.StatusForbidden, reasonForbidden) }

// IsUnauthorized reports whether err is a 401 Unauthorized.
func IsUnauthorized(err error) bool {
	return matches(err, http.StatusUnauthorized, reasonUnauthorized)
}

// IsGone reports whether err is a 410: reason Gone or Expired, as a watch
// from a too old resourceVersion gets.
func IsGone(err error) bool { return matches(err, http.StatusGone, reasonGone, reasonExpired) }

// IsTooManyRequests reports whether err is a 429 TooManyRequests.
func IsTooManyRequests(err error) bool {
	return matches(err, http.StatusTooManyRequests, reasonTooManyRequests)
}

// IsInvalid reports whether err is a 422 Invalid: the server refused what
// was sent (a field that does not validate, or a JSON Patch whose "test"
// failed or whose path is not there).
func IsInvalid(err error) bool {
	return matches(err, http.StatusUnprocessableEntity, reasonInvalid)
}

// RetryAfter returns the server's Retry-After advice carried by err: the
// Retry-After header or details.retryAfterSeconds. False when there is none.
func RetryAfter(err error) (time.Duration, bool) {
	se, ok := asStatus(err)
	if !ok {
		return 0, false
	}
	if se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	if se.Details != nil && se.Details.RetryAfterSeconds > 0 {
		return retryAfterSeconds(se.Details.RetryAfterSeconds), true
	}
	return 0, false
}
