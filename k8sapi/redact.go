package k8sapi

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Redaction of the bearer token from text that came from the network.
//
// A server, or a proxy in front of it, may echo the Authorization header
// back in a body, a header or a malformed response line. Text from the
// network reaches the caller in three forms: decoded JSON strings (a
// Status message), raw bytes (a snippet of a body that is not a Status)
// and Go's quoting of either. In raw JSON the token may be spelled with
// escapes (\u0073, \/, \u002b) that decode to it, so redaction matches
// every spelling: each character of the token as itself or as a JSON
// escape. It runs on the text as shown, after decoding and before any cut;
// where the text is cut anyway, the beginning of a token at the cut is
// replaced too.
//
// A token shorter than minBareToken bytes (a test's "t", a weak static
// token) is replaced only where it stands as a word of its own: neither
// preceded nor followed by a character a bearer token can hold (RFC 6750's
// b64token alphabet). A short string turns up by chance inside the words of
// any message ("t" in "Conflict", "test-lock", "the"), and replacing each
// would shred the Status a caller needs to read; an echoed token still
// stands apart from its neighbours ("Bearer t", "token=t", a quoted "t").
// A longer token, such as a service-account JWT of hundreds of bytes, does
// not occur by chance, and is replaced wherever it appears, inside a word
// too.

// redacted replaces a token in text.
const redacted = "[redacted]"

// minPartial is how many bytes of a token, at the end of a text cut short,
// are enough to be replaced: fewer do not narrow down a token.
const minPartial = 4

// minBareToken is the length from which a token is replaced wherever it
// appears; a shorter one only where it stands as a word of its own.
const minBareToken = 8

// maxEscapedLen is how many bytes of text one byte of a token may take
// when spelled with escapes: \u00XX for an ASCII byte (a rune of two or
// more bytes takes fewer per byte).
const maxEscapedLen = 6

// redactTokens returns s with every spelling of each token replaced. When
// cut, s was cut short of the text it came from, and a beginning of a
// token at its end (minPartial bytes of it at least) is replaced too.
func redactTokens(s string, tokens []string, cut bool) string {
	for _, tok := range tokens {
		s = redactToken(s, tok, cut)
	}
	return s
}

// redactToken is redactTokens for one token. Every position where a
// spelling of tok starts is tried, and the union of the matches replaced,
// so that matches that overlap (a token whose end is also its beginning)
// leave nothing of it behind.
func redactToken(s, tok string, cut bool) string {
	if tok == "" || (strings.IndexByte(s, tok[0]) < 0 && strings.IndexByte(s, '\\') < 0) {
		return s // no spelling of tok can start anywhere
	}
	short := len(tok) < minBareToken
	var b strings.Builder
	done := 0          // s[:done] is written to b
	from, to := -1, -1 // the run of matches being gathered, s[from:to]
	for i := 0; i < len(s); i++ {
		if s[i] != tok[0] && s[i] != '\\' {
			continue
		}
		end, m := matchToken(s, i, tok)
		if m == matchNone || (m == matchPartial && !cut) {
			continue
		}
		if short && ((i > 0 && isTokenChar(s[i-1])) || (end < len(s) && isTokenChar(s[end]))) {
			continue // inside a word: not the token, by all odds
		}
		if i > to { // a new run: write the one before
			if from >= 0 {
				b.WriteString(s[done:from])
				b.WriteString(redacted)
				done = to
			}
			from = i
		}
		to = max(to, end)
	}
	if from < 0 {
		return s
	}
	b.WriteString(s[done:from])
	b.WriteString(redacted)
	b.WriteString(s[to:])
	return b.String()
}

// isTokenChar reports whether c can be part of a bearer token: RFC 6750's
// b64token alphabet, without the '=' that may only pad its end.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

type match int

const (
	matchNone    match = iota
	matchFull          // the token, ending at end
	matchPartial       // at least minPartial bytes of it, then the end of s
)

// matchToken reports whether a spelling of tok starts at s[i], and where
// it ends.
func matchToken(s string, i int, tok string) (end int, m match) {
	j := i
	for k := 0; k < len(tok); {
		if j == len(s) {
			return partialAt(s, k)
		}
		r, w := utf8.DecodeRuneInString(tok[k:])
		lit := tok[k : k+w]
		if s[j] == '\\' && !(r == utf8.RuneError && w == 1) {
			switch next, res := matchEscaped(s, j, r); res {
			case escMatch:
				j, k = next, k+w
				continue
			case escCut:
				return partialAt(s, k)
			}
		}
		switch {
		case strings.HasPrefix(s[j:], lit):
			j += len(lit)
		case strings.HasPrefix(lit, s[j:]): // s ends inside the character
			return partialAt(s, k)
		default:
			return 0, matchNone
		}
		k += w
	}
	return j, matchFull
}

// partialAt is the match of a token whose first k bytes were seen before
// s ended.
func partialAt(s string, k int) (int, match) {
	if k < minPartial {
		return 0, matchNone
	}
	return len(s), matchPartial
}

type escResult int

const (
	escNone  escResult = iota
	escMatch           // the escape spells the rune
	escCut             // s ends inside an escape that could still spell it
)

// matchEscaped reports whether the JSON escape at s[j] (a backslash)
// spells r, and where it ends.
func matchEscaped(s string, j int, r rune) (next int, res escResult) {
	if r > 0xFFFF { // a surrogate pair
		r1, r2 := utf16.EncodeRune(r)
		next, res := matchU(s, j, r1)
		if res != escMatch {
			return next, res
		}
		return matchU(s, next, r2)
	}
	if j+1 == len(s) {
		return len(s), escCut
	}
	var short rune = -1
	switch s[j+1] {
	case 'u':
		return matchU(s, j, r)
	case '"', '\\', '/':
		short = rune(s[j+1])
	case 'b':
		short = '\b'
	case 'f':
		short = '\f'
	case 'n':
		short = '\n'
	case 'r':
		short = '\r'
	case 't':
		short = '\t'
	}
	if short != r {
		return j + 2, escNone
	}
	return j + 2, escMatch
}

// matchU reports whether the \uXXXX escape at s[j] spells r (in upper or
// lower case hex).
func matchU(s string, j int, r rune) (next int, res escResult) {
	switch {
	case j == len(s) || (j+1 == len(s) && s[j] == '\\'):
		return len(s), escCut
	case s[j] != '\\' || s[j+1] != 'u':
		return j, escNone
	}
	const hex = "0123456789abcdef"
	for n := 0; n < 4; n++ {
		p := j + 2 + n
		if p == len(s) {
			return len(s), escCut
		}
		c := s[p]
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		if c != hex[(r>>(4*(3-n)))&0xF] {
			return p, escNone
		}
	}
	return j + 6, escMatch
}

// redactedError stands for an error whose text showed a token: it shows
// the text redacted, and keeps the original only for errors.Is and for
// Timeout, so that a caller cannot print it by mistake.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// GoString keeps %#v from printing the original.
func (e *redactedError) GoString() string { return "&k8sapi.redactedError{" + e.msg + "}" }

// Is reports whether the original error is target: context.Canceled,
// context.DeadlineExceeded, io.ErrUnexpectedEOF and such sentinels still
// match.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// Timeout reports whether the original error was a timeout, as net.Error.
func (e *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

// redactError returns err, or, when its text shows one of the tokens, a
// *redactedError with that text redacted.
func redactError(err error, tokens []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redactTokens(msg, tokens, false)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}
