package testapiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// selfSubjectAccessReviews is the path a client asks "may I?" at.
const selfSubjectAccessReviews = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

// accessReview answers a SelfSubjectAccessReview (POST, cluster scoped, as
// every authenticated user may) from Options.Allow and the Deny list: the
// same decision the request itself would get. As with kube-apiserver's
// RBAC, the answer is 201 with status.allowed, and no reason for a denial.
// A review of a non-resource URL is allowed unless some Allow or Deny list
// is in use.
func (s *Server) accessReview(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		writeStatus(w, failure(http.StatusMethodNotAllowed, "", "the server does not allow this method on the requested resource", &statusDetails{}))
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeStatus(w, failure(http.StatusBadRequest, "", "reading the request body failed or it is too large", nil))
		return
	}
	review, err := decodeObject(bytes.NewReader(body))
	if err != nil {
		writeStatus(w, failure(http.StatusBadRequest, "", "the body of the request was in an unknown format: "+err.Error(), nil))
		return
	}
	if kind := str(review["kind"]); kind != "" && kind != "SelfSubjectAccessReview" {
		writeStatus(w, failure(http.StatusBadRequest, "", fmt.Sprintf(
			"%s cannot be handled as a SelfSubjectAccessReview: no kind %q is registered for version \"authorization.k8s.io/v1\"", kind, kind), nil))
		return
	}
	spec, _ := review["spec"].(map[string]any)
	attrs, resource := spec["resourceAttributes"].(map[string]any)
	nonResource, hasNonResource := spec["nonResourceAttributes"].(map[string]any)
	if resource == hasNonResource {
		// The real server shows the non-resource attributes as Go prints
		// its internal struct, or null.
		value := "null"
		if hasNonResource {
			b, _ := json.Marshal(struct{ Path, Verb string }{str(nonResource["path"]), str(nonResource["verb"])})
			value = string(b)
		}
		cause := statusCause{Reason: "FieldValueInvalid", Field: "spec",
			Message: "Invalid value: " + value + ": exactly one of nonResourceAttributes or resourceAttributes must be specified"}
		writeStatus(w, failure(http.StatusUnprocessableEntity, "", `.authorization.k8s.io "" is invalid: spec: `+cause.Message,
			&statusDetails{Group: "authorization.k8s.io", Causes: []statusCause{cause}}))
		return
	}
	var allowed bool
	if resource {
		res := str(attrs["resource"])
		if sub := str(attrs["subresource"]); sub != "" {
			res += "/" + sub
		}
		verb := str(attrs["verb"])
		allowed = verb != "" && res != "" && s.allowed(verb, str(attrs["group"]), res)
	} else {
		s.mu.Lock()
		allowed = s.opts.Allow == nil && len(s.deny) == 0
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"metadata": map[string]any{}, "spec": spec,
		"status": map[string]any{"allowed": allowed},
	})
}
