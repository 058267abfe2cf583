package k8sapi

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// maxWarnings bounds the set of warning texts already surfaced; past it the
// oldest is forgotten (and would be surfaced again).
const maxWarnings = 256

// maxWarningLen bounds one warning text as surfaced and remembered.
const maxWarningLen = 1024

// warnings surfaces each distinct Warning header text once: to the
// handler, or as one log line.
type warnings struct {
	handler func(text string)
	logger  func() *slog.Logger

	mu    sync.Mutex          // guards seen and order
	seen  map[string]struct{} // texts surfaced, at most maxWarnings
	order []string            // seen's keys, oldest first
}

func newWarnings(handler func(string), logger func() *slog.Logger) *warnings {
	return &warnings{handler: handler, logger: logger, seen: make(map[string]struct{})}
}

// observe surfaces the new warnings in h, with the token redacted in
// case the server echoes it.
func (w *warnings) observe(h http.Header, tokens *tokenSource) {
	values := h.Values("Warning")
	if len(values) == 0 {
		return
	}
	secrets := tokens.secrets()
	for _, text := range parseWarnings(values) {
		text = shortWarning(text, secrets)
		if w.firstTime(text) {
			if w.handler != nil {
				w.handler(text)
			} else {
				w.logger().Warn("k8sapi: API server warning", "warning", text)
			}
		}
	}
}

// shortWarning returns text with the secrets redacted, then cut to
// maxWarningLen bytes of valid UTF-8. Redacting first means that a cut
// cannot leave part of a secret in what is kept; only the part of text
// that can be kept, plus room for a secret that starts in it, is read.
func shortWarning(text string, secrets []string) string {
	window := maxWarningLen
	for _, tok := range secrets {
		window = max(window, maxWarningLen+maxEscapedLen*len(tok))
	}
	cut := false
	if len(text) > window {
		text, cut = text[:window], true
	}
	text = redactTokens(text, secrets, cut)
	if len(text) > maxWarningLen {
		text = strings.ToValidUTF8(text[:maxWarningLen], "")
	}
	return text
}

// firstTime records text and reports whether it was new.
func (w *warnings) firstTime(text string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[text]; ok {
		return false
	}
	if len(w.order) >= maxWarnings {
		delete(w.seen, w.order[0])
		w.order = append(w.order[:0], w.order[1:]...)
	}
	w.seen[text] = struct{}{}
	w.order = append(w.order, text)
	return true
}

// parseWarnings returns the texts of the 299 ("miscellaneous persistent
// warning") warnings in Warning header values, as Kubernetes sends them:
//
//	Warning: 299 - "text"
//
// following RFC 7234 section 5.5: warn-code SP warn-agent SP quoted
// warn-text [SP quoted warn-date], several per value separated by commas.
// A malformed value is skipped from the point where it goes wrong.
func parseWarnings(values []string) []string {
	var texts []string
	for _, v := range values {
		for {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			code, text, rest, ok := parseWarning(v)
			if !ok {
				break
			}
			if code == "299" && text != "" {
				texts = append(texts, text)
			}
			v = rest
		}
	}
	return texts
}

// parseWarning reads one warning from the start of v.
func parseWarning(v string) (code, text, rest string, ok bool) {
	if len(v) < 4 || v[3] != ' ' || !isDigits(v[:3]) {
		return "", "", "", false
	}
	code, v = v[:3], v[4:]
	sp := strings.IndexByte(v, ' ')
	if sp <= 0 {
		return "", "", "", false
	}
	v = v[sp+1:] // skip the agent
	text, v, ok = parseQuoted(v)
	if !ok {
		return "", "", "", false
	}
	if strings.HasPrefix(v, " \"") { // a warn-date
		if _, v, ok = parseQuoted(v[1:]); !ok {
			return "", "", "", false
		}
	}
	if v != "" && v[0] != ',' && v[0] != ' ' {
		return "", "", "", false
	}
	return code, text, v, true
}

// parseQuoted reads an RFC 7230 quoted-string from the start of v.
func parseQuoted(v string) (s, rest string, ok bool) {
	if v == "" || v[0] != '"' {
		return "", "", false
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			return b.String(), v[i+1:], true
		case '\\':
			if i+1 == len(v) {
				return "", "", false
			}
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
