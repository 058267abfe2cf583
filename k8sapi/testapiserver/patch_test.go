package testapiserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// podWith creates a Pod whose metadata and spec are given as JSON.
func podWith(t *testing.T, c *k8sapi.Client, name, metadata string) *k8sapi.Object {
	t.Helper()
	var obj k8sapi.Object
	body := `{"metadata":` + metadata + `,"spec":{"containers":[{"name":"c","image":"x","args":["a","b"]}]}}`
	if err := json.Unmarshal([]byte(body), &obj); err != nil {
		t.Fatal(err)
	}
	_ = obj.SetField(name, "metadata", "name")
	_ = obj.SetField(ns, "metadata", "namespace")
	created, err := c.Create(context.Background(), k8sapi.Pods, &obj)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func TestJSONPatch(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	c := client(t, srv)
	ctx := context.Background()
	pod := podWith(t, c, "p", `{"labels":{"a":"1"},"annotations":{"t":"5"}}`)
	rv := pod.ResourceVersion()

	tests := []struct {
		name, patch string
		wantErr     bool // 422 Invalid, nothing stored
		labels      map[string]string
		args        []string
	}{
		{name: "a test that holds changes nothing", patch: `[{"op":"test","path":"/metadata/labels/a","value":"1"}]`,
			labels: map[string]string{"a": "1"}},
		{name: "test fails", patch: `[{"op":"test","path":"/metadata/annotations/t","value":"4"},{"op":"remove","path":"/metadata/labels/a"}]`, wantErr: true},
		{name: "test of a number against a string", patch: `[{"op":"test","path":"/metadata/annotations/t","value":5}]`, wantErr: true},
		{name: "test of a missing path", patch: `[{"op":"test","path":"/metadata/labels/x","value":"1"}]`, wantErr: true},
		{name: "test of a missing parent", patch: `[{"op":"test","path":"/spec/x/y","value":"1"}]`, wantErr: true},
		{name: "remove a missing field", patch: `[{"op":"remove","path":"/metadata/labels/x"}]`, wantErr: true},
		{name: "add under a missing parent", patch: `[{"op":"add","path":"/metadata/x/y","value":"1"}]`, wantErr: true},
		{name: "a later op fails", patch: `[{"op":"add","path":"/metadata/labels/b","value":"2"},{"op":"remove","path":"/x"}]`, wantErr: true},
		{name: "unknown op", patch: `[{"op":"frob","path":"/metadata/labels/a"}]`, wantErr: true},
		{name: "no path", patch: `[{"op":"remove"}]`, wantErr: true},
		{name: "add with no value", patch: `[{"op":"add","path":"/metadata/labels/b"}]`, wantErr: true},
		{name: "an index out of range", patch: `[{"op":"add","path":"/spec/containers/0/args/3","value":"x"}]`, wantErr: true},
		{name: "escaped keys, add, replace", patch: `[{"op":"add","path":"/metadata/labels/k.io~1l","value":"x"},` +
			`{"op":"replace","path":"/metadata/labels/a","value":"2"},{"op":"add","path":"/metadata/labels/t~0","value":"y"}]`,
			labels: map[string]string{"a": "2", "k.io/l": "x", "t~": "y"}},
		// As kube-apiserver's: replace adds a missing field of an object.
		{name: "replace a missing field", patch: `[{"op":"replace","path":"/metadata/labels/n","value":"z"}]`,
			labels: map[string]string{"a": "2", "k.io/l": "x", "t~": "y", "n": "z"}},
		{name: "test, then remove", patch: `[{"op":"test","path":"/metadata/labels/n","value":"z"},{"op":"remove","path":"/metadata/labels/n"},` +
			`{"op":"remove","path":"/metadata/labels/t~0"}]`, labels: map[string]string{"a": "2", "k.io/l": "x"}},
		{name: "arrays", patch: `[{"op":"add","path":"/spec/containers/0/args/-","value":"c"},{"op":"add","path":"/spec/containers/0/args/0","value":"z"},` +
			`{"op":"remove","path":"/spec/containers/0/args/1"},{"op":"replace","path":"/spec/containers/0/args/1","value":"B"},` +
			`{"op":"test","path":"/spec/containers/0/args","value":["z","B","c"]}]`,
			labels: map[string]string{"a": "2", "k.io/l": "x"}, args: []string{"z", "B", "c"}},
		{name: "copy and move", patch: `[{"op":"copy","from":"/metadata/labels/a","path":"/metadata/labels/b"},` +
			`{"op":"move","from":"/metadata/labels/k.io~1l","path":"/metadata/labels/m"}]`,
			labels: map[string]string{"a": "2", "b": "2", "m": "x"}},
	}
	for _, tt := range tests {
		got, err := c.Patch(ctx, k8sapi.Pods, ns, "p", k8sapi.JSONPatch, []byte(tt.patch))
		if tt.wantErr {
			if !k8sapi.IsInvalid(err) || !strings.Contains(err.Error(), "the server rejected our request due to an error in our request") {
				t.Errorf("%s: %v, want 422 Invalid", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var md struct{ Labels map[string]string }
		_, _ = got.DecodeField(&md, "metadata")
		if diff := cmp.Diff(tt.labels, md.Labels); diff != "" {
			t.Errorf("%s: labels (-want +got):\n%s", tt.name, diff)
		}
		if tt.args != nil {
			raw, _ := got.Field("spec")
			if !strings.Contains(string(raw), `"args":["z","B","c"]`) {
				t.Errorf("%s: spec %s, want args %q", tt.name, raw, tt.args)
			}
		}
		// A patch that changes nothing keeps the resourceVersion.
		if moved := got.ResourceVersion() != rv; moved != (tt.name != "a test that holds changes nothing") {
			t.Errorf("%s: resourceVersion %s -> %s", tt.name, rv, got.ResourceVersion())
		}
		rv = got.ResourceVersion()
	}
	// What the failed patches left: the last good one's object.
	stored, err := c.Get(ctx, k8sapi.Pods, ns, "p")
	if err != nil || stored.ResourceVersion() != rv {
		t.Errorf("stored at %v (%v), want %s", stored.ResourceVersion(), err, rv)
	}
}

func TestMergePatchAndAnswers(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{Deny: []testapiserver.Permission{{Verb: "patch", Resource: "configmaps"}}})
	c := client(t, srv)
	ctx := context.Background()
	pod := podWith(t, c, "p", `{"labels":{"a":"1"}}`)
	w, err := c.Watch(ctx, k8sapi.Pods, ns, "p", k8sapi.WatchOptions{ResourceVersion: pod.ResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	got, err := c.Patch(ctx, k8sapi.Pods, ns, "p", k8sapi.MergePatch, []byte(`{"metadata":{"labels":{"a":null,"b":"2"},"annotations":{"t":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := got.Field("metadata", "labels")
	if string(labels) != `{"b":"2"}` || got.Annotations()["t"] != "1" {
		t.Errorf("merge patch stored labels %s, annotations %v", labels, got.Annotations())
	}
	if e, err := w.Next(); err != nil || e.Type != k8sapi.Modified || e.Object.ResourceVersion() != got.ResourceVersion() {
		t.Errorf("watch event %v %v, want MODIFIED at %s", e.Type, err, got.ResourceVersion())
	}
	// Removing the last label removes the map, as the real server's typed
	// objects do.
	got, err = c.Patch(ctx, k8sapi.Pods, ns, "p", k8sapi.JSONPatch, []byte(`[{"op":"remove","path":"/metadata/labels/b"}]`))
	if _, ok := got.Field("metadata", "labels"); err != nil || ok {
		t.Errorf("after removing the last label: %v; labels still there: %v", err, ok)
	}
	if _, err := c.Patch(ctx, k8sapi.Pods, ns, "p", k8sapi.MergePatch, []byte(`{"metadata":{"resourceVersion":"1"}}`)); !k8sapi.IsConflict(err) {
		t.Errorf("a stale resourceVersion: %v, want 409 Conflict", err)
	}
	if _, err := c.Patch(ctx, k8sapi.Pods, ns, "q", k8sapi.MergePatch, []byte(`{}`)); !k8sapi.IsNotFound(err) ||
		!strings.Contains(err.Error(), `pods "q" not found`) {
		t.Errorf("a missing pod: %v, want 404", err)
	}
	if _, err := c.Patch(ctx, k8sapi.ConfigMaps, ns, "p", k8sapi.MergePatch, []byte(`{}`)); !k8sapi.IsForbidden(err) {
		t.Errorf("a denied patch: %v, want 403", err)
	}
	for _, tt := range []struct {
		ct, body, reason, message string
		code                      int
	}{
		{"application/strategic-merge-patch+json", `{}`, "UnsupportedMediaType", "415: Unsupported Media Type", 415},
		{"application/json", `{}`, "UnsupportedMediaType", "415: Unsupported Media Type", 415},
		{"application/json-patch+json", `[{`, "BadRequest", "invalid JSON patch", 400},
		{"application/json-patch+json", `{"op":"add"}`, "BadRequest",
			"error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp", 400},
		{"application/merge-patch+json", `[1]`, "BadRequest",
			"error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}", 400},
		{"application/merge-patch+json", `null`, "BadRequest", "Invalid JSON Patch", 400},
		{"application/merge-patch+json; charset=utf-8", `{"kind":"Lease"}`, "BadRequest", "", 400},
	} {
		req, _ := http.NewRequest(http.MethodPatch, "https://x/api/v1/namespaces/default/pods/p", strings.NewReader(tt.body))
		req.Header.Set("Content-Type", tt.ct)
		resp, err := srv.RoundTripper().RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Code            int
			Reason, Message string
		}
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != tt.code || st.Code != tt.code || st.Reason != tt.reason || tt.message != "" && st.Message != tt.message {
			t.Errorf("PATCH %s %s: %d %+v, want %d %s %q", tt.ct, tt.body, resp.StatusCode, st, tt.code, tt.reason, tt.message)
		}
	}
}
