package resourcelock

import (
	"errors"
	"fmt"

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

// New returns a lock of the kind lockType on the object namespace/name.
func New(lockType, namespace, name string, client *k8sapi.Client, rlc ResourceLockConfig) (Interface, error) {
	switch {
	case namespace == "":
		return nil, errors.New("resourcelock: namespace must not be empty")
	case name == "":
		return nil, errors.New("resourcelock: name must not be empty")
	case client == nil:
		return nil, errors.New("resourcelock: client must not be nil")
	case rlc.Identity == "":
		return nil, errors.New("resourcelock: identity must not be empty")
	}
	meta := ObjectMeta{Namespace: namespace, Name: name}
	endpoints := func() Interface { return &EndpointsLock{EndpointsMeta: meta, Client: client, LockConfig: rlc} }
	configMap := func() Interface { return &ConfigMapLock{ConfigMapMeta: meta, Client: client, LockConfig: rlc} }
	lease := func() Interface { return &LeaseLock{LeaseMeta: meta, Client: client, LockConfig: rlc} }
	switch lockType {
	case EndpointsResourceLock:
		return endpoints(), nil
	case ConfigMapsResourceLock:
		return configMap(), nil
	case LeasesResourceLock:
		return lease(), nil
	case EndpointsLeasesResourceLock:
		return &MultiLock{Primary: endpoints(), Secondary: lease()}, nil
	case ConfigMapsLeasesResourceLock:
		return &MultiLock{Primary: configMap(), Secondary: lease()}, nil
	}
	return nil, fmt.Errorf("resourcelock: unknown lock type %q: want %s, %s, %s, %s or %s", lockType,
		LeasesResourceLock, EndpointsResourceLock, ConfigMapsResourceLock, EndpointsLeasesResourceLock, ConfigMapsLeasesResourceLock)
}
