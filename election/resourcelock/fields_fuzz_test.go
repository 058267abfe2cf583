package resourcelock

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// FuzzFields checks stringField and deleteField, which find keys by
// scanning the object's bytes: on any object and key, they do what
// decoding the path step by step with encoding/json does, so that no key
// is missed, escaped or not, duplicated or not.
func FuzzFields(f *testing.F) {
	for _, doc := range []string{
		`{"metadata":{"name":"lock","annotations":{"` + PreferredHolderAnnotationKey + `":"b"}},"spec":{"strategy":"x","preferredHolder":"c"}}`,
		`{"metadata":{"name":"lock","annotations":{"kubelect.io\/preferred-holder":"b"}},"spec":{"pre\u0066erredHolder":"c"}}`,
		`{"metadata":{"name":"lock","annotations":{"x":"\"` + PreferredHolderAnnotationKey + `\""}},"spec":{"x":"preferredHolder"}}`,
		`{"metadata":{"managedFields":[{"f:spec":{"f:preferredHolder":{}}}]},"spec":{"holderIdentity":"a"}}`,
		`{"metadata":{"annotations":{"` + PreferredHolderAnnotationKey + `":7}},"spec":{"preferredHolder":null,"strategy":{}}}`,
		`{"metadata":"x","spec":["preferredHolder"]}`,
		`{"metadata":{"annotations":{"preferredHolder":{"preferredHolder":"deep"}}}}`,
		"{\"metadata\":{\"annotations\":{\"\xff\":\"invalid UTF-8 decodes as U+FFFD\"}},\"spec\":{\"\xff\":\"x\"}}",
		`{"metadata":{"annotations":{"a":"1"},"annotations":{"b":"2"}},"spec":{"strategy":"x","strategy":"y"}}`,
		`{ "metadata" : { "annotations" : { "strategy" : "x" } } , "spec" : [ { "strategy" : "\"]}" } ] }`,
	} {
		f.Add([]byte(doc), "preferredHolder")
		f.Add([]byte(doc), PreferredHolderAnnotationKey)
		f.Add([]byte(doc), "strategy")
		f.Add([]byte(doc), "\uFFFD")
	}
	f.Fuzz(func(t *testing.T, doc []byte, key string) {
		var obj k8sapi.Object
		if obj.UnmarshalJSON(doc) != nil {
			return
		}
		for _, path := range [][]string{{"spec", key}, {"metadata", "annotations", key}, {"metadata", key}} {
			if got, want := stringField(&obj, path...), slowStringField(&obj, path...); got != want {
				t.Fatalf("stringField(%s, %q) = %q, decoding step by step gives %q", doc, path, got, want)
			}
		}
		for _, path := range [][]string{{"spec"}, {"metadata", "annotations"}} {
			fast, slow := obj.DeepCopy(), obj.DeepCopy()
			errFast, errSlow := deleteField(fast, key, path...), slowDeleteField(slow, key, path...)
			a, _ := fast.MarshalJSON()
			b, _ := slow.MarshalJSON()
			if (errFast == nil) != (errSlow == nil) || !bytes.Equal(a, b) {
				t.Fatalf("deleteField(%s, %q, %q) gives %s (%v), decoding step by step gives %s (%v)", doc, key, path, a, errFast, b, errSlow)
			}
		}
	})
}

// slowField is the JSON at path, decoded step by step.
func slowField(obj *k8sapi.Object, path ...string) (json.RawMessage, bool) {
	raw, ok := obj.Field(path[0])
	for _, key := range path[1:] {
		var m map[string]json.RawMessage
		if !ok || json.Unmarshal(raw, &m) != nil {
			return nil, false
		}
		raw, ok = m[key]
	}
	return raw, ok
}

// slowStringField is stringField, decoding step by step.
func slowStringField(obj *k8sapi.Object, path ...string) string {
	raw, ok := slowField(obj, path...)
	var s string
	if !ok || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// slowDeleteField is deleteField, decoding step by step.
func slowDeleteField(obj *k8sapi.Object, key string, path ...string) error {
	raw, ok := slowField(obj, path...)
	if !ok {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return nil
	}
	if _, ok := m[key]; !ok {
		return nil
	}
	delete(m, key)
	return obj.SetField(m, path...)
}
