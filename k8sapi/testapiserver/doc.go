// Package testapiserver is an in-process Kubernetes API server for tests.
//
// It serves the REST subset that leader election uses — core/v1 Endpoints,
// ConfigMaps, Events and Pods (only as tests create them: nothing runs),
// coordination.k8s.io/v1 Leases and events.k8s.io/v1 Events in namespaces:
// get, list, create, update, patch, delete and watch — with the real
// server's semantics where the library depends on them: one
// resourceVersion counter bumped on every write (and not on a no-op update),
// 201 on create, 404 NotFound, 409 AlreadyExists on create and 409 Conflict
// on an update with a stale resourceVersion, watch streams that replay from
// a resourceVersion and answer 410 Gone (as an ERROR event) for one too old,
// JSON Patch (RFC 6902: add, remove, replace, move, copy, test) and JSON
// merge patch with the real server's answers (422 Invalid for a JSON Patch
// whose test fails or whose path is missing, 415 for the patch types it
// does not apply: strategic merge patch and apply),
// Status bodies shaped like the real server's, bearer-token checks (401)
// and per-resource allow and deny lists (403), the real server's 422 for a
// new Lease, ConfigMap, Endpoints object or Pod whose name is not a DNS-1123
// subdomain (404 for a create in a namespace that is not a DNS-1123 label,
// which no namespace can be called), and SelfSubjectAccessReviews answered
// from the same lists, so that a program's own preflight check can be
// tested (Options.Deny, SetDeny).
//
// Use it over real loopback HTTPS (StartTLS) or, without sockets, as an
// http.RoundTripper (Client; Config for a client config to change first;
// RoundTripper), which also works inside a testing/synctest bubble. Fault
// injection (SetLatency, FailNext, DropNext, SetHang, CloseWatches) and a
// hook that sees every request (SetHook) let tests drive leader-elected
// code through API server trouble.
//
// It is a test double: no admission, no validation beyond what is listed,
// no field selectors but metadata.name, no label selectors, no persistence.
package testapiserver
