package resourcelock

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/kubelect/kubelect/k8sapi"
)

// ObjectMeta names a lock object. Seed-era code wrote
// EndpointsMeta: api.ObjectMeta{Namespace: ns, Name: name}; here it is
// resourcelock.ObjectMeta with the same two fields.
type ObjectMeta struct {
	Namespace string
	Name      string
}

// ResourceLockConfig is what a lock knows about its candidate.
type ResourceLockConfig struct {
	// Identity is the candidate's unique identity (a pod name, say).
	Identity string
	// EventRecorder, when set, records events about the lock object
	// ("<identity> became leader"). Optional.
	EventRecorder EventRecorder
	// Labels are put on the lock object when the lock creates it, and set
	// again to these values by every update, so that the object can be
	// found with a label selector even after someone removed them. Other
	// labels on the object are kept as they are. Keys and values must be
	// valid Kubernetes label keys and values. Optional.
	Labels map[string]string
	// Annotations are put on the lock object and kept like Labels. Keys
	// must be valid annotation keys other than the keys this package
	// writes (LeaderElectionRecordAnnotationKey,
	// PreferredHolderAnnotationKey and SuccessorAnnotationKey), and all of
	// them together may hold at
	// most 256 KiB. Optional.
	Annotations map[string]string
}

// objectCache holds the object a lock last read or wrote: updates are made
// on a copy of it, carrying its resourceVersion, and a failed update keeps it.
type objectCache struct {
	mu      sync.Mutex
	obj     *k8sapi.Object // guarded by mu; never modified once stored
	written string         // guarded by mu: the resourceVersion of the last write's answer
}

func (c *objectCache) load() *k8sapi.Object {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.obj
}

func (c *objectCache) store(obj *k8sapi.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.obj = obj
}

// stored caches obj, the answer to a write of the record.
func (c *objectCache) stored(obj *k8sapi.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.obj, c.written = obj, obj.ResourceVersion()
}

// fresher caches obj, a version of the cached object that a watch
// delivered, when it is later and differs only beside the record and the
// transfer request: an offer to succeed, say, or someone's label. The
// lock's next update then carries obj's resourceVersion, and keeps what
// changed, where it would have conflicted and read the object again. A
// change of the record, the preferred holder or the uid, and any version
// that does not read as later (resourceVersions compare as integers since
// Kubernetes 1.35), leave the cache alone: the elector learns of those
// from the conflict.
func (c *objectCache) fresher(obj *k8sapi.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.obj
	if old == nil || obj == nil {
		return
	}
	// The spec first: it differs in almost every event (a renewal), and
	// comparing it reads no metadata, which holds the managed fields.
	a, _ := old.Field("spec")
	b, _ := obj.Field("spec")
	if !bytes.Equal(a, b) || old.UID() != obj.UID() || preferredHolder(old) != preferredHolder(obj) {
		return
	}
	was, err1 := strconv.ParseUint(old.ResourceVersion(), 10, 64)
	is, err2 := strconv.ParseUint(obj.ResourceVersion(), 10, 64)
	if err1 != nil || err2 != nil || is <= was {
		return
	}
	c.obj = obj
}

// editable returns a copy of the cached object to change and update, or an
// error when the lock has not read or written its object yet.
func (c *objectCache) editable(r k8sapi.Resource, meta ObjectMeta) (*k8sapi.Object, error) {
	obj := c.load()
	if obj == nil {
		return nil, fmt.Errorf("resourcelock: %s lock %s/%s not initialized: call Get or Create first", r.Kind, meta.Namespace, meta.Name)
	}
	return obj.DeepCopy(), nil
}

// reference describes the cached object for an event.
func (c *objectCache) reference(r k8sapi.Resource, meta ObjectMeta) ObjectReference {
	ref := ObjectReference{Kind: r.Kind, APIVersion: r.APIVersion(), Namespace: meta.Namespace, Name: meta.Name}
	if obj := c.load(); obj != nil {
		ref.UID, ref.ResourceVersion = obj.UID(), obj.ResourceVersion()
	}
	return ref
}

// recordEvent records "<identity> <event>" about the lock object.
func recordEvent(lc ResourceLockConfig, ref ObjectReference, event string) {
	if lc.EventRecorder == nil {
		return
	}
	lc.EventRecorder.Eventf(ref, "Normal", "LeaderElection", "%v %v", lc.Identity, event)
}

func describe(meta ObjectMeta) string { return meta.Namespace + "/" + meta.Name }

// recreated returns an error wrapping ErrRecreated when updated, the answer
// to an update of old, is another object: the server created it anew.
func recreated(r k8sapi.Resource, meta ObjectMeta, old, updated *k8sapi.Object) error {
	// Each UID decodes the metadata: once, and the second only if needed.
	was := old.UID()
	if was == "" {
		return nil
	}
	is := updated.UID()
	if is == "" || was == is {
		return nil
	}
	return fmt.Errorf("%w: %s %s/%s (uid %s, was %s)", ErrRecreated, r.Kind, meta.Namespace, meta.Name, is, was)
}

// cachedRecord decodes the record of the cached object, if any.
func (c *objectCache) cachedRecord(decode decodeFunc) (*LeaderElectionRecord, []byte, bool) {
	obj := c.load()
	if obj == nil {
		return nil, nil, false
	}
	rec, raw, err := decode(obj)
	if err != nil && !errors.Is(err, ErrInvalidRecord) {
		return nil, nil, false
	}
	return rec, raw, true
}

// cachedVersion returns the resourceVersion of the answer to the lock's
// last write of the record, if any.
func (c *objectCache) cachedVersion() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written, c.written != ""
}
