package fencing

import (
	"context"
	"fmt"

	"github.com/kubelect/kubelect/k8sapi"
)

// AnnotationKey is the annotation in which UpdateObject records the token
// of the latest write to an object.
const AnnotationKey = "kubelect.io/fencing-token"

// UpdateObject makes a fenced update of a Kubernetes object: it reads the
// object, refuses with a *StaleError when the token recorded in its
// AnnotationKey annotation is higher than t, and otherwise calls mutate on
// it, records t in the annotation and updates it, conditional on the
// resourceVersion it read. It returns the object as stored.
//
// The API server makes the check and the write one step: a write by a
// newer leader between the read and the update makes the update fail
// with a Conflict (k8sapi.IsConflict is true for the error), and reading
// again finds the newer token. So as long as every writer of the object
// uses UpdateObject (or the same annotation and precondition), a paused
// ex-leader's late update is refused by the API server itself. A conflict
// is returned, not retried: call UpdateObject again, which reads the
// object and checks the token anew.
//
// A missing object gives the read's error (k8sapi.IsNotFound); an
// annotation that is not a canonical positive integer gives an error
// wrapping ErrInvalidToken, and no write. An error from mutate is
// returned as it is, and nothing is written.
func UpdateObject(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, namespace, name string, t Token, mutate func(*k8sapi.Object) error) (*k8sapi.Object, error) {
	if t == 0 {
		return nil, invalidf("token 0: tokens are positive")
	}
	what := fmt.Sprintf("%s %s/%s", r.Kind, namespace, name)
	obj, err := c.Get(ctx, r, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("fencing: read %s: %w", what, err)
	}
	if s, ok := obj.Annotations()[AnnotationKey]; ok {
		recorded, err := ParseToken(s)
		if err != nil {
			return nil, fmt.Errorf("fencing: %s's annotation %s: %w", what, AnnotationKey, err)
		}
		if t < recorded {
			return nil, &StaleError{Token: t, Highest: recorded}
		}
	}
	if mutate != nil {
		if err := mutate(obj); err != nil {
			return nil, err
		}
	}
	if err := obj.SetAnnotation(AnnotationKey, t.String()); err != nil {
		return nil, fmt.Errorf("fencing: set %s's annotation %s: %w", what, AnnotationKey, err)
	}
	updated, err := c.Update(ctx, r, obj)
	if k8sapi.IsConflict(err) {
		return nil, fmt.Errorf("fencing: %s changed since it was read; read and check again: %w", what, err)
	}
	if err != nil {
		return nil, fmt.Errorf("fencing: update %s: %w", what, err)
	}
	return updated, nil
}
