// Package lockwatch is what package resourcelock tells package election
// about its own single locks (LeaseLock, ConfigMapLock, EndpointsLock) and
// does not tell users: where a lock's object lives, so that the locks of
// one process can share one watch of its collection, how to read the
// record out of an object that watch delivers, and the record a lock last
// read or wrote. Package resourcelock registers its Hooks when it is
// initialised, before any package that imports it runs; package election
// reads them with Get.
package lockwatch

import "github.com/kubelect/kubelect/k8sapi"

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
