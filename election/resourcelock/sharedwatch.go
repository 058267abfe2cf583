package resourcelock

import (
	"context"

	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/k8sapi"
)

// sharedWatcher is implemented by the single locks (and by types that
// embed one): their object can also be followed through a watch of its
// whole collection, shared by the locks of the process. Package election
// reaches it through lockwatch, so that none of it is public.
type sharedWatcher interface {
	RecordWatcher
	// watchTarget names the lock's object and its client; an error
	// wrapping ErrInvalidLock for a lock that cannot be used.
	watchTarget() (lockwatch.Target, error)
	// decodeRecord reads the record out of an object a watch delivered,
	// as WatchRecord passes it on (see lockwatch.Hooks.Shared).
	decodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error)
}

// recordCache is implemented by the single locks, which keep the object
// they last read or wrote.
type recordCache interface {
	// cachedRecord returns the record of the object last read or written
	// and its raw bytes; false when there is none.
	cachedRecord() (*LeaderElectionRecord, []byte, bool)
	// cachedVersion returns the resourceVersion of the object last read
	// or written; false when there is none.
	cachedVersion() (string, bool)
}

var (
	_ sharedWatcher = (*LeaseLock)(nil)
	_ sharedWatcher = (*ConfigMapLock)(nil)
	_ sharedWatcher = (*EndpointsLock)(nil)
	_ recordCache   = (*LeaseLock)(nil)
	_ recordCache   = (*ConfigMapLock)(nil)
	_ recordCache   = (*EndpointsLock)(nil)
)

func init() {
	lockwatch.Register(lockwatch.Hooks[*LeaderElectionRecord]{
		Shared: func(lock any) (lockwatch.Target, func(*k8sapi.Object) (*LeaderElectionRecord, []byte, error), bool) {
			s, ok := lock.(sharedWatcher)
			if !ok {
				return lockwatch.Target{}, nil, false
			}
			t, err := s.watchTarget()
			if err != nil {
				return lockwatch.Target{}, nil, false
			}
			return t, s.decodeRecord, true
		},
		Cached: func(lock any) (*LeaderElectionRecord, []byte, bool) {
			if c, ok := lock.(recordCache); ok {
				return c.cachedRecord()
			}
			return nil, nil, false
		},
		Version: cachedVersion,
		Offer: func(lock any) (func(context.Context, int) (bool, error), bool) {
			if l, ok := lock.(*LeaseLock); ok && l != nil {
				return l.offerSuccessor, true
			}
			return nil, false
		},
	})
}

// cachedVersion is lockwatch.Hooks.Version: a MultiLock's token comes
// from its Secondary, the lock a fleet migrates to (a Lease in the kinds
// New builds), whose object every write of the MultiLock writes last.
func cachedVersion(lock any) (string, bool) {
	switch l := lock.(type) {
	case *MultiLock:
		if l == nil {
			return "", false
		}
		return cachedVersion(l.Secondary)
	case recordCache:
		return l.cachedVersion()
	}
	return "", false
}

func (l *LeaseLock) watchTarget() (lockwatch.Target, error) {
	c, err := l.client()
	if err != nil {
		return lockwatch.Target{}, err
	}
	return lockwatch.Target{Client: c, Resource: k8sapi.Leases, Namespace: l.LeaseMeta.Namespace, Name: l.LeaseMeta.Name}, nil
}

func (l *LeaseLock) decodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	l.cache.fresher(obj)
	return decodeLease(obj)
}

func (l *ConfigMapLock) watchTarget() (lockwatch.Target, error) {
	c, err := l.client()
	if err != nil {
		return lockwatch.Target{}, err
	}
	return lockwatch.Target{Client: c, Resource: k8sapi.ConfigMaps, Namespace: l.ConfigMapMeta.Namespace, Name: l.ConfigMapMeta.Name}, nil
}

func (l *ConfigMapLock) decodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	return decodeAnnotation(obj)
}

func (l *EndpointsLock) watchTarget() (lockwatch.Target, error) {
	c, err := l.client()
	if err != nil {
		return lockwatch.Target{}, err
	}
	return lockwatch.Target{Client: c, Resource: k8sapi.Endpoints, Namespace: l.EndpointsMeta.Namespace, Name: l.EndpointsMeta.Name}, nil
}

func (l *EndpointsLock) decodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	return decodeAnnotation(obj)
}
