package resourcelock

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// FuzzMayHold checks the shortcut of stringField and deleteField: on any
// object and key, they do what they do without it (decoding the path
// step by step), so that the shortcut never misses a key, escaped or not.
func FuzzMayHold(f *testing.F) {
	for _, doc := range []string{
		`{"metadata":{"name":"lock","annotations":{"` + PreferredHolderAnnotationKey + `":"b"}},"spec":{"strategy":"x","preferredHolder":"c"}}`,
		`{"metadata":{"name":"lock","annotations":{"kubelect.io\/preferred-holder":"b"}},"spec":{"pre\u0066erredHolder":"c"}}`,
		`{"metadata":{"name":"lock","annotations":{"x":"\"` + PreferredHolderAnnotationKey + `\""}},"spec":{"x":"preferredHolder"}}`,
		`{"metadata":{"managedFields":[{"f:spec":{"f:preferredHolder":{}}}]},"spec":{"holderIdentity":"a"}}`,
		`{"metadata":{"annotations":{"` + PreferredHolderAnnotationKey + `":7}},"spec":{"preferredHolder":null,"strategy":{}}}`,
		`{"metadata":"x","spec":["preferredHolder"]}`,
		`{"metadata":{"annotations":{"preferredHolder":{"preferredHolder":"deep"}}}}`,
		"{\"metadata\":{\"annotations\":{\"\xff\":\"invalid UTF-8 decodes as U+FFFD\"}},\"spec\":{\"\xff\":\"x\"}}",
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

// slowStringField is stringField without the shortcut.
func slowStringField(obj *k8sapi.Object, path ...string) string {
	var s string
	if ok, err := obj.DecodeField(&s, path...); !ok || err != nil {
		return ""
	}
	return s
}

// slowDeleteField is deleteField without the shortcut.
func slowDeleteField(obj *k8sapi.Object, key string, path ...string) error {
	raw, ok := obj.Field(path...)
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
