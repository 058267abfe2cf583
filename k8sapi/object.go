package k8sapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	Name, Namespace, ResourceVersion, UID string
}

// meta reads the strings of metadata this package reads, with its keys
// exact, as the API server reads them (encoding/json alone would take
// "ResourceVersion" for resourceVersion); one that is absent or not a
// string reads as "". It scans the metadata once and decodes none of the
// rest (the managed fields).
func (o *Object) meta() objectMeta {
	var m objectMeta
	if o == nil {
		return m
	}
	dsts := [...]*string{&m.Name, &m.Namespace, &m.ResourceVersion, &m.UID}
	eachMember(o.fields["metadata"], func(k []byte, escaped bool, v []byte) {
		for i, key := range metaKeys {
			if keyIs(k, escaped, key) {
				*dsts[i], _ = jsonString(v)
			}
		}
	})
	return m
}

// metaKeys are the JSON keys of objectMeta.
var metaKeys = [...]string{"name", "namespace", "resourceVersion", "uid"}

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
		raw, ok = member(raw, key)
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
	if !json.Valid(b) {
		var m map[string]json.RawMessage
		err := json.Unmarshal(b, &m) // for its error, which says where
		return fmt.Errorf("k8sapi: decode object: %w", err)
	}
	return o.decodeValid(bytes.Clone(b))
}

// decodeValid replaces o's fields with those of b, valid JSON that o may
// keep: its values are slices of b, which nothing changes (a field set is
// replaced, not written over).
func (o *Object) decodeValid(b []byte) error {
	if i := skipSpace(b, 0); i >= len(b) || b[i] != '{' {
		// Not the value itself, which the caller quotes redacted.
		return fmt.Errorf("k8sapi: decode object: %s is not an object", jsonKind(b[i:]))
	}
	m := make(map[string]json.RawMessage, 8)
	eachMember(b, func(k []byte, escaped bool, v []byte) {
		m[unquoteKey(k, escaped)] = v
	})
	o.fields = m
	return nil
}

// jsonKind names the kind of the JSON value v.
func jsonKind(v []byte) string {
	switch {
	case len(v) == 0:
		return "nothing"
	case v[0] == 'n':
		return "null"
	case v[0] == '[':
		return "an array"
	case v[0] == '"':
		return "a string"
	case v[0] == 't' || v[0] == 'f':
		return "a boolean"
	}
	return "a number"
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
