package k8sapi

import (
	"errors"
	"fmt"
)

// ErrInvalidName is wrapped by the errors of ValidateName and
// ValidateNamespace, and by a request for an object whose name or
// namespace cannot be a segment of its path.
var ErrInvalidName = errors.New("k8sapi: invalid name")

// The limits kube-apiserver applies to names.
const (
	// MaxNameLength is the longest name of a Lease, ConfigMap or Endpoints
	// object: the length of a DNS subdomain (RFC 1123).
	MaxNameLength = 253
	// MaxNamespaceLength is the longest namespace name: the length of a
	// DNS label (RFC 1123).
	MaxNamespaceLength = 63
)

// ValidateName checks name the way kube-apiserver checks the name of a
// Lease, ConfigMap or Endpoints object when it is created: a DNS subdomain
// as RFC 1123 defines it (at most 253 characters; dot-separated labels of
// lower-case letters, digits and '-', each starting and ending with a
// letter or a digit). The error wraps ErrInvalidName.
func ValidateName(name string) error {
	if err := dnsSubdomain(name); err != nil {
		return fmt.Errorf("%w: object name %q: %s", ErrInvalidName, cut(name), err)
	}
	return nil
}

// ValidateNamespace checks a namespace name as kube-apiserver does: a DNS
// label as RFC 1123 defines it (at most 63 lower-case letters, digits and
// '-', starting and ending with a letter or a digit). The error wraps
// ErrInvalidName.
func ValidateNamespace(namespace string) error {
	if err := dnsLabel(namespace, MaxNamespaceLength); err != nil {
		return fmt.Errorf("%w: namespace %q: %s", ErrInvalidName, cut(namespace), err)
	}
	return nil
}

// nameError says what is wrong with a name.
type nameError string

func (e nameError) Error() string { return string(e) }

// dnsSubdomain checks s as an RFC 1123 subdomain.
func dnsSubdomain(s string) error {
	switch {
	case s == "":
		return nameError("must not be empty")
	case len(s) > MaxNameLength:
		return nameError(fmt.Sprintf("must be at most %d characters, not %d", MaxNameLength, len(s)))
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		if i == start {
			return nameError("must not have an empty part between dots, or a dot at either end")
		}
		if err := dnsLabel(s[start:i], MaxNameLength); err != nil {
			return err
		}
		start = i + 1
	}
	return nil
}

// dnsLabel checks s as an RFC 1123 label of at most max characters.
func dnsLabel(s string, max int) error {
	switch {
	case s == "":
		return nameError("must not be empty")
	case len(s) > max:
		return nameError(fmt.Sprintf("must be at most %d characters, not %d", max, len(s)))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-':
			if i == 0 || i == len(s)-1 {
				return nameError("must start and end with a lower-case letter or a digit")
			}
		default:
			return nameError(fmt.Sprintf("must consist of lower-case letters, digits, '-' and '.' only, not %q", c))
		}
	}
	return nil
}

// cut shortens a name for an error message.
func cut(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
