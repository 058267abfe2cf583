package resourcelock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kubelect/kubelect/k8sapi"
)

// ErrAccessDenied is wrapped by the error of CheckAccess when the API server
// says this client may not make a request its lock needs.
var ErrAccessDenied = errors.New("resourcelock: access denied")

// Permission is one request a lock makes of the API server: Verb on the
// object Name of Resource in Namespace. Name is empty for create, which
// names no object when it is authorized.
type Permission struct {
	Verb      string
	Resource  k8sapi.Resource
	Namespace string
	Name      string
}

// String reads like `update leases.coordination.k8s.io "my-lock" in
// namespace "ns"`.
func (p Permission) String() string {
	return p.Verb + " " + p.object()
}

// object is the resource and name part of String.
func (p Permission) object() string {
	s := qualified(p.Resource)
	if p.Name != "" {
		s += " " + strconv.Quote(p.Name)
	}
	return s + " in namespace " + strconv.Quote(p.Namespace)
}

// qualified names a resource as RBAC and the API server's messages do:
// "leases.coordination.k8s.io", "endpoints".
func qualified(r k8sapi.Resource) string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// AccessError is the error of CheckAccess when the API server denies some
// of the requests a lock needs. It wraps ErrAccessDenied.
type AccessError struct {
	// Lock names the lock, as its Describe does.
	Lock string
	// Missing lists each denied request, in the order they were asked.
	Missing []Permission
}

// Error reads like `resourcelock: lock ns/my-lock: the API server denies:
// update, watch leases.coordination.k8s.io "my-lock" in namespace "ns";
// create events in namespace "ns"`: the verbs missing on each object.
func (e *AccessError) Error() string {
	var b strings.Builder
	b.WriteString("resourcelock: lock ")
	b.WriteString(e.Lock)
	b.WriteString(": the API server denies: ")
	for i := 0; i < len(e.Missing); {
		j := i + 1
		for j < len(e.Missing) && e.Missing[j].object() == e.Missing[i].object() {
			j++
		}
		if i > 0 {
			b.WriteString("; ")
		}
		for k := i; k < j; k++ {
			if k > i {
				b.WriteString(", ")
			}
			b.WriteString(e.Missing[k].Verb)
		}
		b.WriteByte(' ')
		b.WriteString(e.Missing[i].object())
		i = j
	}
	return b.String()
}

// Unwrap returns ErrAccessDenied.
func (e *AccessError) Unwrap() error { return ErrAccessDenied }

// lockVerbs are the verbs a lock uses on its object: get to read it,
// create and update to write it (an update that recreates a deleted Lease
// or Endpoints object is a create too), watch to follow it.
var lockVerbs = []string{"get", "create", "update", "watch"}

// check is one access review to make, through the client that will make
// the request.
type check struct {
	client *k8sapi.Client
	perm   Permission
}

// CheckAccess asks the API server, before an election starts, whether the
// lock's client may make every request the lock makes: get, create, update
// and watch on the lock's object (both objects of a MultiLock), and create
// on core/v1 Events in the lock's namespace when its LockConfig has an
// EventRecorder (through the recorder's own client for an APIEventRecorder).
// Each is one SelfSubjectAccessReview, which every authenticated user may
// send; the reviews are made one after another, each bounded by the
// client's timeout and by ctx.
//
// It returns nil when everything is allowed, an *AccessError (wrapping
// ErrAccessDenied) that lists each denied request, or another error when
// the lock is unusable (wrapping ErrInvalidLock, as its Validate reports)
// or a review could not be made (the server unreachable, or answering the
// review itself with an error). A lock of another type than this package's
// four gives an error wrapping errors.ErrUnsupported.
//
// An allowed review is no promise: admission control may still refuse a
// write, and a Role may change later. A missing watch is not fatal to an
// election (followers then poll the lock every RetryPeriod); a caller that
// accepts that can look for it in AccessError.Missing.
func CheckAccess(ctx context.Context, lock Interface) error {
	if lock == nil {
		return fmt.Errorf("%w: nil lock", ErrInvalidLock)
	}
	if v, ok := lock.(Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	checks, err := accessChecks(lock, true)
	if err != nil {
		return err
	}
	var missing []Permission
	seen := make(map[check]bool, len(checks))
	for _, c := range checks {
		if seen[c] {
			continue
		}
		seen[c] = true
		d, err := c.client.AccessReview(ctx, k8sapi.ResourceAttributes{
			Verb: c.perm.Verb, Resource: c.perm.Resource, Namespace: c.perm.Namespace, Name: c.perm.Name,
		})
		if err != nil {
			return fmt.Errorf("resourcelock: check access of lock %s: %s: %w", lock.Describe(), c.perm, err)
		}
		if !d.Allowed {
			missing = append(missing, c.perm)
		}
	}
	if len(missing) > 0 {
		return &AccessError{Lock: lock.Describe(), Missing: missing}
	}
	return nil
}

// accessChecks lists the reviews lock needs; events says whether its
// event recorder records (a MultiLock records on its primary lock only).
func accessChecks(lock Interface, events bool) ([]check, error) {
	var (
		r      k8sapi.Resource
		meta   ObjectMeta
		client *k8sapi.Client
		config ResourceLockConfig
	)
	switch l := lock.(type) {
	case *LeaseLock:
		r, meta, client, config = k8sapi.Leases, l.LeaseMeta, l.Client, l.LockConfig
	case *EndpointsLock:
		r, meta, client, config = k8sapi.Endpoints, l.EndpointsMeta, l.Client, l.LockConfig
	case *ConfigMapLock:
		r, meta, client, config = k8sapi.ConfigMaps, l.ConfigMapMeta, l.Client, l.LockConfig
	case *MultiLock:
		if l.Primary == nil || l.Secondary == nil {
			return nil, fmt.Errorf("%w: MultiLock: both Primary and Secondary must be set", ErrInvalidLock)
		}
		primary, err := accessChecks(l.Primary, events)
		if err != nil {
			return nil, err
		}
		secondary, err := accessChecks(l.Secondary, false)
		return append(primary, secondary...), err
	default:
		return nil, fmt.Errorf("resourcelock: check access: lock type %T: %w", lock, errors.ErrUnsupported)
	}
	if client == nil {
		return nil, fmt.Errorf("%w: %s lock %s has no Client", ErrInvalidLock, r.Kind, describe(meta))
	}
	var checks []check
	for _, verb := range lockVerbs {
		name := meta.Name
		if verb == "create" {
			name = ""
		}
		checks = append(checks, check{client, Permission{Verb: verb, Resource: r, Namespace: meta.Namespace, Name: name}})
	}
	if events && config.EventRecorder != nil {
		c := client
		if rec, ok := config.EventRecorder.(*APIEventRecorder); ok && rec.client != nil {
			c = rec.client
		}
		checks = append(checks, check{c, Permission{Verb: "create", Resource: k8sapi.Events, Namespace: meta.Namespace}})
	}
	return checks, nil
}
