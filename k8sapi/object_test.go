package k8sapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubelect/kubelect/k8sapi"
)

// endpointsJSON is an Endpoints object as a server returns it, with
// everything an update must keep: labels, owner references, another
// annotation, subsets, managed fields, an unknown field and numbers whose
// spelling must not change.
const endpointsJSON = `{
  "kind": "Endpoints",
  "apiVersion": "v1",
  "metadata": {
    "name": "lock",
    "namespace": "kube-system",
    "uid": "0b6d1a3c-8d2e-4b0f-9a51-7f3e2c1d0e9f",
    "resourceVersion": "12345",
    "creationTimestamp": "2024-01-02T03:04:05Z",
    "labels": {"app": "ctl"},
    "annotations": {
      "control-plane.alpha.kubernetes.io/leader": "{\"holderIdentity\":\"a\"}",
      "other.example.com/keep": "yes <&>"
    },
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "ctl", "uid": "u-1", "controller": true}],
    "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:subsets": {}}}]
  },
  "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 8443, "protocol": "TCP"}]}],
  "futureField": {"big": 12345678901234567890, "float": 1.50, "exp": 1e3}
}`

func TestObjectRoundTripKeepsEverything(t *testing.T) {
	var o k8sapi.Object
	if err := json.Unmarshal([]byte(endpointsJSON), &o); err != nil {
		t.Fatal(err)
	}
	if got := [4]string{o.Name(), o.Namespace(), o.ResourceVersion(), o.UID()}; got != [4]string{"lock", "kube-system", "12345", "0b6d1a3c-8d2e-4b0f-9a51-7f3e2c1d0e9f"} {
		t.Errorf("metadata = %q", got)
	}
	if err := o.SetAnnotation("control-plane.alpha.kubernetes.io/leader", `{"holderIdentity":"b"}`); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&o)
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, []byte(endpointsJSON))
	want.(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)["control-plane.alpha.kubernetes.io/leader"] = `{"holderIdentity":"b"}`
	if diff := cmp.Diff(want, decode(t, out)); diff != "" {
		t.Errorf("round trip changed more than the annotation (-want +got):\n%s", diff)
	}
	// Numbers keep their spelling, not just their value.
	raw, ok := o.Field("futureField")
	if !ok || string(raw) != `{"big": 12345678901234567890, "float": 1.50, "exp": 1e3}` {
		t.Errorf("futureField = %s, %v", raw, ok)
	}
}

func TestObjectSetAnnotationWithoutAnnotations(t *testing.T) {
	for _, doc := range []string{
		`{"kind":"ConfigMap","apiVersion":"v1","data":{"k":"v"}}`,
		`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"},"data":{"k":"v"}}`,
		`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x","annotations":null},"data":{"k":"v"}}`,
		`{"kind":"ConfigMap","apiVersion":"v1","metadata":null,"data":{"k":"v"}}`,
	} {
		var o k8sapi.Object
		if err := o.UnmarshalJSON([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		if got := o.Annotations(); got != nil {
			t.Errorf("%s: Annotations() = %v, want nil", doc, got)
		}
		if err := o.SetAnnotation("k", "v"); err != nil {
			t.Fatalf("%s: SetAnnotation: %v", doc, err)
		}
		if diff := cmp.Diff(map[string]string{"k": "v"}, o.Annotations()); diff != "" {
			t.Errorf("%s: annotations (-want +got):\n%s", doc, diff)
		}
		var data map[string]string
		if ok, err := o.DecodeField(&data, "data"); !ok || err != nil || data["k"] != "v" {
			t.Errorf("%s: data lost: %v %v %v", doc, data, ok, err)
		}
	}
	var zero k8sapi.Object // the zero Object works too
	if err := zero.SetAnnotation("a", "b"); err != nil || zero.Annotations()["a"] != "b" {
		t.Errorf("zero Object: %v %v", err, zero.Annotations())
	}
}

func TestObjectSetFieldNested(t *testing.T) {
	var o k8sapi.Object
	doc := `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"strategy":"OldestEmulationVersion","leaseDurationSeconds":15}}`
	if err := o.UnmarshalJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("me", "spec", "holderIdentity"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetField(3, "spec", "deep", "er", "value"); err != nil {
		t.Fatal(err)
	}
	b, _ := o.MarshalJSON()
	want := `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{"deep":{"er":{"value":3}},"holderIdentity":"me","leaseDurationSeconds":15,"strategy":"OldestEmulationVersion"}}`
	if diff := cmp.Diff(decode(t, []byte(want)), decode(t, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var holder string
	if ok, err := o.DecodeField(&holder, "spec", "holderIdentity"); !ok || err != nil || holder != "me" {
		t.Errorf("DecodeField = %q, %v, %v", holder, ok, err)
	}
	if ok, err := o.DecodeField(&holder, "spec", "missing"); ok || err != nil {
		t.Errorf("DecodeField(missing) = %v, %v", ok, err)
	}
	// A step that is not an object is an error and changes nothing.
	if err := o.SetField("x", "spec", "holderIdentity", "sub"); err == nil || !strings.Contains(err.Error(), `"holderIdentity" holds a non-object`) {
		t.Errorf("SetField through a string = %v, want an error naming holderIdentity", err)
	}
	if b2, _ := o.MarshalJSON(); string(b2) != string(b) {
		t.Errorf("failed SetField changed the object:\n%s\n%s", b, b2)
	}
	if _, ok := o.Field("spec", "holderIdentity", "sub"); ok {
		t.Error("Field through a string is ok")
	}
}

// SetFields stores several keys at one path, keeping the siblings, and
// is all or nothing.
func TestObjectSetFields(t *testing.T) {
	var o k8sapi.Object
	doc := `{"kind":"Lease","spec":{"strategy":"OldestEmulationVersion","holderIdentity":"old"},"status":7}`
	if err := o.UnmarshalJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := o.SetFields(map[string]any{"holderIdentity": "me", "leaseDurationSeconds": 15}, "spec"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetFields(map[string]any{"a": true}, "spec", "x", "y"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetFields(map[string]any{"apiVersion": "coordination.k8s.io/v1"}); err != nil {
		t.Fatal(err)
	}
	b, _ := o.MarshalJSON()
	want := `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","status":7,"spec":{"holderIdentity":"me","leaseDurationSeconds":15,"strategy":"OldestEmulationVersion","x":{"y":{"a":true}}}}`
	if diff := cmp.Diff(decode(t, []byte(want)), decode(t, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		values map[string]any
		path   []string
		want   string
	}{
		{map[string]any{"a": 1}, []string{"status"}, `"status" holds a non-object`},
		{map[string]any{"a": 1, "b": make(chan int)}, []string{"spec"}, `"b": json: unsupported type`},
	} {
		err := o.SetFields(tc.values, tc.path...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetFields(%v, %v) = %v, want %q", tc.values, tc.path, err, tc.want)
		}
		if b2, _ := o.MarshalJSON(); string(b2) != string(b) {
			t.Errorf("failed SetFields changed the object:\n%s\n%s", b, b2)
		}
	}
}

func TestObjectDeepCopyIsIndependent(t *testing.T) {
	o := k8sapi.NewObject(k8sapi.Leases, "ns", "l")
	if err := o.SetField("a", "spec", "holderIdentity"); err != nil {
		t.Fatal(err)
	}
	c := o.DeepCopy()
	if err := c.SetField("b", "spec", "holderIdentity"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAnnotation("k", "v"); err != nil {
		t.Fatal(err)
	}
	var h string
	o.DecodeField(&h, "spec", "holderIdentity")
	if h != "a" || o.Annotations() != nil {
		t.Errorf("original changed: holder %q annotations %v", h, o.Annotations())
	}
}

func TestNewObject(t *testing.T) {
	b, err := json.Marshal(k8sapi.NewObject(k8sapi.Leases, "ns", "l"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if got := k8sapi.Endpoints.APIVersion(); got != "v1" {
		t.Errorf("Endpoints.APIVersion() = %q", got)
	}
}

// The metadata accessors read strings; anything else reads as "".
func TestObjectMetadataAccessors(t *testing.T) {
	for _, tc := range []struct {
		doc               string
		name, ns, rv, uid string
	}{
		{`{"metadata":{"name":"l","namespace":"ns","resourceVersion":"7","uid":"u-1","labels":{"a":"b"}}}`, "l", "ns", "7", "u-1"},
		{`{"metadata":{"name":5,"namespace":"ns","resourceVersion":null}}`, "", "ns", "", ""},
		{`{"metadata":"oops"}`, "", "", "", ""},
		{`{"metadata":null}`, "", "", "", ""},
		{`{"kind":"Lease"}`, "", "", "", ""},
	} {
		var o k8sapi.Object
		if err := o.UnmarshalJSON([]byte(tc.doc)); err != nil {
			t.Fatal(err)
		}
		if o.Name() != tc.name || o.Namespace() != tc.ns || o.ResourceVersion() != tc.rv || o.UID() != tc.uid {
			t.Errorf("%s: name %q namespace %q resourceVersion %q uid %q", tc.doc, o.Name(), o.Namespace(), o.ResourceVersion(), o.UID())
		}
	}
	var nilObj *k8sapi.Object
	if nilObj.Name() != "" {
		t.Error("nil Object has a name")
	}
}

func TestObjectUnmarshalRejectsNonObjects(t *testing.T) {
	for _, doc := range []string{`null`, `[]`, `"x"`, `{"a":`, ``, `{} {}`} {
		var o k8sapi.Object
		if err := o.UnmarshalJSON([]byte(doc)); err == nil {
			t.Errorf("UnmarshalJSON(%q) succeeded", doc)
		}
	}
}

// FuzzObject feeds Object arbitrary bytes from the network: decoding must
// not panic; what decodes must survive an annotation and a field being set
// with every other field unchanged.
func FuzzObject(f *testing.F) {
	f.Add([]byte(endpointsJSON))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"metadata":null}`))
	f.Add([]byte(`{"metadata":"x"}`))
	f.Add([]byte(`{"metadata":{"annotations":[1]}}`))
	f.Add([]byte(`{"spec":{"holderIdentity":null},"a<b":"\u00e9\ud800"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o k8sapi.Object
		if o.UnmarshalJSON(b) != nil {
			return
		}
		before, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		_ = o.Name() + o.Namespace() + o.ResourceVersion() + o.UID()
		_ = o.Annotations()
		annErr := o.SetAnnotation("k", "v")
		specErr := o.SetField("me", "spec", "holderIdentity")
		after, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var m1, m2 map[string]any
		if err := json.Unmarshal(before, &m1); err != nil {
			t.Fatalf("MarshalJSON gave invalid JSON %q: %v", before, err)
		}
		if err := json.Unmarshal(after, &m2); err != nil {
			t.Fatalf("MarshalJSON gave invalid JSON %q: %v", after, err)
		}
		for k := range m1 {
			if k == "metadata" && annErr == nil || k == "spec" && specErr == nil {
				continue
			}
			if !cmp.Equal(m1[k], m2[k]) {
				t.Errorf("field %q changed: %v -> %v", k, m1[k], m2[k])
			}
		}
		if annErr == nil && o.Annotations()["k"] != "v" {
			t.Errorf("annotation not set in %s", after)
		}
	})
}

// TestMetadataKeysExact: the accessors read metadata keys as the API server
// does, case and all; encoding/json alone would take "ResourceVersion" (or
// "reſourceVersion") for resourceVersion. Found by FuzzObjectFields.
func TestMetadataKeysExact(t *testing.T) {
	for doc, want := range map[string]string{
		`{"metadata":{"resourceVersion":"1","ResourceVersion":"2"}}`:                 "1",
		`{"metadata":{"ResourceVersion":"2"}}`:                                       "",
		`{"metadata":{"re\u017fourceVersion":"2","resourceVersion":"1"}}`:            "1",
		`{"metadata":{"resourceVersion":"1","RESOURCEVERSI\u004fN":"2"}}`:            "1",
		`{"metadata":{"resource\u0056ersion":"3"}}`:                                  "3",
		`{"metadata":{"annotations":{"a":"ResourceVersion"},"resourceVersion":"4"}}`: "4",
	} {
		var o k8sapi.Object
		if err := o.UnmarshalJSON([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		if got := o.ResourceVersion(); got != want {
			t.Errorf("%s: ResourceVersion() = %q, want %q", doc, got, want)
		}
	}
	var o k8sapi.Object
	if err := o.UnmarshalJSON([]byte(`{"metadata":{"Name":"x","name":"n","NAMESPACE":"y","namespace":"ns","UID":"z"}}`)); err != nil {
		t.Fatal(err)
	}
	if o.Name() != "n" || o.Namespace() != "ns" || o.UID() != "" {
		t.Errorf("name %q, namespace %q, uid %q", o.Name(), o.Namespace(), o.UID())
	}
}
