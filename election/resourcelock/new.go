package resourcelock

import (
	"fmt"
	"maps"

	"github.com/kubelect/kubelect/k8sapi"
)

// The kinds of lock New makes. The two with two names are MultiLocks for
// migrating a running fleet to Leases.
const (
	EndpointsResourceLock        = "endpoints"
	ConfigMapsResourceLock       = "configmaps"
	LeasesResourceLock           = "leases"
	EndpointsLeasesResourceLock  = "endpointsleases"
	ConfigMapsLeasesResourceLock = "configmapsleases"
)

// New returns a lock of the kind lockType on the object namespace/name. It
// refuses, with an error wrapping ErrInvalidLock, what can never work: an
// unknown kind, a nil client, an empty identity, a name or namespace that
// kube-apiserver would refuse (the error then also wraps
// k8sapi.ErrInvalidName), and labels or annotations it would refuse. The
// lock keeps its own copies of rlc's Labels and Annotations.
func New(lockType, namespace, name string, client *k8sapi.Client, rlc ResourceLockConfig) (Interface, error) {
	if rlc.Labels != nil {
		rlc.Labels = maps.Clone(rlc.Labels)
	}
	if rlc.Annotations != nil {
		rlc.Annotations = maps.Clone(rlc.Annotations)
	}
	meta := ObjectMeta{Namespace: namespace, Name: name}
	endpoints := func() Interface { return &EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: rlc} }
	configMap := func() Interface { return &ConfigMapLock{ConfigMapMeta: meta, Client: client, LockConfig: rlc} }
	lease := func() Interface { return &LeaseLock{LeaseMeta: meta, Client: client, LockConfig: rlc} }
	var lock Interface
	switch lockType {
	case EndpointsResourceLock:
		lock = endpoints()
	case ConfigMapsResourceLock:
		lock = configMap()
	case LeasesResourceLock:
		lock = lease()
	case EndpointsLeasesResourceLock:
		lock = &MultiLock{Primary: endpoints(), Secondary: lease()}
	case ConfigMapsLeasesResourceLock:
		lock = &MultiLock{Primary: configMap(), Secondary: lease()}
	default:
		return nil, fmt.Errorf("%w: unknown lock type %q: want %s, %s, %s, %s or %s", ErrInvalidLock, lockType,
			LeasesResourceLock, EndpointsResourceLock, ConfigMapsResourceLock, EndpointsLeasesResourceLock, ConfigMapsLeasesResourceLock)
	}
	check := lock
	if ml, ok := lock.(*MultiLock); ok {
		// Both locks share one configuration: report its problems once.
		check = ml.Primary
	}
	if err := check.(Validator).Validate(); err != nil {
		return nil, err
	}
	return lock, nil
}
