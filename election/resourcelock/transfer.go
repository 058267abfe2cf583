package resourcelock

import (
	"context"
	"errors"
	"fmt"

	"github.com/kubelect/kubelect/k8sapi"
)

// ErrNotLease is wrapped by the error of RequestTransfer when the lock is an
// Endpoints or ConfigMap object: a planned transfer needs a Lease lock.
var ErrNotLease = errors.New("resourcelock: a planned transfer needs a Lease lock")

// transferAttempts is how many conflicting writes RequestTransfer reads
// again after before it gives up.
const transferAttempts = 5

// RequestTransfer asks the holder of the Lease lock namespace/name to hand
// over to the candidate whose identity is to, as a transfer tool would; an
// empty to withdraws a request. It names to as the preferred holder in the
// annotation PreferredHolderAnnotationKey, which every API server keeps,
// and in spec.preferredHolder when the Lease has a spec.strategy (which
// only a server with the CoordinatedLeaderElection feature gate keeps);
// the record itself is not touched, so followers do not take the request
// for a renewal. Electors of this package honour the request; client-go's
// honour spec.preferredHolder only.
//
// The write is conditional on the resourceVersion read: a concurrent write
// (a renewal) makes it read again, up to a few times. The leader's own next
// renewal then conflicts too, and it reads the request. A Lease that names
// to already is left as it is. When there is no Lease but an Endpoints or
// ConfigMap lock of that name, the error wraps ErrNotLease; when there is
// no lock at all, it is the NotFound error of the Lease. ctx bounds the
// whole call.
func RequestTransfer(ctx context.Context, client *k8sapi.Client, namespace, name, to string) error {
	meta := ObjectMeta{Namespace: namespace, Name: name}
	var problems []error
	if client == nil {
		problems = append(problems, errNoClient)
	}
	if err := k8sapi.ValidateNamespace(namespace); err != nil {
		problems = append(problems, err)
	}
	if err := k8sapi.ValidateName(name); err != nil {
		problems = append(problems, err)
	}
	if err := invalidLock(lockName(k8sapi.Leases, meta), problems); err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < transferAttempts; attempt++ {
		obj, err := client.Get(ctx, k8sapi.Leases, namespace, name)
		if k8sapi.IsNotFound(err) {
			return notLease(ctx, client, meta, err)
		}
		if err != nil {
			return fmt.Errorf("resourcelock: transfer of Lease %s to %q: %w", describe(meta), to, err)
		}
		if prefers(obj, to) {
			return nil
		}
		if err := setPreferredHolder(obj, to); err != nil {
			return fmt.Errorf("resourcelock: transfer of Lease %s to %q: %w", describe(meta), to, err)
		}
		_, err = client.Update(ctx, k8sapi.Leases, obj)
		if err == nil {
			return nil
		}
		if !k8sapi.IsConflict(err) {
			return fmt.Errorf("resourcelock: transfer of Lease %s to %q: %w", describe(meta), to, err)
		}
		lastErr = err
	}
	return fmt.Errorf("resourcelock: transfer of Lease %s to %q: %d writes conflicted: %w", describe(meta), to, transferAttempts, lastErr)
}

// prefers reports whether the Lease obj holds exactly what
// setPreferredHolder(obj, holder) would write.
func prefers(obj *k8sapi.Object, holder string) bool {
	_, annotated := obj.Field("metadata", "annotations", PreferredHolderAnnotationKey)
	_, inSpec := obj.Field("spec", "preferredHolder")
	switch {
	case holder == "":
		return !annotated && !inSpec
	case stringField(obj, "metadata", "annotations", PreferredHolderAnnotationKey) != holder:
		return false
	case stringField(obj, "spec", "strategy") == "":
		return !inSpec
	}
	return stringField(obj, "spec", "preferredHolder") == holder
}

// notLease explains a missing Lease: an error wrapping ErrNotLease when
// namespace/name is a ConfigMap or Endpoints lock (an object holding the
// record's annotation), else notFound as it is, wrapped.
func notLease(ctx context.Context, client *k8sapi.Client, meta ObjectMeta, notFound error) error {
	for _, r := range []k8sapi.Resource{k8sapi.ConfigMaps, k8sapi.Endpoints} {
		obj, err := client.Get(ctx, r, meta.Namespace, meta.Name)
		if err != nil {
			continue // not there, or not readable: no better answer
		}
		if _, ok := obj.Field("metadata", "annotations", LeaderElectionRecordAnnotationKey); ok {
			return fmt.Errorf("%w: %s is a %s lock", ErrNotLease, describe(meta), r.Kind)
		}
	}
	return fmt.Errorf("resourcelock: transfer: no Lease %s: %w", describe(meta), notFound)
}
