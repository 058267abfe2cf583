package k8sapi

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The raw values an Object holds are valid JSON: they came from
// encoding/json, which checked them, or were written by this package. So
// finding one member of such an object needs no decoding: a scan over its
// bytes that skips strings and nested values finds each key and value,
// allocating nothing. A watch event of a Lease is read this way four times
// (its resourceVersion, the record's annotations), where decoding the
// metadata, managed fields and all, cost each watching follower most of
// the event.

// member is the raw value of key in the JSON object raw, as json.Unmarshal
// into a map would find it: keys compare exactly once unescaped, and the
// last of duplicate keys wins. False when key is absent or raw is not an
// object.
func member(raw []byte, key string) (json.RawMessage, bool) {
	var found json.RawMessage
	ok := false
	eachMember(raw, func(k []byte, escaped bool, v []byte) {
		if keyIs(k, escaped, key) {
			found, ok = v, true
		}
	})
	return found, ok
}

// eachMember calls f with each member of the JSON object raw, in order:
// its key as written between the quotes, whether the key has an escape,
// and its value. raw must be valid JSON; on anything else it stops early,
// never reading past raw.
func eachMember(raw []byte, f func(key []byte, escaped bool, value []byte)) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] != '"' {
			return // the end of the object
		}
		end, escaped := stringEnd(raw, i)
		if end < 0 {
			return
		}
		key := raw[i+1 : end-1]
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return
		}
		i = skipSpace(raw, i+1)
		vend := valueEnd(raw, i)
		if vend < 0 {
			return
		}
		f(key, escaped, raw[i:vend:vend]) // an append to it cannot write into raw
		i = skipSpace(raw, vend)
		if i >= len(raw) || raw[i] != ',' {
			return
		}
		i++
	}
}

// keyIs reports whether the key k, as written, is name once unescaped (as
// encoding/json reads it, an invalid UTF-8 byte as U+FFFD).
func keyIs(k []byte, escaped bool, name string) bool {
	if !escaped && utf8.Valid(k) {
		return string(k) == name
	}
	return unquoteKey(k, escaped) == name
}

// unquoteKey is the key k, as written between its quotes, unescaped as
// encoding/json reads it (an invalid UTF-8 byte as U+FFFD).
func unquoteKey(k []byte, escaped bool) string {
	if !escaped && utf8.Valid(k) {
		return string(k)
	}
	q := make([]byte, 0, len(k)+2)
	s, _ := jsonString(append(append(append(q, '"'), k...), '"')) // a key of valid JSON always decodes
	return s
}

// jsonString is the string the JSON value v holds; false when v is not a
// string.
func jsonString(v []byte) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v[1:len(v)-1], '\\') < 0 && utf8.Valid(v) {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// skipSpace is the index of the first byte at or after i that is not JSON
// white space.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd is the index just past the JSON string that starts at raw[i]
// (a quote), and whether it has an escape; -1 when it does not end.
func stringEnd(raw []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(raw); {
		q := bytes.IndexByte(raw[j:], '"')
		if q < 0 {
			return -1, escaped
		}
		b := bytes.IndexByte(raw[j:j+q], '\\')
		if b < 0 {
			return j + q + 1, escaped
		}
		escaped = true
		j += b + 2 // the backslash and the byte it escapes
	}
	return -1, escaped
}

// valueEnd is the index just past the JSON value that starts at raw[i]; -1
// when it does not end.
func valueEnd(raw []byte, i int) int {
	if i >= len(raw) {
		return -1
	}
	switch raw[i] {
	case '"':
		end, _ := stringEnd(raw, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				end, _ := stringEnd(raw, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	for j := i; j < len(raw); j++ {
		switch raw[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(raw)
}
