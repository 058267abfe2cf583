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
//
// Every spelling of the secrets is redacted from the text kept: from the
// decoded strings of a Status (which JSON escapes may have spelled
// differently in body) and from the snippet before it is cut.
func decodeStatus(code int, retryAfter string, body []byte, secrets []string) *StatusError {
	se := &StatusError{Code: code}
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		se.Reason = redactTokens(st.Reason, secrets, false)
		se.Message = redactTokens(st.Message, secrets, false)
		se.Details = redactDetails(st.Details, secrets)
		if se.Code == 0 {
			se.Code = st.Code
		}
	} else {
		se.Body = snippet(body, secrets)
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

// redactDetails returns a copy of d with the secrets redacted from its
// strings.
func redactDetails(d *StatusDetails, secrets []string) *StatusDetails {
	if d == nil {
		return nil
	}
	r := *d
	r.Name = redactTokens(d.Name, secrets, false)
	r.Group = redactTokens(d.Group, secrets, false)
	r.Kind = redactTokens(d.Kind, secrets, false)
	r.UID = redactTokens(d.UID, secrets, false)
	if d.Causes != nil {
		r.Causes = make([]StatusCause, len(d.Causes))
		for i, c := range d.Causes {
			r.Causes[i] = StatusCause{
				Type:    redactTokens(c.Type, secrets, false),
				Message: redactTokens(c.Message, secrets, false),
				Field:   redactTokens(c.Field, secrets, false),
			}
		}
	}
	return &r
}

// snippet returns at most maxSnippet bytes of b as valid UTF-8 without
// the secrets (in any spelling), control characters, white space runs
// folded to one space and "..." appended when cut. The secrets are
// redacted before anything is cut, so no part of one passes at a cut.
func snippet(b []byte, secrets []string) string {
	// Look at enough of b to hold every secret that starts in the part
	// that can be shown, even spelled with escapes.
	window := 4 * maxSnippet
	for _, tok := range secrets {
		window = max(window, 4*maxSnippet+maxEscapedLen*len(tok))
	}
	cut := false
	if len(b) > window {
		b, cut = b[:window], true
	}
	s := redactTokens(string(b), secrets, cut)
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	// Folding white space may have joined a secret that had spaces in it.
	s = redactTokens(s, secrets, false)
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
