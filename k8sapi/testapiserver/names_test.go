package testapiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// subdomainRule is kube-apiserver's text for a name that is not a DNS-1123
// subdomain.
const subdomainRule = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`

// status builds a Failure Status body as the server sends it.
func status(code int, reason, message string, details map[string]any) map[string]any {
	m := map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": message, "reason": reason, "code": float64(code),
	}
	if details != nil {
		m["details"] = details
	}
	return m
}

func cause(reason, field, message string) map[string]any {
	return map[string]any{"reason": reason, "field": field, "message": message}
}

func body(apiVersion, kind string, meta map[string]any) string {
	b, _ := json.Marshal(map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta})
	return string(b)
}

// The answers below are kube-apiserver v1.37.2's, byte for byte (the
// differential test of test/kube/realapi checks them against it).
func TestInvalidNames(t *testing.T) {
	const leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
	const configmaps = "/api/v1/namespaces/default/configmaps"
	long := strings.Repeat("a", 254)
	longUpper := strings.Repeat("A", 254)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     map[string]any
	}{
		{"upper-case lease", "POST", leases, body("coordination.k8s.io/v1", "Lease", map[string]any{"name": "Upper"}), 422,
			status(422, "Invalid", `Lease.coordination.k8s.io "Upper" is invalid: metadata.name: Invalid value: "Upper": `+subdomainRule,
				map[string]any{"name": "Upper", "group": "coordination.k8s.io", "kind": "Lease", "causes": []any{
					cause("FieldValueInvalid", "metadata.name", `Invalid value: "Upper": `+subdomainRule)}})},
		{"254 characters", "POST", configmaps, body("v1", "ConfigMap", map[string]any{"name": long}), 422,
			status(422, "Invalid", `ConfigMap "`+long+`" is invalid: metadata.name: Invalid value: "`+long+`": must be no more than 253 characters`,
				map[string]any{"name": long, "kind": "ConfigMap", "causes": []any{
					cause("FieldValueInvalid", "metadata.name", `Invalid value: "`+long+`": must be no more than 253 characters`)}})},
		{"254 upper-case characters: two causes", "POST", leases, body("coordination.k8s.io/v1", "Lease", map[string]any{"name": longUpper}), 422,
			status(422, "Invalid", `Lease.coordination.k8s.io "`+longUpper+`" is invalid: [metadata.name: Invalid value: "`+longUpper+
				`": must be no more than 253 characters, metadata.name: Invalid value: "`+longUpper+`": `+subdomainRule+`]`,
				map[string]any{"name": longUpper, "group": "coordination.k8s.io", "kind": "Lease", "causes": []any{
					cause("FieldValueInvalid", "metadata.name", `Invalid value: "`+longUpper+`": must be no more than 253 characters`),
					cause("FieldValueInvalid", "metadata.name", `Invalid value: "`+longUpper+`": `+subdomainRule)}})},
		{"a NUL quoted as Go does", "POST", leases, body("coordination.k8s.io/v1", "Lease", map[string]any{"name": "a\x00b"}), 422,
			status(422, "Invalid", `Lease.coordination.k8s.io "a\x00b" is invalid: metadata.name: Invalid value: "a\x00b": `+subdomainRule,
				map[string]any{"name": "a\x00b", "group": "coordination.k8s.io", "kind": "Lease", "causes": []any{
					cause("FieldValueInvalid", "metadata.name", `Invalid value: "a\x00b": `+subdomainRule)}})},
		{"no name", "POST", leases, body("coordination.k8s.io/v1", "Lease", map[string]any{}), 422,
			status(422, "Invalid", `Lease.coordination.k8s.io "" is invalid: metadata.name: Required value: name or generateName is required`,
				map[string]any{"group": "coordination.k8s.io", "kind": "Lease", "causes": []any{
					cause("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")}})},
		{"an update that creates", "PUT", leases + "/my_lock", body("coordination.k8s.io/v1", "Lease", map[string]any{"name": "my_lock"}), 422,
			status(422, "Invalid", `Lease.coordination.k8s.io "my_lock" is invalid: metadata.name: Invalid value: "my_lock": `+subdomainRule,
				map[string]any{"name": "my_lock", "group": "coordination.k8s.io", "kind": "Lease", "causes": []any{
					cause("FieldValueInvalid", "metadata.name", `Invalid value: "my_lock": `+subdomainRule)}})},
		{"an update of a missing configmap", "PUT", configmaps + "/Upper", body("v1", "ConfigMap", map[string]any{"name": "Upper"}), 404,
			status(404, "NotFound", `configmaps "Upper" not found`, map[string]any{"name": "Upper", "kind": "configmaps"})},
		{"get", "GET", leases + "/Upper", "", 404,
			status(404, "NotFound", `leases.coordination.k8s.io "Upper" not found`, map[string]any{"name": "Upper", "group": "coordination.k8s.io", "kind": "leases"})},
		{"create in an invalid namespace", "POST", "/apis/coordination.k8s.io/v1/namespaces/a.b/leases",
			body("coordination.k8s.io/v1", "Lease", map[string]any{"name": "Upper"}), 404,
			status(404, "NotFound", `namespaces "a.b" not found`, map[string]any{"name": "a.b", "kind": "namespaces"})},
		{"an update that creates in an invalid namespace", "PUT", "/api/v1/namespaces/My_ns/endpoints/x",
			body("v1", "Endpoints", map[string]any{"name": "x"}), 404,
			status(404, "NotFound", `namespaces "My_ns" not found`, map[string]any{"name": "My_ns", "kind": "namespaces"})},
		{"an update of a configmap in an invalid namespace", "PUT", "/api/v1/namespaces/a.b/configmaps/x",
			body("v1", "ConfigMap", map[string]any{"name": "x"}), 404,
			status(404, "NotFound", `configmaps "x" not found`, map[string]any{"name": "x", "kind": "configmaps"})},
		{"get .", "GET", leases + "/%2E", "", 400, status(400, "BadRequest", `Name parameter invalid: ".": may not be '.'`, nil)},
		{"put ..", "PUT", leases + "/%2E%2E", body("coordination.k8s.io/v1", "Lease", map[string]any{"name": ".."}), 400,
			status(400, "BadRequest", `Name parameter invalid: "..": may not be '..'`, nil)},
		{"get a%b", "GET", leases + "/a%25b", "", 400, status(400, "BadRequest", `Name parameter invalid: "a%b": may not contain '%'`, nil)},
		{"get a/b", "GET", leases + "/a%2Fb", "", 404,
			status(404, "NotFound", "the server could not find the requested resource", map[string]any{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testapiserver.New(testapiserver.Options{})
			code, _, got := do(t, srv, tt.method, tt.path, tt.body)
			if diff := cmp.Diff(tt.want, got); code != tt.code || diff != "" {
				t.Errorf("%s %s: %d, want %d; body (-want +got):\n%s", tt.method, tt.path, code, tt.code, diff)
			}
		})
	}
}

// generateName is checked too (with its trailing '-' allowed), and the
// generated name after it, as the real server does.
func TestInvalidGenerateName(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	code, _, got := do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", body("v1", "ConfigMap", map[string]any{"generateName": "Upper-"}))
	details, _ := got["details"].(map[string]any)
	name, _ := details["name"].(string)
	if code != 422 || !strings.HasPrefix(name, "Upper-") || len(name) != len("Upper-")+5 {
		t.Fatalf("generateName Upper-: %d %v", code, got)
	}
	want := status(422, "Invalid", `ConfigMap "`+name+`" is invalid: [metadata.generateName: Invalid value: "Upper-": `+subdomainRule+
		`, metadata.name: Invalid value: "`+name+`": `+subdomainRule+`]`,
		map[string]any{"name": name, "kind": "ConfigMap", "causes": []any{
			cause("FieldValueInvalid", "metadata.generateName", `Invalid value: "Upper-": `+subdomainRule),
			cause("FieldValueInvalid", "metadata.name", `Invalid value: "`+name+`": `+subdomainRule)}})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	code, _, got = do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", body("v1", "ConfigMap", map[string]any{"generateName": "lock-"}))
	if name, _ := meta(got)["name"].(string); code != 201 || !strings.HasPrefix(name, "lock-") {
		t.Errorf("generateName lock-: %d %v", code, got)
	}
	// A long prefix is cut so that the generated name stays a label.
	code, _, got = do(t, srv, "POST", "/api/v1/namespaces/default/configmaps", body("v1", "ConfigMap", map[string]any{"generateName": strings.Repeat("g", 100)}))
	if name, _ := meta(got)["name"].(string); code != 201 || len(name) != 63 {
		t.Errorf("long generateName: %d, name of %d bytes", code, len(name))
	}
}

func meta(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	return m
}

// The server accepts a new lock name exactly when k8sapi.ValidateName does,
// and a namespace exactly when k8sapi.ValidateNamespace does; Events take
// any name, as on the real server.
func TestNameRuleMatchesValidateName(t *testing.T) {
	names := []string{"a", "my-lock", "lock.example.com", "0", "a-b.c-d", strings.Repeat("a", 63) + "." + strings.Repeat("b", 189),
		strings.Repeat("a", 64) + ".b", "", "-a", "a-", "A", "my_lock", "a..b", ".a", "a.", "a.-b", "é", "a b", ".", "..", "a%b",
		strings.Repeat("a", 253), strings.Repeat("a", 254)}
	srv := testapiserver.New(testapiserver.Options{})
	c := client(t, srv)
	ctx := context.Background()
	for _, r := range []k8sapi.Resource{k8sapi.Leases, k8sapi.ConfigMaps, k8sapi.Endpoints} {
		for _, name := range names {
			_, err := c.Create(ctx, r, k8sapi.NewObject(r, ns, name))
			valid := k8sapi.ValidateName(name) == nil
			var se *k8sapi.StatusError
			switch {
			case valid && err != nil:
				t.Errorf("create %s %q: %v, want it created", r.Resource, name, err)
			case !valid && (!errors.As(err, &se) || se.Code != 422 || se.Reason != "Invalid" || se.Details == nil ||
				len(se.Details.Causes) == 0 || se.Details.Causes[0].Field != "metadata.name"):
				t.Errorf("create %s %q: %v, want 422 Invalid with a metadata.name cause", r.Resource, cut(name), err)
			}
		}
	}
	for _, namespace := range []string{"default", "a", strings.Repeat("n", 63), strings.Repeat("n", 64), "a.b", "Upper", "my_ns", "-a", "a-", "é"} {
		_, err := c.Create(ctx, k8sapi.Leases, k8sapi.NewObject(k8sapi.Leases, namespace, "lock"))
		if valid := k8sapi.ValidateNamespace(namespace) == nil; valid != (err == nil) ||
			(!valid && (!k8sapi.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "`+namespace+`" not found`))) {
			t.Errorf("create in namespace %q: %v (valid: %v)", namespace, err, valid)
		}
	}
	if _, err := c.Create(ctx, k8sapi.Events, k8sapi.NewObject(k8sapi.Events, ns, "Upper_case.event")); err != nil {
		t.Errorf("create an event with an upper-case name: %v, want it created", err)
	}
}

func cut(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// A watch of an invalid name opens and shows nothing, as on the real
// server; so does a watch in an invalid namespace.
func TestWatchInvalidName(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	c := client(t, srv)
	ctx := context.Background()
	for _, target := range [][2]string{{ns, "Upper"}, {"a.b", "x"}} {
		w, err := c.Watch(ctx, k8sapi.Leases, target[0], target[1], k8sapi.WatchOptions{})
		if err != nil {
			t.Fatalf("watch %s/%s: %v", target[0], target[1], err)
		}
		// A write to another object, then the end of the stream: the
		// watch saw nothing.
		if _, err := c.Create(ctx, k8sapi.Leases, lease(strings.ToLower(target[1])+"-other", "")); err != nil {
			t.Fatal(err)
		}
		srv.CloseWatches()
		if e, err := w.Next(); err == nil {
			t.Errorf("watch %s/%s: event %s %s, want none", target[0], target[1], e.Type, mustJSON(e.Object))
		}
		w.Close()
	}
}

// A Lease update without a resourceVersion: 422, worded with the resource
// and with its cause, as the real server answers.
func TestUpdateLeaseWithoutResourceVersion(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	const path = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
	if code, _, got := do(t, srv, "POST", path, body("coordination.k8s.io/v1", "Lease", map[string]any{"name": "l"})); code != 201 {
		t.Fatalf("create: %d %v", code, got)
	}
	code, _, got := do(t, srv, "PUT", path+"/l", body("coordination.k8s.io/v1", "Lease", map[string]any{"name": "l"}))
	want := status(422, "Invalid", `leases.coordination.k8s.io "l" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update`,
		map[string]any{"name": "l", "group": "coordination.k8s.io", "kind": "leases", "causes": []any{
			cause("FieldValueInvalid", "metadata.resourceVersion", "Invalid value: 0: must be specified for an update")}})
	if diff := cmp.Diff(want, got); code != 422 || diff != "" {
		t.Errorf("update without resourceVersion: %d (-want +got):\n%s", code, diff)
	}
}
