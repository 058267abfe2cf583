package k8sapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

func TestPatch(t *testing.T) {
	rec := &recorder{}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		req := rec.add(r)
		if strings.Contains(req.Body, `"op":"test"`) {
			// As kube-apiserver answers a JSON Patch whose test failed.
			writeStatus(w, http.StatusUnprocessableEntity, "Invalid", "the server rejected our request due to an error in our request")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p-1","namespace":"ns","resourceVersion":"7","labels":{"a":"b"}}}`))
	}, k8sapi.Config{})
	ctx := context.Background()

	merge := []byte(`{"metadata":{"labels":{"a":"b"}}}`)
	got, err := c.Patch(ctx, k8sapi.Pods, "ns", "p-1", k8sapi.MergePatch, merge)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != "p-1" || got.ResourceVersion() != "7" {
		t.Errorf("Patch returned %s/%s at %s", got.Namespace(), got.Name(), got.ResourceVersion())
	}
	jp := []byte(`[{"op":"test","path":"/metadata/labels/a","value":"c"},{"op":"remove","path":"/metadata/labels/a"}]`)
	_, err = c.Patch(ctx, k8sapi.Pods, "ns", "p-1", k8sapi.JSONPatch, jp)
	var se *k8sapi.StatusError
	if !k8sapi.IsInvalid(err) || !errors.As(err, &se) || se.Method != http.MethodPatch || se.Path != "/api/v1/namespaces/ns/pods/p-1" {
		t.Errorf("a failed test: %v, want a 422 Invalid StatusError of PATCH /api/v1/namespaces/ns/pods/p-1", err)
	}

	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, want := range []struct{ ct, body string }{
		{"application/merge-patch+json", string(merge)},
		{"application/json-patch+json", string(jp)},
	} {
		r := reqs[i]
		if r.Method != http.MethodPatch || r.RawPath != "/api/v1/namespaces/ns/pods/p-1" || r.ContentType != want.ct ||
			r.Body != want.body || r.Accept != "application/json" || r.Auth != "Bearer "+testToken {
			t.Errorf("request %d: %+v, want PATCH with Content-Type %s and body %s", i, r, want.ct, want.body)
		}
	}

	// Refused before anything is sent.
	for _, tt := range []struct {
		name, ns, pod string
		pt            k8sapi.PatchType
		patch         []byte
		want          error
	}{
		{"strategic merge patch", "ns", "p", "application/strategic-merge-patch+json", merge, nil},
		{"apply", "ns", "p", "application/apply-patch+yaml", merge, nil},
		{"no type", "ns", "p", "", merge, nil},
		{"empty patch", "ns", "p", k8sapi.MergePatch, nil, nil},
		{"no name", "ns", "", k8sapi.MergePatch, merge, k8sapi.ErrInvalidName},
		{"a name with a slash", "ns", "p/status", k8sapi.MergePatch, merge, k8sapi.ErrInvalidName},
		{"no namespace", "", "p", k8sapi.MergePatch, merge, k8sapi.ErrInvalidName},
	} {
		_, err := c.Patch(ctx, k8sapi.Pods, tt.ns, tt.pod, tt.pt, tt.patch)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want an error (%v)", tt.name, err, tt.want)
		}
	}
	if n := len(rec.all()); n != 2 {
		t.Errorf("%d requests after the refused patches, want still 2", n)
	}
}
