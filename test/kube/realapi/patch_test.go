package realapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// patchOutcome is what a caller reads of a patch's answer: the labels and
// annotations stored and whether the resourceVersion moved, or the whole
// Status.
func patchOutcome(obj *k8sapi.Object, prevRV *string, err error) string {
	if err != nil {
		return statusOutcome(obj, err)
	}
	var md struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	_, _ = obj.DecodeField(&md, "metadata")
	moved := obj.ResourceVersion() != *prevRV
	*prevRV = obj.ResourceVersion()
	return fmt.Sprintf("ok labels=%s annotations=%s rv-moved=%v", sortedMap(md.Labels), sortedMap(md.Annotations), moved)
}

func sortedMap(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// patchScript creates a Pod and patches it every way the leader label
// needs (and a few it does not), returning what each request answered.
func patchScript(t *testing.T, client *k8sapi.Client, ns, name, serviceAccount string) []string {
	t.Helper()
	ctx := context.Background()
	pod := k8sapi.NewObject(k8sapi.Pods, ns, name)
	_ = pod.SetField(map[string]string{"app": "x"}, "metadata", "labels")
	// No kube-controller-manager makes a "default" ServiceAccount: name one.
	_ = pod.SetField(map[string]any{"serviceAccountName": serviceAccount, "automountServiceAccountToken": false,
		"containers": []map[string]string{{"name": "c", "image": "busybox"}}}, "spec")
	created, err := client.Create(ctx, k8sapi.Pods, pod)
	if err != nil {
		t.Fatalf("create the pod: %v", err)
	}
	rv := created.ResourceVersion()
	var out []string
	step := func(what string, pt k8sapi.PatchType, patch string) {
		obj, err := client.Patch(ctx, k8sapi.Pods, ns, name, pt, []byte(patch))
		out = append(out, what+": "+patchOutcome(obj, &rv, err))
	}
	const label, term = "/metadata/labels/kubelect.io~1leader", "/metadata/annotations/kubelect.io~1leader-term"
	step("merge: label and annotate", k8sapi.MergePatch,
		`{"metadata":{"labels":{"kubelect.io/leader":"lock"},"annotations":{"kubelect.io/leader-term":"3"}}}`)
	step("merge: the same again", k8sapi.MergePatch,
		`{"metadata":{"labels":{"kubelect.io/leader":"lock"},"annotations":{"kubelect.io/leader-term":"3"}}}`)
	step("json: test that holds (a read)", k8sapi.JSONPatch, `[{"op":"test","path":"`+label+`","value":"lock"}]`)
	step("json: test of another value", k8sapi.JSONPatch,
		`[{"op":"test","path":"`+term+`","value":"2"},{"op":"remove","path":"`+label+`"}]`)
	step("json: test of a number against a string", k8sapi.JSONPatch, `[{"op":"test","path":"`+term+`","value":3}]`)
	step("json: test of a missing path", k8sapi.JSONPatch, `[{"op":"test","path":"/metadata/labels/nope","value":"x"}]`)
	step("json: test of the resourceVersion", k8sapi.JSONPatch, `[{"op":"test","path":"/metadata/resourceVersion","value":"`+rv+`"}]`)
	step("json: test, then remove both", k8sapi.JSONPatch,
		`[{"op":"test","path":"`+label+`","value":"lock"},{"op":"test","path":"`+term+`","value":"3"},`+
			`{"op":"remove","path":"`+label+`"},{"op":"remove","path":"`+term+`"}]`)
	step("json: remove a missing label", k8sapi.JSONPatch, `[{"op":"remove","path":"`+label+`"}]`)
	step("json: replace a missing label", k8sapi.JSONPatch, `[{"op":"replace","path":"`+label+`","value":"x"}]`)
	step("json: add under a missing parent", k8sapi.JSONPatch, `[{"op":"add","path":"/metadata/nope/x","value":"x"}]`)
	step("json: add, replace, copy, move", k8sapi.JSONPatch,
		`[{"op":"add","path":"/metadata/labels/a","value":"1"},{"op":"replace","path":"/metadata/labels/a","value":"2"},`+
			`{"op":"copy","from":"/metadata/labels/a","path":"/metadata/labels/b"},{"op":"move","from":"/metadata/labels/b","path":"/metadata/annotations/c"}]`)
	step("json: a later op fails: nothing changes", k8sapi.JSONPatch,
		`[{"op":"add","path":"/metadata/labels/z","value":"1"},{"op":"remove","path":"/metadata/labels/nope"}]`)
	step("json: unknown op", k8sapi.JSONPatch, `[{"op":"frob","path":"/metadata/labels/a"}]`)
	step("json: not a patch", k8sapi.JSONPatch, `{"op":"add"}`)
	step("json: not JSON", k8sapi.JSONPatch, `[{`)
	step("json: a list of numbers", k8sapi.JSONPatch, `[1]`)
	step("json: a string", k8sapi.JSONPatch, `"x"`)
	step("json: null", k8sapi.JSONPatch, `null`)
	step("merge: not JSON", k8sapi.MergePatch, `{`)
	step("merge: a list", k8sapi.MergePatch, `[1]`)
	step("merge: a string", k8sapi.MergePatch, `"x"`)
	step("merge: null", k8sapi.MergePatch, `null`)
	step("merge: a stale resourceVersion", k8sapi.MergePatch, `{"metadata":{"resourceVersion":"1","labels":{"a":"3"}}}`)
	step("merge: the current resourceVersion", k8sapi.MergePatch, `{"metadata":{"resourceVersion":"`+rv+`","labels":{"a":"3"}}}`)
	step("merge: null removes", k8sapi.MergePatch, `{"metadata":{"labels":{"a":null},"annotations":{"c":null}}}`)
	obj, err := client.Patch(ctx, k8sapi.Pods, ns, name+"-missing", k8sapi.MergePatch, []byte(`{"metadata":{"labels":{"a":"1"}}}`))
	out = append(out, "merge: a missing pod: "+statusOutcome(obj, err))
	obj, err = client.Patch(ctx, k8sapi.Pods, ns, name+"-missing", k8sapi.JSONPatch, []byte(`[{"op":"test","path":"/metadata/name","value":"x"}]`))
	out = append(out, "json: a missing pod: "+statusOutcome(obj, err))
	return out
}

// The same patches against kube-apiserver and the in-process server give
// the same answers: codes, reasons, messages, details and what is stored.
func TestDifferentialPatch(t *testing.T) {
	c := need(t)
	name := uniqueName(t)
	real := patchScript(t, adminClient(t, c), c.Namespace, name, c.ServiceAccount)
	srv := testapiserver.New(testapiserver.Options{})
	fake := srv.Client()
	inProcess := patchScript(t, fake, c.Namespace, name, c.ServiceAccount)
	want := real
	if c.Minor() < 37 {
		want = notJSONBefore137(t, c.ServerVersion, real)
	}
	if diff := cmp.Diff(want, inProcess); diff != "" {
		t.Errorf("in-process server differs from kube-apiserver (-real +in-process):\n%s", diff)
	}
	t.Logf("real server:\n%s", joinLines(real))

	// A PATCH of a type no server applies (plain JSON) gets 415 from both;
	// the real server lists the types it takes for pods, strategic merge
	// patch and apply among them, which the in-process one does not apply.
	code, b, err := c.AdminDo(context.Background(), http.MethodPatch, "/api/v1/namespaces/"+c.Namespace+"/pods/"+name, json.RawMessage(`{}`))
	if err != nil || code != http.StatusUnsupportedMediaType {
		t.Errorf("PATCH as application/json: %d %s %v, want 415", code, b, err)
	}
	t.Logf("PATCH as application/json: %d %s", code, b)
}

// notJSONBefore137 takes, for a kube-apiserver older than 1.37, its answer
// to the two patches that are not JSON as the answer of 1.37 (which the
// in-process server gives), and keeps every other answer. kube-apiserver
// 1.37 checks that a JSON or merge patch is JSON before applying it and
// answers 400 "invalid JSON patch"; before 1.37 the same 400 carried the
// decoder's error. Any other answer to those patches is kept, so that the
// comparison reports it.
func notJSONBefore137(t *testing.T, version string, real []string) []string {
	const before, since = "400 BadRequest: error decoding patch: unexpected end of JSON input", "400 BadRequest: invalid JSON patch"
	out := append([]string(nil), real...)
	for i, s := range out {
		for _, step := range []string{"json: not JSON: ", "merge: not JSON: "} {
			if s == step+before {
				out[i] = step + since
				t.Logf("kube-apiserver %s (before 1.37): %q compared as %q", version, s, out[i])
			}
		}
	}
	return out
}
