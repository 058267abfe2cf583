package resourcelock

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kubelect/kubelect/k8sapi"
)

// The limits kube-apiserver applies to labels and annotations.
const (
	// maxLabelValue is the longest label value, and the longest name part
	// of a label or annotation key.
	maxLabelValue = 63
	// maxAnnotationsSize is the total length of an object's annotation
	// keys and values.
	maxAnnotationsSize = 256 << 10
)

// lockError is an unusable lock: it wraps ErrInvalidLock and every problem
// found, so that errors.Is finds k8sapi.ErrInvalidName among them too.
type lockError struct {
	lock     string  // what the lock is: "Lease lock team-a/x"
	problems []error // at least one
}

func (e *lockError) Error() string {
	msgs := make([]string, len(e.problems))
	for i, p := range e.problems {
		msgs[i] = p.Error()
	}
	return fmt.Sprintf("%v: %s: %s", ErrInvalidLock, e.lock, strings.Join(msgs, "; "))
}

func (e *lockError) Unwrap() []error { return append([]error{ErrInvalidLock}, e.problems...) }

// invalidLock returns the problems of the lock named lock as one error
// wrapping ErrInvalidLock; nil when there are none.
func invalidLock(lock string, problems []error) error {
	if len(problems) == 0 {
		return nil
	}
	return &lockError{lock: lock, problems: problems}
}

// errNoClient is the problem of a lock whose Client is nil.
var errNoClient = errors.New("no client (the Client field is nil)")

// errNilLock is the problem of a nil lock pointer.
var errNilLock = errors.New("nil lock")

// lockName names a lock of kind r on meta in errors.
func lockName(r k8sapi.Resource, meta ObjectMeta) string {
	return r.Kind + " lock " + describe(meta)
}

// validateLock returns the problems of a single-object lock of kind r.
func validateLock(r k8sapi.Resource, meta ObjectMeta, c *k8sapi.Client, lc ResourceLockConfig) error {
	var problems []error
	if c == nil {
		problems = append(problems, errNoClient)
	}
	if err := k8sapi.ValidateNamespace(meta.Namespace); err != nil {
		problems = append(problems, err)
	}
	if err := k8sapi.ValidateName(meta.Name); err != nil {
		problems = append(problems, err)
	}
	if lc.Identity == "" {
		problems = append(problems, errors.New("identity is empty"))
	}
	problems = append(problems, validateMetadata(lc)...)
	return invalidLock(lockName(r, meta), problems)
}

// ready returns the error of a call on a lock that has no client.
func ready(r k8sapi.Resource, meta ObjectMeta, c *k8sapi.Client) error {
	if c == nil {
		return invalidLock(lockName(r, meta), []error{errNoClient})
	}
	return nil
}

// validateMetadata checks lc's labels and annotations as kube-apiserver
// checks an object's, and that no annotation uses a key this package
// writes. The problems come in key order.
func validateMetadata(lc ResourceLockConfig) []error {
	var problems []error
	for _, k := range sortedKeys(lc.Labels) {
		if msg := qualifiedName(k); msg != "" {
			problems = append(problems, fmt.Errorf("label key %.80q: %s", k, msg))
		}
		if msg := labelValue(lc.Labels[k]); msg != "" {
			problems = append(problems, fmt.Errorf("label %.80q: value %.80q: %s", k, lc.Labels[k], msg))
		}
	}
	size := 0
	for _, k := range sortedKeys(lc.Annotations) {
		size += len(k) + len(lc.Annotations[k])
		switch k {
		case LeaderElectionRecordAnnotationKey, PreferredHolderAnnotationKey, SuccessorAnnotationKey:
			problems = append(problems, fmt.Errorf("annotation %q is written by the lock itself", k))
			continue
		}
		// kube-apiserver ignores case in annotation keys.
		if msg := qualifiedName(strings.ToLower(k)); msg != "" {
			problems = append(problems, fmt.Errorf("annotation key %.80q: %s", k, msg))
		}
	}
	if size > maxAnnotationsSize {
		problems = append(problems, fmt.Errorf("annotations hold %d bytes, more than the %d the API server allows", size, maxAnnotationsSize))
	}
	return problems
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// qualifiedName says what is wrong with s as a Kubernetes qualified name
// (a label key): an optional DNS subdomain prefix and '/', then a name of
// at most 63 letters, digits, '-', '_' and '.', starting and ending with a
// letter or a digit. "" when s is one.
func qualifiedName(s string) string {
	name := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		prefix := s[:i]
		name = s[i+1:]
		if strings.IndexByte(name, '/') >= 0 {
			return "must hold at most one '/', between a prefix and a name"
		}
		if msg := dnsSubdomain(prefix); msg != "" {
			return "prefix " + msg
		}
	}
	if name == "" {
		return "name must not be empty"
	}
	if len(name) > maxLabelValue {
		return fmt.Sprintf("name must be at most %d characters, not %d", maxLabelValue, len(name))
	}
	if !labelText(name) {
		return "name must consist of letters, digits, '-', '_' and '.', and start and end with a letter or a digit"
	}
	return ""
}

// labelValue says what is wrong with s as a label value; "" when nothing.
func labelValue(s string) string {
	switch {
	case len(s) > maxLabelValue:
		return fmt.Sprintf("must be at most %d characters, not %d", maxLabelValue, len(s))
	case s != "" && !labelText(s):
		return "must be empty or consist of letters, digits, '-', '_' and '.', and start and end with a letter or a digit"
	}
	return ""
}

// labelText reports whether s is made of letters, digits, '-', '_' and
// '.', and starts and ends with a letter or a digit.
func labelText(s string) bool {
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// dnsSubdomain says what is wrong with s as an RFC 1123 subdomain (at most
// 253 characters, dot-separated parts of lower-case letters, digits and
// '-' that start and end with a letter or a digit); "" when nothing.
func dnsSubdomain(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > k8sapi.MaxNameLength:
		return fmt.Sprintf("must be at most %d characters, not %d", k8sapi.MaxNameLength, len(s))
	}
	for _, part := range strings.Split(s, ".") {
		ok := part != "" && part[0] != '-' && part[len(part)-1] != '-'
		for i := 0; ok && i < len(part); i++ {
			c := part[i]
			ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
		}
		if !ok {
			return "must be a DNS subdomain: dot-separated parts of lower-case letters, digits and '-', each starting and ending with a letter or a digit"
		}
	}
	return ""
}

// setMetadata sets lc's labels, and lc's annotations together with extra
// (the record's), on obj, keeping every other label and annotation.
func setMetadata(obj *k8sapi.Object, lc ResourceLockConfig, extra map[string]string) error {
	if len(lc.Labels) > 0 {
		if err := obj.SetFields(anyValues(lc.Labels, nil), "metadata", "labels"); err != nil {
			return fmt.Errorf("resourcelock: set the labels: %w", err)
		}
	}
	if len(lc.Annotations)+len(extra) > 0 {
		if err := obj.SetFields(anyValues(lc.Annotations, extra), "metadata", "annotations"); err != nil {
			return fmt.Errorf("resourcelock: set the annotations: %w", err)
		}
	}
	return nil
}

// anyValues merges a and b (b winning) into a map for Object.SetFields.
func anyValues(a, b map[string]string) map[string]any {
	m := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// deleteField removes key from the object at path in obj, keeping its
// other fields; nothing happens when there is no such key.
func deleteField(obj *k8sapi.Object, key string, path ...string) error {
	if len(path) == 0 {
		return nil
	}
	if _, ok := obj.Field(append(slices.Clip(path), key)...); !ok {
		return nil // the common case on every renewal: nothing to decode
	}
	raw, _ := obj.Field(path...)
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	delete(m, key)
	if err := obj.SetField(m, path...); err != nil {
		return fmt.Errorf("resourcelock: remove %s from %v: %w", key, path, err)
	}
	return nil
}

// stringField is the string at path in obj; "" when it is absent or not a
// string.
func stringField(obj *k8sapi.Object, path ...string) string {
	var s string
	if ok, err := obj.DecodeField(&s, path...); !ok || err != nil {
		return ""
	}
	return s
}
