package k8sapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Object is one Kubernetes object kept as its JSON fields, so that every
// field this package does not change goes back to the server as it came:
// labels, owner references, other annotations, managed fields, an Endpoints
// object's subsets, a ConfigMap's data and fields this package has never
// heard of. Only the objects on the path of a SetField or SetAnnotation are
// decoded and encoded again, and even there the sibling values are kept as
// raw bytes, so numbers and strings are never reformatted.
//
// The zero Object is an empty object. An Object is not safe for concurrent
// use; DeepCopy gives an independent one.
type Object struct {
	fields map[string]json.RawMessage
}

// NewObject returns an object with apiVersion, kind, metadata.namespace
// and metadata.name set.
func NewObject(r Resource, namespace, name string) *Object {
	o := &Object{fields: make(map[string]json.RawMessage, 4)}
	o.fields["apiVersion"] = mustMarshal(r.APIVersion())
	o.fields["kind"] = mustMarshal(r.Kind)
	meta := map[string]json.RawMessage{"name": mustMarshal(name)}
	if namespace != "" {
		meta["namespace"] = mustMarshal(namespace)
	}
	o.fields["metadata"] = encodeFields(meta)
	return o
}

// Name is metadata.name ("" when absent).
func (o *Object) Name() string { return o.meta().Name }

// Namespace is metadata.namespace ("" when absent).
func (o *Object) Namespace() string { return o.meta().Namespace }

// ResourceVersion is metadata.resourceVersion ("" when absent).
func (o *Object) ResourceVersion() string { return o.meta().ResourceVersion }

// UID is metadata.uid ("" when absent).
func (o *Object) UID() string { return o.meta().UID }

// objectMeta is the part of metadata this package reads.
type objectMeta struct {
	Name            string `json:"name"`
	Namespace       string `json:"namespace"`
	ResourceVersion string `json:"resourceVersion"`
	UID             string `json:"uid"`
}

// meta decodes the strings of metadata this package reads; one that is
// absent or not a string reads as "".
func (o *Object) meta() objectMeta {
	var m objectMeta
	if o == nil {
		return m
	}
	raw := o.fields["metadata"]
	if !isJSONObject(raw) {
		return m
	}
	if !hasFoldedMetaKey(raw) {
		// A field of another type stays "", and the others decode.
		_ = json.Unmarshal(raw, &m)
		return m
	}
	// encoding/json matches struct fields ignoring case, so it would read
	// "ResourceVersion" as resourceVersion; the API server reads keys as
	// they are, and so does Field. Read the exact keys.
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return m
	}
	dsts := [len(metaKeys)]*string{&m.Name, &m.Namespace, &m.ResourceVersion, &m.UID}
	for i, key := range metaKeys {
		if v, ok := fields[key]; ok {
			_ = json.Unmarshal(v, dsts[i])
		}
	}
	return m
}

// metaKeys are the JSON keys of objectMeta.
var metaKeys = [...]string{"name", "namespace", "resourceVersion", "uid"}

// stringRunes counts the runes of the contents of a JSON string, an
// escape counting as one.
func stringRunes(b []byte) int {
	n := 0
	for i := 0; i < len(b); n++ {
		switch {
		case b[i] == '\\' && i+1 < len(b) && b[i+1] == 'u':
			i += 6
		case b[i] == '\\':
			i += 2
		default:
			_, w := utf8.DecodeRune(b[i:])
			i += w
		}
	}
	return n
}

// hasFoldedMetaKey reports whether the JSON object raw has a string (a key
// or, to keep this scan simple, a value) that equals one of metaKeys when
// case is ignored but not exactly. Such documents come from no API server;
// the scan keeps the common case to one struct decode.
func hasFoldedMetaKey(raw []byte) bool {
	const longest = len("resourceVersion")
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		j, escaped := i+1, false
		for j < len(raw) && raw[j] != '"' {
			if raw[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		if j >= len(raw) {
			return false // not valid JSON; the decode will fail anyway
		}
		key := raw[i+1 : j]
		// Each rune that folds to an ASCII letter is one rune, so only a
		// string of 3 to 15 runes can match.
		if n := stringRunes(key); n >= len("uid") && n <= longest {
			if escaped {
				var s string
				if json.Unmarshal(raw[i:j+1], &s) != nil {
					return true
				}
				key = []byte(s)
			}
			for _, name := range metaKeys {
				if bytes.EqualFold(key, []byte(name)) && string(key) != name {
					return true
				}
			}
		}
		i = j
	}
	return false
}

// Annotations returns a copy of metadata.annotations (nil when absent).
func (o *Object) Annotations() map[string]string {
	var m map[string]string
	if ok, err := o.DecodeField(&m, "metadata", "annotations"); !ok || err != nil {
		return nil
	}
	return m
}

// SetAnnotation sets one annotation, keeping all others. It creates
// metadata and metadata.annotations when they are absent or null.
func (o *Object) SetAnnotation(key, value string) error {
	return o.SetField(value, "metadata", "annotations", key)
}

// Field returns the raw JSON at path, such as Field("spec", "holderIdentity").
// False when a step of the path is absent or not an object. The bytes
// belong to the Object: copy them before changing them.
func (o *Object) Field(path ...string) (json.RawMessage, bool) {
	if o == nil || len(path) == 0 {
		return nil, false
	}
	raw, ok := o.fields[path[0]]
	for _, key := range path[1:] {
		if !ok {
			return nil, false
		}
		var m map[string]json.RawMessage
		if !isJSONObject(raw) || json.Unmarshal(raw, &m) != nil {
			return nil, false
		}
		raw, ok = m[key]
	}
	return raw, ok
}

// DecodeField decodes the JSON at path into v; false when absent or null.
func (o *Object) DecodeField(v any, path ...string) (bool, error) {
	raw, ok := o.Field(path...)
	if !ok || isJSONNull(raw) {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("k8sapi: decode field %v: %w", path, err)
	}
	return true, nil
}

// SetField marshals v and stores it at path, creating intermediate objects
// and keeping every sibling field. An intermediate step that holds
// something other than an object or null is an error, and leaves o
// unchanged.
func (o *Object) SetField(v any, path ...string) error {
	if len(path) == 0 {
		return errors.New("k8sapi: set field: empty path")
	}
	last := len(path) - 1
	if err := o.setFields(map[string]any{path[last]: v}, path[:last]); err != nil {
		return fmt.Errorf("k8sapi: set field %v: %w", path, err)
	}
	return nil
}

// SetFields marshals each value and stores it under its key in the object
// at path (the top level when path is empty), creating intermediate
// objects and keeping every sibling field: SetFields(m, "spec") is
// SetField(v, "spec", k) for each k, v in m, decoding and encoding spec
// once. Errors are as for SetField, and leave o unchanged.
func (o *Object) SetFields(values map[string]any, path ...string) error {
	if err := o.setFields(values, path); err != nil {
		return fmt.Errorf("k8sapi: set fields of %v: %w", path, err)
	}
	return nil
}

func (o *Object) setFields(values map[string]any, path []string) error {
	leaves := make(map[string]json.RawMessage, len(values))
	for k, v := range values {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		leaves[k] = raw
	}
	if o.fields == nil {
		o.fields = make(map[string]json.RawMessage, len(leaves))
	}
	if len(path) == 0 {
		for k, v := range leaves {
			o.fields[k] = v
		}
		return nil
	}
	child, err := setIn(o.fields[path[0]], path[0], path[1:], leaves)
	if err != nil {
		return err
	}
	o.fields[path[0]] = child
	return nil
}

// setIn returns obj (a JSON object, null or absent), the value of key
// name, with leaves stored in its object at path.
func setIn(obj json.RawMessage, name string, path []string, leaves map[string]json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	switch {
	case len(obj) == 0 || isJSONNull(obj):
		m = make(map[string]json.RawMessage, len(leaves))
	case isJSONObject(obj):
		if err := json.Unmarshal(obj, &m); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%q holds a non-object", name)
	}
	if len(path) == 0 {
		for k, v := range leaves {
			m[k] = v
		}
		return encodeFields(m), nil
	}
	child, err := setIn(m[path[0]], path[0], path[1:], leaves)
	if err != nil {
		return nil, err
	}
	m[path[0]] = child
	return encodeFields(m), nil
}

// DeepCopy returns an independent copy.
func (o *Object) DeepCopy() *Object {
	if o == nil {
		return nil
	}
	c := &Object{fields: make(map[string]json.RawMessage, len(o.fields))}
	for k, v := range o.fields {
		c.fields[k] = append(json.RawMessage(nil), v...)
	}
	return c
}

// MarshalJSON encodes the object with its keys sorted; every value is
// written back byte for byte as it was read or set.
func (o *Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	return encodeFields(o.fields), nil
}

// UnmarshalJSON replaces o's fields with those of the JSON object b.
func (o *Object) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("k8sapi: decode object: %w", err)
	}
	if m == nil {
		return errors.New("k8sapi: decode object: null is not an object")
	}
	// json.Unmarshal copies each RawMessage, so the values do not alias b.
	o.fields = m
	return nil
}

// encodeFields writes m as a JSON object with sorted keys. The values are
// valid JSON (they came from json.Unmarshal or json.Marshal) and are
// copied as they are.
func encodeFields(m map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(m))
	size := 2
	for k, v := range m {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Grow(size)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		if v := m[k]; len(v) == 0 {
			b.WriteString("null")
		} else {
			b.Write(v)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeJSONString writes s as a JSON string without HTML escaping, so a
// key like "a<b" is written as it came.
func writeJSONString(b *bytes.Buffer, s string) {
	if isPlainASCII(s) {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode adds a newline
}

// isPlainASCII reports whether s needs no escaping in a JSON string.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func mustMarshal(v string) json.RawMessage {
	var b bytes.Buffer
	writeJSONString(&b, v)
	return b.Bytes()
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
