package k8sapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxSnippet bounds the part of a non-Status body kept in an error.
const maxSnippet = 200

// status is the wire form of a Kubernetes Status (metav1.Status).
type status struct {
	Kind    string         `json:"kind"`
	Status  string         `json:"status"`
	Message string         `json:"message"`
	Reason  string         `json:"reason"`
	Details *StatusDetails `json:"details"`
	Code    int            `json:"code"`
}

// decodeStatus turns a non-2xx answer into a *StatusError: from the Status
// in body when there is one, or else from the code with a short, sanitized
// snippet of whatever the body was (an HTML page from a proxy, nothing, a
// truncated document). code 0 (a watch ERROR event) takes the Status's
// code. retryAfter is the Retry-After header, in seconds.
func decodeStatus(code int, retryAfter string, body []byte) *StatusError {
	se := &StatusError{Code: code}
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		se.Reason = st.Reason
		se.Message = st.Message
		se.Details = st.Details
		if se.Code == 0 {
			se.Code = st.Code
		}
	} else {
		se.Body = snippet(body)
	}
	if se.Code == 0 {
		se.Code = http.StatusInternalServerError
	}
	if n, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && n > 0 {
		se.RetryAfter = retryAfterSeconds(n)
	} else if se.Details != nil && se.Details.RetryAfterSeconds > 0 {
		se.RetryAfter = retryAfterSeconds(se.Details.RetryAfterSeconds)
	}
	return se
}

// maxRetryAfter bounds the server's advice, so that a huge number cannot
// overflow a Duration.
const maxRetryAfter = 24 * time.Hour

func retryAfterSeconds(n int) time.Duration {
	if n >= int(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}

// snippet returns at most maxSnippet bytes of b as valid UTF-8 without
// control characters, white space runs folded to one space and "..."
// appended when cut.
func snippet(b []byte) string {
	cut := false
	if len(b) > 4*maxSnippet {
		b, cut = b[:4*maxSnippet], true
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxSnippet {
		i := maxSnippet
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = s[:i], true
	}
	if cut {
		s += "..."
	}
	return s
}
