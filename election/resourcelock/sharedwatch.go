package resourcelock

import "github.com/kubelect/kubelect/k8sapi"

// WatchTarget is where a lock's object lives, and the client that reaches
// it: the key under which the locks of one process can share a watch.
type WatchTarget struct {
	Client    *k8sapi.Client
	Resource  k8sapi.Resource
	Namespace string
	Name      string
}

// SharedRecordWatcher is implemented by locks whose object can also be
// followed through a watch of its whole collection, one stream shared by
// every lock of the process in that namespace (see k8sapi.Client.WatchAll).
// The elector uses it when several of its locks share a client; the
// single locks of this package implement it.
type SharedRecordWatcher interface {
	RecordWatcher
	// WatchTarget names the lock's object and its client; an error
	// wrapping ErrInvalidLock for a lock that cannot be used.
	WatchTarget() (WatchTarget, error)
	// DecodeRecord reads the record out of an object a watch delivered,
	// as WatchRecord passes it on: the record and the raw bytes that Get
	// would return for the same object, and for a record that does not
	// decode one held by UnknownLeader, its bytes and an error wrapping
	// ErrInvalidRecord.
	DecodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error)
}

var (
	_ SharedRecordWatcher = (*LeaseLock)(nil)
	_ SharedRecordWatcher = (*ConfigMapLock)(nil)
	_ SharedRecordWatcher = (*EndpointsLock)(nil)
)

// WatchTarget implements SharedRecordWatcher.
func (l *LeaseLock) WatchTarget() (WatchTarget, error) {
	c, err := l.client()
	if err != nil {
		return WatchTarget{}, err
	}
	return WatchTarget{Client: c, Resource: k8sapi.Leases, Namespace: l.LeaseMeta.Namespace, Name: l.LeaseMeta.Name}, nil
}

// DecodeRecord implements SharedRecordWatcher.
func (l *LeaseLock) DecodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	return decodeLease(obj)
}

// WatchTarget implements SharedRecordWatcher.
func (l *ConfigMapLock) WatchTarget() (WatchTarget, error) {
	c, err := l.client()
	if err != nil {
		return WatchTarget{}, err
	}
	return WatchTarget{Client: c, Resource: k8sapi.ConfigMaps, Namespace: l.ConfigMapMeta.Namespace, Name: l.ConfigMapMeta.Name}, nil
}

// DecodeRecord implements SharedRecordWatcher.
func (l *ConfigMapLock) DecodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	return decodeAnnotation(obj)
}

// WatchTarget implements SharedRecordWatcher.
func (l *EndpointsLock) WatchTarget() (WatchTarget, error) {
	c, err := l.client()
	if err != nil {
		return WatchTarget{}, err
	}
	return WatchTarget{Client: c, Resource: k8sapi.Endpoints, Namespace: l.EndpointsMeta.Namespace, Name: l.EndpointsMeta.Name}, nil
}

// DecodeRecord implements SharedRecordWatcher.
func (l *EndpointsLock) DecodeRecord(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	return decodeAnnotation(obj)
}
