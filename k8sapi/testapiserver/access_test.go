package testapiserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const reviews = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

// Access reviews are answered as kube-apiserver answers them: 201 with the
// spec and status.allowed, 422 for a review of nothing, 401 without the
// token.
func TestAccessReviewAnswers(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{Token: "secret",
		Deny: []testapiserver.Permission{{Verb: "update", Group: "*", Resource: "*"}}})
	spec := map[string]any{"resourceAttributes": map[string]any{"verb": "update", "group": "", "resource": "configmaps", "namespace": "default"}}
	code, _, got := doToken(t, srv, "secret", "POST", reviews,
		`{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"update","group":"","resource":"configmaps","namespace":"default"}}}`)
	want := map[string]any{"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": map[string]any{},
		"spec": spec, "status": map[string]any{"allowed": false}}
	if diff := cmp.Diff(want, got); code != 201 || diff != "" {
		t.Errorf("denied review: %d (-want +got):\n%s", code, diff)
	}
	code, _, got = doToken(t, srv, "secret", "POST", reviews, `{"spec":{"resourceAttributes":{"verb":"get","resource":"leases","group":"coordination.k8s.io"}}}`)
	if status, _ := got["status"].(map[string]any); code != 201 || status["allowed"] != true {
		t.Errorf("allowed review: %d %v", code, got)
	}
	code, _, got = doToken(t, srv, "secret", "POST", reviews, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}`)
	wantInvalid := status(422, "Invalid",
		`.authorization.k8s.io "" is invalid: spec: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified`,
		map[string]any{"group": "authorization.k8s.io", "causes": []any{cause("FieldValueInvalid", "spec",
			"Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified")}})
	if diff := cmp.Diff(wantInvalid, got); code != 422 || diff != "" {
		t.Errorf("review of nothing: %d (-want +got):\n%s", code, diff)
	}
	if code, _, _ := doToken(t, srv, "wrong", "POST", reviews, `{"spec":{"resourceAttributes":{"verb":"get","resource":"leases"}}}`); code != 401 {
		t.Errorf("review with a wrong token: %d, want 401", code)
	}
}

// doToken is do with a bearer token.
func doToken(t *testing.T, srv *testapiserver.Server, token, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "https://x"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.RoundTripper().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, b, err)
	}
	return resp.StatusCode, resp.Header, m
}
