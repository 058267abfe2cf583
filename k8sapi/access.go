package k8sapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// selfSubjectAccessReviewPath is where a client asks what it may do. Every
// authenticated user may ask (the system:basic-user ClusterRole).
const selfSubjectAccessReviewPath = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

// ResourceAttributes is the request an access review asks about: may this
// client do Verb on Resource (its Group and Resource; a Version is passed
// along but RBAC ignores it), the object Name in Namespace?
type ResourceAttributes struct {
	// Verb is the API verb: get, list, watch, create, update, patch or
	// delete. Required.
	Verb string
	// Resource names the kind of object. Its Resource is required.
	Resource Resource
	// Namespace is the object's namespace; "" asks about all namespaces.
	Namespace string
	// Name is the object's name; "" asks about any object, as a create
	// (which names no object yet) or a list does.
	Name string
}

// AccessDecision is the API server's answer to an access review.
type AccessDecision struct {
	// Allowed is true when the request would be authorized.
	Allowed bool
	// Denied is true when an authorizer explicitly denied it (RBAC never
	// does: it only allows or has no opinion, so a request RBAC does not
	// allow has Allowed and Denied both false).
	Denied bool
	// Reason is the authorizer's explanation, often empty.
	Reason string
	// EvaluationError says why the authorizer could not decide, when it
	// could not: the decision may then be wrong.
	EvaluationError string
}

// AccessReview asks the API server whether this client's identity may make
// the request attrs describes (a SelfSubjectAccessReview). A denial is an
// answer, not an error: the error is for a review that could not be made
// (an invalid attrs, the server unreachable, a non-2xx answer as a
// *StatusError). It is bounded by Config.Timeout on top of ctx.
func (c *Client) AccessReview(ctx context.Context, attrs ResourceAttributes) (AccessDecision, error) {
	switch {
	case attrs.Verb == "":
		return AccessDecision{}, errors.New("k8sapi: access review: empty verb")
	case attrs.Resource.Resource == "":
		return AccessDecision{}, errors.New("k8sapi: access review: empty resource")
	}
	type resourceAttributes struct {
		Namespace string `json:"namespace,omitempty"`
		Verb      string `json:"verb"`
		Group     string `json:"group,omitempty"`
		Version   string `json:"version,omitempty"`
		Resource  string `json:"resource"`
		Name      string `json:"name,omitempty"`
	}
	type spec struct {
		ResourceAttributes resourceAttributes `json:"resourceAttributes"`
	}
	body, err := json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       spec   `json:"spec"`
	}{"authorization.k8s.io/v1", "SelfSubjectAccessReview", spec{resourceAttributes{
		Namespace: attrs.Namespace, Verb: attrs.Verb, Group: attrs.Resource.Group,
		Version: attrs.Resource.Version, Resource: attrs.Resource.Resource, Name: attrs.Name,
	}}})
	if err != nil {
		return AccessDecision{}, fmt.Errorf("k8sapi: access review: %w", err)
	}
	b, err := c.do(ctx, http.MethodPost, selfSubjectAccessReviewPath, contentJSON, body)
	if err != nil {
		return AccessDecision{}, err
	}
	var review struct {
		Kind   string `json:"kind"`
		Status struct {
			Allowed         bool   `json:"allowed"`
			Denied          bool   `json:"denied"`
			Reason          string `json:"reason"`
			EvaluationError string `json:"evaluationError"`
		} `json:"status"`
	}
	if err := json.Unmarshal(b, &review); err != nil || review.Kind != "SelfSubjectAccessReview" {
		if err == nil {
			err = fmt.Errorf("kind %q", review.Kind)
		}
		return AccessDecision{}, fmt.Errorf("k8sapi: POST %s: response is not a SelfSubjectAccessReview (%d bytes, starting %q): %w",
			selfSubjectAccessReviewPath, len(b), snippet(b, c.tokens.secrets()), err)
	}
	st := review.Status
	secrets := c.tokens.secrets()
	return AccessDecision{
		Allowed: st.Allowed, Denied: st.Denied,
		Reason:          redactTokens(st.Reason, secrets, false),
		EvaluationError: redactTokens(st.EvaluationError, secrets, false),
	}, nil
}
