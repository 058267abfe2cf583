package k8sapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// reviewTransport records the one request it gets and answers with code
// and body.
type reviewTransport struct {
	code int
	body string
	seen *http.Request
	sent []byte
}

func (rt *reviewTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.seen = req
	if req.Body != nil {
		rt.sent, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: rt.code, Status: http.StatusText(rt.code),
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(rt.body)), Request: req, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// The review is a POST of a SelfSubjectAccessReview to the cluster-scoped
// collection, and every field of the answer is read.
func TestAccessReviewRequestAndAnswer(t *testing.T) {
	rt := &reviewTransport{code: 201, body: `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","metadata":{},` +
		`"spec":{},"status":{"allowed":false,"denied":true,"reason":"denied by policy","evaluationError":"webhook timed out"}}`}
	c, err := k8sapi.New(k8sapi.Config{Host: "https://api.example", BearerToken: "tok", Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.AccessReview(context.Background(), k8sapi.ResourceAttributes{
		Verb: "watch", Resource: k8sapi.Leases, Namespace: "ns", Name: "my-lock",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := k8sapi.AccessDecision{Denied: true, Reason: "denied by policy", EvaluationError: "webhook timed out"}
	if got != want {
		t.Errorf("decision = %+v, want %+v", got, want)
	}
	if rt.seen.Method != http.MethodPost || rt.seen.URL.Path != "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" ||
		rt.seen.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request: %s %s (%s)", rt.seen.Method, rt.seen.URL.Path, rt.seen.Header.Get("Content-Type"))
	}
	var sent map[string]any
	if err := json.Unmarshal(rt.sent, &sent); err != nil {
		t.Fatal(err)
	}
	wantSent := map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{
			"namespace": "ns", "verb": "watch", "group": "coordination.k8s.io", "version": "v1", "resource": "leases", "name": "my-lock",
		}},
	}
	if diff := cmp.Diff(wantSent, sent); diff != "" {
		t.Errorf("body sent (-want +got):\n%s", diff)
	}
}

func TestAccessReviewErrors(t *testing.T) {
	ctx := context.Background()
	var requests atomic.Int32
	srv := testapiserver.New(testapiserver.Options{})
	srv.SetHook(func(*http.Request) { requests.Add(1) })
	c := srv.Client()
	for _, attrs := range []k8sapi.ResourceAttributes{{Resource: k8sapi.Leases}, {Verb: "get"}} {
		if _, err := c.AccessReview(ctx, attrs); err == nil {
			t.Errorf("AccessReview(%+v) = nil error", attrs)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests sent for invalid attributes", n)
	}

	srv.FailNext(1, http.StatusForbidden)
	_, err := c.AccessReview(ctx, k8sapi.ResourceAttributes{Verb: "get", Resource: k8sapi.Leases})
	var se *k8sapi.StatusError
	if !k8sapi.IsForbidden(err) || !errors.As(err, &se) || se.Method != http.MethodPost {
		t.Errorf("a 403 to the review: %v, want a *StatusError", err)
	}

	// A 200 that is not a review (a proxy's page, say) is no decision.
	rt := &reviewTransport{code: 200, body: `{"kind":"Status","status":"Success"}`}
	c2, err := k8sapi.New(k8sapi.Config{Host: "https://api.example", BearerToken: "tok", Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := c2.AccessReview(ctx, k8sapi.ResourceAttributes{Verb: "get", Resource: k8sapi.Leases}); err == nil ||
		!strings.Contains(err.Error(), "not a SelfSubjectAccessReview") {
		t.Errorf("a 200 that is no review: %+v, %v", d, err)
	}
}

// The in-process server answers reviews from its Allow and Deny lists, and
// its answer is what the request itself then gets.
func TestAccessReviewInProcess(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{
		Deny: []testapiserver.Permission{{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases"}},
	})
	c := srv.Client()
	ask := func(verb string, r k8sapi.Resource) bool {
		t.Helper()
		d, err := c.AccessReview(ctx, k8sapi.ResourceAttributes{Verb: verb, Resource: r, Namespace: "default", Name: "l"})
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	if !ask("get", k8sapi.Leases) || ask("watch", k8sapi.Leases) || !ask("watch", k8sapi.ConfigMaps) {
		t.Error("with watch on leases denied: want get allowed, watch on leases denied, watch on configmaps allowed")
	}
	if _, err := c.Watch(ctx, k8sapi.Leases, "default", "l", k8sapi.WatchOptions{}); !k8sapi.IsForbidden(err) {
		t.Errorf("watch after a denied review: %v, want Forbidden", err)
	}
	if _, err := c.Get(ctx, k8sapi.Leases, "default", "l"); !k8sapi.IsNotFound(err) {
		t.Errorf("get after an allowed review: %v, want NotFound", err)
	}

	// While the server runs: every verb on events denied, then nothing.
	srv.SetDeny(testapiserver.Permission{Verb: "*", Group: "", Resource: "events"})
	if ask("create", k8sapi.Events) || !ask("watch", k8sapi.Leases) {
		t.Error("after SetDeny(* events): want create events denied and watch leases allowed")
	}
	if _, err := c.Create(ctx, k8sapi.Events, k8sapi.NewObject(k8sapi.Events, "default", "e")); !k8sapi.IsForbidden(err) {
		t.Errorf("create an event after a denied review: %v, want Forbidden", err)
	}
	srv.SetDeny()
	if !ask("create", k8sapi.Events) {
		t.Error("after SetDeny(): want create events allowed")
	}

	// An Allow list allows what it lists, and only that.
	limited := testapiserver.New(testapiserver.Options{Allow: []testapiserver.Permission{{Verb: "get", Group: "coordination.k8s.io", Resource: "leases"}}})
	c = limited.Client()
	if !ask("get", k8sapi.Leases) || ask("update", k8sapi.Leases) || ask("get", k8sapi.Endpoints) {
		t.Error("with an Allow list of get leases: want only get leases allowed")
	}
}

// Ask the API server whether this client may watch a Lease before relying
// on it (here the in-process server, told to deny it).
func ExampleClient_AccessReview() {
	srv := testapiserver.New(testapiserver.Options{
		Deny: []testapiserver.Permission{{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases"}},
	})
	client := srv.Client()
	for _, verb := range []string{"get", "watch"} {
		d, err := client.AccessReview(context.Background(), k8sapi.ResourceAttributes{
			Verb: verb, Resource: k8sapi.Leases, Namespace: "default", Name: "my-controller",
		})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: allowed %v\n", verb, d.Allowed)
	}
	// Output:
	// get: allowed true
	// watch: allowed false
}
