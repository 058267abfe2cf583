// Package lockwatch is what package resourcelock tells package election
// about its own single locks (LeaseLock, ConfigMapLock, EndpointsLock) and
// does not tell users: where a lock's object lives, so that the locks of
// one process can share one watch of its collection, how to read the
// record out of an object that watch delivers, the record a lock last
// read or wrote, and what its watch saw of each event besides the record
// (its resourceVersion, where the stream stood before it). Package
// resourcelock registers its Hooks when it is initialised, before any
// package that imports it runs; package election reads them with Get.
package lockwatch

import (
	"context"

	"github.com/kubelect/kubelect/k8sapi"
)

// Target is where a lock's object lives, and the client that reaches it:
// the key under which the locks of one process can share a watch.
type Target struct {
	Client    *k8sapi.Client
	Resource  k8sapi.Resource
	Namespace string
	Name      string
}

// Hooks are package resourcelock's answers about a lock; R is
// *resourcelock.LeaderElectionRecord, which this package cannot name
// without an import cycle.
type Hooks[R any] struct {
	// Shared reports whether lock's object can also be followed through a
	// watch of its whole collection, one stream shared by every lock of
	// the process in that namespace (see k8sapi.Client.WatchAll): false
	// for a lock that is not one of resourcelock's single locks or that
	// cannot be used. Otherwise it returns the lock's Target and decode,
	// which reads the record out of an object the watch delivered as the
	// lock's own watch passes it on: the record and the raw bytes that Get
	// would return for the same object, and for a record that does not
	// decode one held by UnknownLeader, its bytes and an error wrapping
	// ErrInvalidRecord.
	Shared func(lock any) (t Target, decode func(obj *k8sapi.Object) (R, []byte, error), ok bool)
	// Cached returns the record of the object lock last read or wrote and
	// its raw bytes; false when there is none or lock is not one of
	// resourcelock's single locks. A new elector on the same lock, as in
	// a program that stands again after losing, starts from it.
	Cached func(lock any) (rec R, raw []byte, ok bool)
	// Version returns the resourceVersion of the object lock last read
	// or wrote (for a MultiLock, its Secondary's): right after a write,
	// the write's own. False when there is none or lock is not one of
	// resourcelock's locks. The elector's fencing token comes from it.
	Version func(lock any) (resourceVersion string, ok bool)
	// Offer returns the function through which a follower on lock offers
	// to succeed the holder of a term (see resourcelock's
	// SuccessorAnnotationKey): true when its write stored the offer, false
	// and no error when there was nothing to offer for. False when the
	// lock stores no offers (every kind but a Lease).
	Offer func(lock any) (offer func(ctx context.Context, term int) (bool, error), ok bool)
}

// hooks holds the registered Hooks[R].
var hooks any

// Register sets the hooks; package resourcelock calls it from init.
func Register[R any](h Hooks[R]) { hooks = h }

// Get returns the registered hooks; zero (nil functions) when none of
// type Hooks[R] were registered.
func Get[R any]() Hooks[R] {
	h, _ := hooks.(Hooks[R])
	return h
}

// EventKind is what a lock's watch does with an event after telling of it.
type EventKind int

const (
	// RecordEvent: the watch passes Event.Record (the same pointer) to
	// WatchRecord's observe next.
	RecordEvent EventKind = iota
	// DeletedEvent: the object was deleted; the watch calls observe with a
	// nil record next.
	DeletedEvent
	// BookmarkEvent: a bookmark, no write; observe is not called.
	BookmarkEvent
	// SkippedEvent: an object whose record cannot be read at all, or an
	// event of a type the watch does not know; observe is not called.
	SkippedEvent
)

// Event is what a lock's own watch (resourcelock's WatchRecord) tells of
// an event of its stream besides the record: R is
// *resourcelock.LeaderElectionRecord.
type Event[R any] struct {
	Kind EventKind
	// Record is, for a RecordEvent, the record observe is called with next.
	Record R
	// ResourceVersion is the event's object's resourceVersion: for a
	// write, the write's own. "" when the event has none.
	ResourceVersion string
	// From is where the stream stood before the event (see
	// watchloop.Read): the ResourceVersion of the event told before it, in
	// this watch or an earlier one of the same lock, or "" at the start of
	// a watch from the current state, whose first events are that state
	// and not writes as they happened.
	From string
}

// eventsKey is the context key of a lock watch's event listener for R.
type eventsKey[R any] struct{}

// WithEvents returns a context that makes the watch of one of
// resourcelock's single locks (WatchRecord called with it, or with a
// context made from it) call tell with each event of its stream, before
// it calls observe with the event's record, on the same goroutine: so a
// watch that goes through a wrapper of the lock, which calls observe
// itself, still tells. A lock of another package does not tell.
func WithEvents[R any](ctx context.Context, tell func(Event[R])) context.Context {
	return context.WithValue(ctx, eventsKey[R]{}, tell)
}

// Events returns the listener WithEvents put in ctx; nil when none.
func Events[R any](ctx context.Context) func(Event[R]) {
	tell, _ := ctx.Value(eventsKey[R]{}).(func(Event[R]))
	return tell
}
