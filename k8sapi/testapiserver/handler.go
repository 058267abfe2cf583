package testapiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// resources are the kinds the server stores: group/resource → kind.
var resources = map[[2]string]string{
	{"", "endpoints"}:                 "Endpoints",
	{"", "configmaps"}:                "ConfigMap",
	{"", "events"}:                    "Event",
	{"coordination.k8s.io", "leases"}: "Lease",
	{"events.k8s.io", "events"}:       "Event",
	{"", "pods"}:                      "Pod",
}

// createOnUpdate lists the resources whose PUT creates a missing object,
// whatever resourceVersion it carries, as the real server's strategies
// allow (checked against kube-apiserver 1.37).
var createOnUpdate = map[[2]string]bool{
	{"", "endpoints"}:                 true,
	{"coordination.k8s.io", "leases"}: true,
	{"", "events"}:                    true,
	{"events.k8s.io", "events"}:       true,
}

// conditionalOnly lists the resources whose update must carry a
// resourceVersion (the real server answers 422 otherwise).
var conditionalOnly = map[[2]string]bool{
	{"coordination.k8s.io", "leases"}: true,
}

// request is a parsed API path.
type request struct {
	group, version, resource, namespace, name string
	kind                                      string
}

func (r request) apiVersion() string {
	if r.group == "" {
		return r.version
	}
	return r.group + "/" + r.version
}

// qualified is the resource as the real server names it in messages:
// "endpoints", "leases.coordination.k8s.io".
func (r request) qualified() string {
	if r.group == "" {
		return r.resource
	}
	return r.resource + "." + r.group
}

func (r request) key() key { return key{r.group, r.resource, r.namespace, r.name} }

func (r request) details() *statusDetails {
	return &statusDetails{Name: r.name, Group: r.group, Kind: r.resource}
}

// parsePath parses /api/v1/namespaces/NS/RES[/NAME] and
// /apis/GROUP/VERSION/namespaces/NS/RES[/NAME].
func parsePath(p string) (request, bool) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var r request
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		r.version, parts = parts[1], parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		r.group, r.version, parts = parts[1], parts[2], parts[3:]
	default:
		return r, false
	}
	if len(parts) < 3 || len(parts) > 4 || parts[0] != "namespaces" || parts[1] == "" || parts[2] == "" {
		return r, false
	}
	r.namespace, r.resource = parts[1], parts[2]
	if len(parts) == 4 {
		if parts[3] == "" {
			return r, false
		}
		r.name = parts[3]
	}
	if r.version != "v1" {
		return r, false
	}
	kind, ok := resources[[2]string{r.group, r.resource}]
	r.kind = kind
	return r, ok
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	hook, latency := s.hook, s.latency
	drop := s.dropN > 0
	if drop {
		s.dropN--
	}
	hang, unhang := s.hang, s.unhang
	var fail int
	if !drop && s.failN > 0 {
		s.failN--
		fail = s.failCode
	}
	s.mu.Unlock()

	if hook != nil {
		hook(req)
	}
	if drop {
		panic(http.ErrAbortHandler) // the connection goes away unanswered
	}
	if hang {
		select {
		case <-req.Context().Done():
			return
		case <-unhang:
		}
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	r, ok := parsePath(req.URL.Path)
	if ok && r.group == "" && r.resource == "endpoints" && s.opts.EndpointsWarning {
		w.Header().Add("Warning", EndpointsDeprecationWarning)
	}
	if fail != 0 {
		writeStatus(w, injected(fail))
		return
	}
	if s.opts.Token != "" && req.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		writeStatus(w, failure(http.StatusUnauthorized, "", "Unauthorized", nil))
		return
	}
	if req.URL.Path == selfSubjectAccessReviews {
		s.accessReview(w, req)
		return
	}
	if !ok {
		writeStatus(w, failure(http.StatusNotFound, "", "the server could not find the requested resource", &statusDetails{}))
		return
	}
	verb := verbOf(req, r)
	if verb == "" {
		writeStatus(w, failure(http.StatusMethodNotAllowed, "", "the server does not allow this method on the requested resource", &statusDetails{}))
		return
	}
	if !s.allowed(verb, r.group, r.resource) {
		writeStatus(w, s.forbidden(verb, r))
		return
	}
	if st := badPathName(r.name); st != nil {
		writeStatus(w, st)
		return
	}
	switch verb {
	case "get":
		s.get(w, r)
	case "list":
		s.list(w, r)
	case "watch":
		s.watch(w, req, r)
	case "create":
		s.withBody(w, req, r, s.create)
	case "update":
		s.withBody(w, req, r, s.update)
	case "patch":
		s.patch(w, req, r)
	case "delete":
		s.delete(w, r)
	}
}

func verbOf(req *http.Request, r request) string {
	switch {
	case req.Method == http.MethodGet && r.name != "":
		return "get"
	case req.Method == http.MethodGet && isTrue(req.URL.Query().Get("watch")):
		return "watch"
	case req.Method == http.MethodGet:
		return "list"
	case req.Method == http.MethodPost && r.name == "":
		return "create"
	case req.Method == http.MethodPut && r.name != "":
		return "update"
	case req.Method == http.MethodPatch && r.name != "":
		return "patch"
	case req.Method == http.MethodDelete && r.name != "":
		return "delete"
	}
	return ""
}

func isTrue(s string) bool { return s == "1" || s == "true" }

// allowed reports whether a request may do verb on resource of group:
// no Deny entry matches it, and Allow is nil or has an entry that does.
func (s *Server) allowed(verb, group, resource string) bool {
	s.mu.Lock()
	deny := s.deny
	s.mu.Unlock()
	for _, p := range deny {
		if p.matches(verb, group, resource) {
			return false
		}
	}
	if s.opts.Allow == nil {
		return true
	}
	for _, p := range s.opts.Allow {
		if p.matches(verb, group, resource) {
			return true
		}
	}
	return false
}

func (s *Server) forbidden(verb string, r request) *status {
	subject := r.qualified()
	if r.name != "" {
		subject += fmt.Sprintf(" %q", r.name)
	}
	msg := fmt.Sprintf("%s is forbidden: User %q cannot %s resource %q in API group %q in the namespace %q",
		subject, s.opts.User, verb, r.resource, r.group, r.namespace)
	return failure(http.StatusForbidden, "", msg, r.details())
}

func notFound(r request) *status {
	return failure(http.StatusNotFound, "", fmt.Sprintf("%s %q not found", r.qualified(), r.name), r.details())
}

// withBody reads and decodes the request body and passes it to f.
func (s *Server) withBody(w http.ResponseWriter, req *http.Request, r request, f func(http.ResponseWriter, request, map[string]any)) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		writeStatus(w, failure(http.StatusBadRequest, "", "reading the request body: "+err.Error(), nil))
		return
	}
	if len(body) > maxBody {
		writeStatus(w, failure(http.StatusRequestEntityTooLarge, "", "the request body is too large", nil))
		return
	}
	obj, err := decodeObject(bytes.NewReader(body))
	if err != nil {
		writeStatus(w, failure(http.StatusBadRequest, "", "the body of the request was in an unknown format: "+err.Error(), nil))
		return
	}
	if kind := str(obj["kind"]); kind != "" && kind != r.kind {
		writeStatus(w, failure(http.StatusBadRequest, "", fmt.Sprintf("the kind %q of the object does not match the resource %q", kind, r.qualified()), nil))
		return
	}
	if av := str(obj["apiVersion"]); av != "" && av != r.apiVersion() {
		writeStatus(w, failure(http.StatusBadRequest, "", fmt.Sprintf("the apiVersion %q of the object does not match %q", av, r.apiVersion()), nil))
		return
	}
	obj["kind"], obj["apiVersion"] = r.kind, r.apiVersion()
	md := meta(obj)
	if ns := str(md["namespace"]); ns != "" && ns != r.namespace {
		writeStatus(w, failure(http.StatusBadRequest, "", "the namespace of the provided object does not match the namespace sent on the request", nil))
		return
	}
	md["namespace"] = r.namespace
	f(w, r, obj)
}

func (s *Server) get(w http.ResponseWriter, r request) {
	s.mu.Lock()
	obj, ok := s.objects[r.key()]
	var b any = obj
	if ok {
		b = deepCopy(obj)
	}
	s.mu.Unlock()
	if !ok {
		writeStatus(w, notFound(r))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) list(w http.ResponseWriter, r request) {
	s.mu.Lock()
	items := []any{}
	for k, obj := range s.objects {
		if k.group == r.group && k.resource == r.resource && k.namespace == r.namespace {
			items = append(items, deepCopy(obj))
		}
	}
	rv := strconv.FormatInt(s.rv, 10)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": r.kind + "List", "apiVersion": r.apiVersion(),
		"metadata": map[string]any{"resourceVersion": rv}, "items": items,
	})
}

func (s *Server) create(w http.ResponseWriter, r request, obj map[string]any) {
	md := meta(obj)
	name := str(md["name"])
	if name == "" {
		if gen := str(md["generateName"]); gen != "" {
			name = gen[:min(len(gen), maxGeneratedPrefix)] + newUID()[:5]
			md["name"] = name
		}
	}
	r.name = name
	if st := checkNew(r, obj); st != nil {
		writeStatus(w, st)
		return
	}
	if str(md["resourceVersion"]) != "" {
		// The real server answers this 500 without a reason.
		writeStatus(w, &status{Kind: "Status", APIVersion: "v1", Status: "Failure", Code: http.StatusInternalServerError,
			Message: "resourceVersion should not be set on objects to be created"})
		return
	}
	s.mu.Lock()
	if _, exists := s.objects[r.key()]; exists {
		s.mu.Unlock()
		writeStatus(w, failure(http.StatusConflict, "AlreadyExists", fmt.Sprintf("%s %q already exists", r.qualified(), name), r.details()))
		return
	}
	s.fillNewLocked(obj)
	s.storeLocked(r.key(), obj, "ADDED")
	out := deepCopy(obj)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// fillNewLocked gives a new object what the server sets on create.
func (s *Server) fillNewLocked(obj map[string]any) {
	md := meta(obj)
	now := time.Now().UTC().Format(time.RFC3339)
	md["uid"] = newUID()
	md["creationTimestamp"] = now
	md["managedFields"] = []any{map[string]any{
		"manager": "testapiserver", "operation": "Update", "apiVersion": obj["apiVersion"],
		"time": now, "fieldsType": "FieldsV1", "fieldsV1": map[string]any{},
	}}
}

func (s *Server) update(w http.ResponseWriter, r request, obj map[string]any) {
	s.mu.Lock()
	code, out := s.updateLocked(r, obj)
	s.mu.Unlock()
	if st, ok := out.(*status); ok {
		writeStatus(w, st)
		return
	}
	writeJSON(w, code, out)
}

// updateLocked stores obj as an update (a PUT, or a patched object) of the
// object r names, and returns the answer: the code and what was stored, or
// a *status.
func (s *Server) updateLocked(r request, obj map[string]any) (int, any) {
	md := meta(obj)
	if name := str(md["name"]); name != r.name {
		return 0, failure(http.StatusBadRequest, "", fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", name, r.name), nil)
	}
	rv := str(md["resourceVersion"])
	old, exists := s.objects[r.key()]
	createOK := createOnUpdate[[2]string{r.group, r.resource}]
	if uid := str(md["uid"]); uid != "" && (exists || createOK) && (!exists || uid != str(meta(old)["uid"])) {
		// An update that carries a uid is preconditioned on it: the real
		// server answers 409 when the object is gone or is another one,
		// before it would create it.
		return 0, failure(http.StatusConflict, "Conflict", fmt.Sprintf(
			"Operation cannot be fulfilled on %s %q: Precondition failed: UID in precondition: %s, UID in object meta: %s",
			r.qualified(), r.name, uid, str(meta(old)["uid"])), r.details())
	}
	switch {
	case !exists && createOK:
		if st := checkNew(r, obj); st != nil {
			return 0, st
		}
		delete(md, "resourceVersion")
		s.fillNewLocked(obj)
		s.storeLocked(r.key(), obj, "ADDED")
		return http.StatusCreated, deepCopy(obj)
	case !exists:
		return 0, notFound(r)
	case rv == "" && conditionalOnly[[2]string{r.group, r.resource}]:
		// Worded by the real server with the resource, not the kind.
		d := r.details()
		d.Causes = []statusCause{{Reason: "FieldValueInvalid", Field: "metadata.resourceVersion",
			Message: "Invalid value: 0: must be specified for an update"}}
		return 0, failure(http.StatusUnprocessableEntity, "", fmt.Sprintf(
			"%s %q is invalid: metadata.resourceVersion: %s", r.qualified(), r.name, d.Causes[0].Message), d)
	case rv != "" && rv != str(meta(old)["resourceVersion"]):
		return 0, failure(http.StatusConflict, "Conflict", fmt.Sprintf(
			"Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again",
			r.qualified(), r.name), r.details())
	}
	// uid and creationTimestamp are the server's.
	om := meta(old)
	md["uid"], md["creationTimestamp"] = om["uid"], om["creationTimestamp"]
	if _, ok := md["managedFields"]; !ok {
		md["managedFields"] = om["managedFields"]
	}
	md["resourceVersion"] = om["resourceVersion"]
	if sameJSON(obj, old) {
		return http.StatusOK, deepCopy(old) // a no-op update does not bump the version
	}
	s.storeLocked(r.key(), obj, "MODIFIED")
	return http.StatusOK, deepCopy(obj)
}

func (s *Server) delete(w http.ResponseWriter, r request) {
	s.mu.Lock()
	obj, ok := s.objects[r.key()]
	if ok {
		s.deleteLocked(r.key(), obj)
	}
	s.mu.Unlock()
	if !ok {
		writeStatus(w, notFound(r))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Success",
		"details": map[string]any{"name": r.name, "group": r.group, "kind": r.resource, "uid": meta(obj)["uid"]},
	})
}

func sameJSON(a, b map[string]any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return errors.Join(err1, err2) == nil && bytes.Equal(x, y)
}
