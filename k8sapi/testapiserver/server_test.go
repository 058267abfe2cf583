package testapiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const ns = "default"

func client(t *testing.T, srv *testapiserver.Server) *k8sapi.Client {
	t.Helper()
	c := srv.Client()
	return c
}

// do sends one raw request in-process and returns the code and body.
func do(t *testing.T, srv *testapiserver.Server, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://x"+path, r)
	if err != nil {
		t.Fatal(err)
	}
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

func lease(name, rv string) *k8sapi.Object {
	o := k8sapi.NewObject(k8sapi.Leases, ns, name)
	if rv != "" {
		_ = o.SetField(rv, "metadata", "resourceVersion")
	}
	_ = o.SetField("a", "spec", "holderIdentity")
	return o
}

func TestCRUD(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	c := srv.Client()

	if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); !k8sapi.IsNotFound(err) ||
		!strings.Contains(err.Error(), `leases.coordination.k8s.io "l" not found`) {
		t.Errorf("Get missing = %v", err)
	}
	created, err := c.Create(ctx, k8sapi.Leases, lease("l", ""))
	if err != nil {
		t.Fatal(err)
	}
	if created.ResourceVersion() == "" || created.UID() == "" {
		t.Errorf("created object lacks resourceVersion or uid: %s", mustJSON(created))
	}
	if _, err := c.Create(ctx, k8sapi.Leases, lease("l", "")); !k8sapi.IsAlreadyExists(err) ||
		!strings.Contains(err.Error(), `leases.coordination.k8s.io "l" already exists`) {
		t.Errorf("duplicate Create = %v", err)
	}

	upd := created.DeepCopy()
	_ = upd.SetField("b", "spec", "holderIdentity")
	updated, err := c.Update(ctx, k8sapi.Leases, upd)
	if err != nil {
		t.Fatal(err)
	}
	if updated.ResourceVersion() == created.ResourceVersion() || updated.UID() != created.UID() {
		t.Errorf("update: rv %s -> %s, uid %s -> %s", created.ResourceVersion(), updated.ResourceVersion(), created.UID(), updated.UID())
	}
	// A stale resourceVersion conflicts.
	if _, err := c.Update(ctx, k8sapi.Leases, upd); !k8sapi.IsConflict(err) ||
		!strings.Contains(err.Error(), `Operation cannot be fulfilled on leases.coordination.k8s.io "l": the object has been modified`) {
		t.Errorf("stale Update = %v", err)
	}
	// A no-op update answers 200 without a new resourceVersion.
	same, err := c.Update(ctx, k8sapi.Leases, updated)
	if err != nil || same.ResourceVersion() != updated.ResourceVersion() {
		t.Errorf("no-op Update: rv %s -> %s, %v", updated.ResourceVersion(), same.ResourceVersion(), err)
	}
	// A PUT without a resourceVersion creates a missing Lease (but not a
	// missing ConfigMap).
	if _, err := c.Update(ctx, k8sapi.Leases, lease("new", "")); err != nil {
		t.Errorf("unconditional PUT of a missing Lease: %v", err)
	}
	if _, err := c.Update(ctx, k8sapi.ConfigMaps, k8sapi.NewObject(k8sapi.ConfigMaps, ns, "cm")); !k8sapi.IsNotFound(err) {
		t.Errorf("PUT of a missing ConfigMap = %v, want NotFound", err)
	}
	// kube-apiserver 1.37 creates a missing Lease even when the PUT
	// carries a resourceVersion.
	if _, err := c.Update(ctx, k8sapi.Leases, lease("gone", "5")); err != nil {
		t.Errorf("PUT of a missing Lease with a resourceVersion = %v, want it created", err)
	}
	// An update of an existing Lease must carry a resourceVersion.
	if _, err := c.Update(ctx, k8sapi.Leases, lease("gone", "")); err == nil || !strings.Contains(err.Error(), "422 Invalid") {
		t.Errorf("PUT of a Lease without a resourceVersion = %v, want 422 Invalid", err)
	}
	if err := c.Delete(ctx, k8sapi.Leases, ns, "l"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, k8sapi.Leases, ns, "l"); !k8sapi.IsNotFound(err) {
		t.Errorf("second Delete = %v", err)
	}
}

// Status bodies are shaped like the real server's.
func TestStatusBodies(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	code, _, body := do(t, srv, "GET", "/api/v1/namespaces/default/endpoints/x", "")
	want := map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": `endpoints "x" not found`, "reason": "NotFound",
		"details": map[string]any{"name": "x", "kind": "endpoints"}, "code": 404.0,
	}
	if diff := cmp.Diff(want, body); code != 404 || diff != "" {
		t.Errorf("404 body (-want +got):\n%s", diff)
	}
	code, _, body = do(t, srv, "GET", "/api/v1/namespaces/default/secrets/x", "")
	if code != 404 || body["message"] != "the server could not find the requested resource" {
		t.Errorf("unknown resource: %d %v", code, body)
	}
	code, _, body = do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{}}`)
	if code != 422 || body["reason"] != "Invalid" {
		t.Errorf("create without a name: %d %v", code, body)
	}
	code, _, body = do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", `{"kind":"Lease","metadata":{"name":"x"}}`)
	if code != 400 || body["reason"] != "BadRequest" {
		t.Errorf("create with a wrong kind: %d %v", code, body)
	}
	code, _, body = do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"x","namespace":"other"}}`)
	if code != 400 {
		t.Errorf("create in another namespace: %d %v", code, body)
	}
	code, _, body = do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"x"}}`)
	if code != 201 || body["kind"] != "ConfigMap" || body["apiVersion"] != "v1" {
		t.Errorf("create: %d %v", code, body)
	}
	code, _, body = do(t, srv, "PUT", "/api/v1/namespaces/default/configmaps/y", `{"metadata":{"name":"x"}}`)
	if code != 400 {
		t.Errorf("PUT with a name that differs from the URL: %d %v", code, body)
	}
}

// TestClient: Client reaches the server in-process with the server's
// token, and panics on a token no client can send.
func TestClient(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{Token: "secret"})
	c := srv.Client()
	if _, err := c.Create(ctx, k8sapi.Leases, lease("l", "")); err != nil {
		t.Fatalf("create through Client: %v", err)
	}
	if _, ok := srv.Get("coordination.k8s.io", "leases", ns, "l"); !ok {
		t.Error("the lease created through Client is not on the server")
	}
	if srv.Client() == c {
		t.Error("Client returned the same client twice")
	}

	bad := testapiserver.New(testapiserver.Options{Token: "secret\n"})
	defer func() {
		if r := recover(); r == nil {
			t.Error("Client with a token holding a newline did not panic")
		} else if msg := fmt.Sprint(r); !strings.HasPrefix(msg, "testapiserver: ") || strings.Contains(msg, "secret") {
			t.Errorf("panic %q: want it to say where it comes from, without the token", msg)
		}
	}()
	bad.Client()
}

func TestAuthAndPermissions(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{
		Token: "secret", User: "system:serviceaccount:default:elector",
		Allow: []testapiserver.Permission{{Verb: "get", Group: "coordination.k8s.io", Resource: "leases"}},
	})
	cfg := srv.Config()
	cfg.BearerToken = "wrong"
	bad, err := k8sapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Get(ctx, k8sapi.Leases, ns, "l"); !k8sapi.IsUnauthorized(err) {
		t.Errorf("wrong token: %v, want Unauthorized", err)
	}
	c := srv.Client()
	if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); !k8sapi.IsNotFound(err) {
		t.Errorf("allowed get: %v, want NotFound", err)
	}
	_, err = c.Create(ctx, k8sapi.Leases, lease("l", ""))
	want := `leases.coordination.k8s.io is forbidden: User "system:serviceaccount:default:elector" cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "default"`
	if !k8sapi.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("create without permission: %v\nwant %s", err, want)
	}
	if _, err := c.Get(ctx, k8sapi.Endpoints, ns, "l"); !k8sapi.IsForbidden(err) {
		t.Errorf("get endpoints without permission: %v", err)
	}
}

func TestEndpointsWarning(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{EndpointsWarning: true})
	_, h, _ := do(t, srv, "GET", "/api/v1/namespaces/default/endpoints/x", "")
	if got := h.Get("Warning"); got != testapiserver.EndpointsDeprecationWarning {
		t.Errorf("Warning = %q", got)
	}
	_, h, _ = do(t, srv, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x", "")
	if got := h.Get("Warning"); got != "" {
		t.Errorf("Warning on a Lease = %q", got)
	}
}

func TestFailNextAndHook(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	var requests atomic.Int32
	srv.SetHook(func(*http.Request) { requests.Add(1) })
	c := srv.Client()
	srv.FailNext(3, 503)
	for i := 0; i < 3; i++ {
		var se *k8sapi.StatusError
		if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); !errors.As(err, &se) || se.Code != 503 || se.Reason != "ServiceUnavailable" {
			t.Errorf("request %d: %v, want an injected 503", i, err)
		}
	}
	if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); !k8sapi.IsNotFound(err) {
		t.Errorf("after the injected failures: %v, want NotFound", err)
	}
	srv.FailNext(1, 429)
	if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); !k8sapi.IsTooManyRequests(err) {
		t.Errorf("injected 429: %v", err)
	} else if d, ok := k8sapi.RetryAfter(err); !ok || d.Seconds() != 1 {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	srv.DropNext(1)
	if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); err == nil || !strings.Contains(err.Error(), "injected drop") {
		t.Errorf("dropped request: %v", err)
	}
	if got := requests.Load(); got != 6 {
		t.Errorf("hook saw %d requests, want 6", got)
	}
}

// Concurrent writers of one object: exactly one wins each round, the rest
// conflict, and resourceVersions never repeat.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	c := srv.Client()
	if _, err := c.Create(ctx, k8sapi.Leases, lease("l", "")); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ {
		cur, err := c.Get(ctx, k8sapi.Leases, ns, "l")
		if err != nil {
			t.Fatal(err)
		}
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := cur.DeepCopy()
				_ = o.SetField(fmt.Sprintf("w%d-%d", round, w), "spec", "holderIdentity")
				switch _, err := c.Update(ctx, k8sapi.Leases, o); {
				case err == nil:
					wins.Add(1)
				case k8sapi.IsConflict(err):
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("round %d: %d wins, %d conflicts", round, wins.Load(), conflicts.Load())
		}
	}
}

func TestStartTLS(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{Token: "t"})
	defer srv.Close()
	url, ca := srv.StartTLS()
	c, err := k8sapi.New(k8sapi.Config{Host: url, CAData: ca, BearerToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), k8sapi.ConfigMaps, k8sapi.NewObject(k8sapi.ConfigMaps, ns, "x")); err != nil {
		t.Fatal(err)
	}
	srv.DropNext(1)
	if _, err := c.Get(context.Background(), k8sapi.ConfigMaps, ns, "x"); err == nil {
		t.Error("dropped request over HTTPS succeeded")
	}
	if _, err := c.Get(context.Background(), k8sapi.ConfigMaps, ns, "x"); err != nil {
		t.Errorf("request after a drop: %v", err)
	}
}

func mustJSON(o *k8sapi.Object) string {
	b, _ := json.Marshal(o)
	return string(b)
}
