package fencing

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidToken is wrapped by the errors for a token that is not a
// canonical positive integer: a resourceVersion from a server that does
// not number them as integers (Kubernetes before 1.35 is not required to;
// kube-apiserver on etcd does), a zero token, or a token annotation that
// was set by hand.
var ErrInvalidToken = errors.New("fencing: invalid token")

// Token is a fencing token: a positive integer, higher for every later
// leadership. Its text form is the decimal resourceVersion it came from.
type Token uint64

// ParseToken reads a token from a resourceVersion or from its own text
// form: a canonical positive decimal integer (no sign, no leading zero)
// that fits 64 bits.
func ParseToken(s string) (Token, error) {
	if s == "" || s[0] == '0' || len(s) > 20 {
		return 0, invalidf("%q is not a canonical positive integer", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, invalidf("%q is not a canonical positive integer", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, invalidf("%q does not fit 64 bits", s)
	}
	return Token(n), nil
}

// String is the token's decimal form.
func (t Token) String() string { return strconv.FormatUint(uint64(t), 10) }

// MarshalText encodes the token in its decimal form (a JSON string, as
// resourceVersions are).
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a token with ParseToken.
func (t *Token) UnmarshalText(b []byte) error {
	v, err := ParseToken(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}
