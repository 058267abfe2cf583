package resourcelock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// EndpointsLock keeps the record in an annotation of an Endpoints object:
// the seed's lock. Kubernetes deprecated v1 Endpoints in 1.33; prefer
// LeaseLock, and migrate a running fleet with MultiLock.
type EndpointsLock struct {
	// EndpointsMeta names the Endpoints object.
	EndpointsMeta ObjectMeta
	// Client talks to the API server.
	Client *k8sapi.Client
	// LockConfig is the candidate's identity and event recorder.
	LockConfig ResourceLockConfig

	cache objectCache
	watch watchloop.Position
}

var (
	_ Interface     = (*EndpointsLock)(nil)
	_ RecordWatcher = (*EndpointsLock)(nil)
	_ Validator     = (*EndpointsLock)(nil)
)

// client returns the lock's client, or the error of a lock without one.
func (l *EndpointsLock) client() (*k8sapi.Client, error) {
	if l == nil {
		return nil, invalidLock("Endpoints lock", []error{errNilLock})
	}
	return l.Client, ready(k8sapi.Endpoints, l.EndpointsMeta, l.Client)
}

// Validate implements Validator: a client, a valid namespace and name, an
// identity, valid labels and annotations.
func (l *EndpointsLock) Validate() error {
	if l == nil {
		return invalidLock("Endpoints lock", []error{errNilLock})
	}
	return validateLock(k8sapi.Endpoints, l.EndpointsMeta, l.Client, l.LockConfig)
}

// cachedRecord implements recordCache.
func (l *EndpointsLock) cachedRecord() (*LeaderElectionRecord, []byte, bool) {
	return l.cache.cachedRecord(decodeAnnotation)
}

// cachedVersion implements recordCache.
func (l *EndpointsLock) cachedVersion() (string, bool) {
	if l == nil {
		return "", false
	}
	return l.cache.cachedVersion()
}

// Get reads the record from the annotation. An object without the
// annotation gives an empty record.
func (l *EndpointsLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	c, err := l.client()
	if err != nil {
		return nil, nil, err
	}
	return getAnnotation(ctx, c, k8sapi.Endpoints, l.EndpointsMeta, &l.cache)
}

// Create creates the Endpoints object with the record in its annotation.
func (l *EndpointsLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return createAnnotation(ctx, c, k8sapi.Endpoints, l.EndpointsMeta, l.LockConfig, &l.cache, ler)
}

// Update writes the record into the annotation of the object last read or
// written, keeping everything else on it.
func (l *EndpointsLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return updateAnnotation(ctx, c, k8sapi.Endpoints, l.EndpointsMeta, l.LockConfig, &l.cache, ler)
}

// RecordEvent records an event about the Endpoints object.
func (l *EndpointsLock) RecordEvent(event string) {
	if l == nil {
		return
	}
	recordEvent(l.LockConfig, l.cache.reference(k8sapi.Endpoints, l.EndpointsMeta), event)
}

// WatchRecord follows the Endpoints object's record.
func (l *EndpointsLock) WatchRecord(ctx context.Context, observe func(*LeaderElectionRecord, []byte)) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return watchRecord(ctx, c, k8sapi.Endpoints, l.EndpointsMeta, decodeAnnotation, &l.watch, observe)
}

// Identity is the candidate's identity.
func (l *EndpointsLock) Identity() string {
	if l == nil {
		return ""
	}
	return l.LockConfig.Identity
}

// TimePrecision is the unit the annotation stores times in (see
// Interface): a second.
func (l *EndpointsLock) TimePrecision() time.Duration { return time.Second }

// Describe is "namespace/name".
func (l *EndpointsLock) Describe() string {
	if l == nil {
		return "<nil>"
	}
	return describe(l.EndpointsMeta)
}

// ConfigMapLock keeps the record in an annotation of a ConfigMap, like
// EndpointsLock.
type ConfigMapLock struct {
	// ConfigMapMeta names the ConfigMap.
	ConfigMapMeta ObjectMeta
	// Client talks to the API server.
	Client *k8sapi.Client
	// LockConfig is the candidate's identity and event recorder.
	LockConfig ResourceLockConfig

	cache objectCache
	watch watchloop.Position
}

var (
	_ Interface     = (*ConfigMapLock)(nil)
	_ RecordWatcher = (*ConfigMapLock)(nil)
	_ Validator     = (*ConfigMapLock)(nil)
)

// client returns the lock's client, or the error of a lock without one.
func (l *ConfigMapLock) client() (*k8sapi.Client, error) {
	if l == nil {
		return nil, invalidLock("ConfigMap lock", []error{errNilLock})
	}
	return l.Client, ready(k8sapi.ConfigMaps, l.ConfigMapMeta, l.Client)
}

// Validate implements Validator: a client, a valid namespace and name, an
// identity, valid labels and annotations.
func (l *ConfigMapLock) Validate() error {
	if l == nil {
		return invalidLock("ConfigMap lock", []error{errNilLock})
	}
	return validateLock(k8sapi.ConfigMaps, l.ConfigMapMeta, l.Client, l.LockConfig)
}

// cachedRecord implements recordCache.
func (l *ConfigMapLock) cachedRecord() (*LeaderElectionRecord, []byte, bool) {
	return l.cache.cachedRecord(decodeAnnotation)
}

// cachedVersion implements recordCache.
func (l *ConfigMapLock) cachedVersion() (string, bool) {
	if l == nil {
		return "", false
	}
	return l.cache.cachedVersion()
}

// Get reads the record from the annotation. A ConfigMap without the
// annotation gives an empty record.
func (l *ConfigMapLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	c, err := l.client()
	if err != nil {
		return nil, nil, err
	}
	return getAnnotation(ctx, c, k8sapi.ConfigMaps, l.ConfigMapMeta, &l.cache)
}

// Create creates the ConfigMap with the record in its annotation.
func (l *ConfigMapLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return createAnnotation(ctx, c, k8sapi.ConfigMaps, l.ConfigMapMeta, l.LockConfig, &l.cache, ler)
}

// Update writes the record into the annotation of the ConfigMap last read
// or written, keeping its data and everything else.
func (l *ConfigMapLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return updateAnnotation(ctx, c, k8sapi.ConfigMaps, l.ConfigMapMeta, l.LockConfig, &l.cache, ler)
}

// RecordEvent records an event about the ConfigMap.
func (l *ConfigMapLock) RecordEvent(event string) {
	if l == nil {
		return
	}
	recordEvent(l.LockConfig, l.cache.reference(k8sapi.ConfigMaps, l.ConfigMapMeta), event)
}

// WatchRecord follows the ConfigMap's record.
func (l *ConfigMapLock) WatchRecord(ctx context.Context, observe func(*LeaderElectionRecord, []byte)) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return watchRecord(ctx, c, k8sapi.ConfigMaps, l.ConfigMapMeta, decodeAnnotation, &l.watch, observe)
}

// Identity is the candidate's identity.
func (l *ConfigMapLock) Identity() string {
	if l == nil {
		return ""
	}
	return l.LockConfig.Identity
}

// TimePrecision is the unit the annotation stores times in (see
// Interface): a second.
func (l *ConfigMapLock) TimePrecision() time.Duration { return time.Second }

// Describe is "namespace/name".
func (l *ConfigMapLock) Describe() string {
	if l == nil {
		return "<nil>"
	}
	return describe(l.ConfigMapMeta)
}

func getAnnotation(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, cache *objectCache) (*LeaderElectionRecord, []byte, error) {
	obj, err := c.Get(ctx, r, meta.Namespace, meta.Name)
	if err != nil {
		return nil, nil, err
	}
	cache.store(obj)
	return decodeAnnotation(obj)
}

// annotationRecord is the record as JSON in the annotation: the five
// fields that every writer since Kubernetes 1.5 reads and writes, in their
// order, so that the annotation stays byte for byte what it was. client-go
// v0.37's record type also has "strategy" and "preferredHolder" (without
// omitempty), so a record it marshals carries them, empty or not: they are
// accepted and ignored. A planned transfer is a Lease feature.
type annotationRecord struct {
	HolderIdentity       string `json:"holderIdentity"`
	LeaseDurationSeconds int    `json:"leaseDurationSeconds"`
	AcquireTime          Time   `json:"acquireTime"`
	RenewTime            Time   `json:"renewTime"`
	LeaderTransitions    int    `json:"leaderTransitions"`
}

// decodeAnnotation reads the record from the annotation; an object without
// it holds an empty record.
func decodeAnnotation(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	value, ok := obj.Annotations()[LeaderElectionRecordAnnotationKey]
	if !ok || value == "" {
		return &LeaderElectionRecord{}, nil, nil
	}
	var ar annotationRecord
	if err := json.Unmarshal([]byte(value), &ar); err != nil {
		return invalidRecord([]byte(value), "leaderTransitions", fmt.Errorf("%s/%s: annotation %s: %w", obj.Namespace(), obj.Name(), LeaderElectionRecordAnnotationKey, err))
	}
	return &LeaderElectionRecord{
		HolderIdentity:       ar.HolderIdentity,
		LeaseDurationSeconds: ar.LeaseDurationSeconds,
		AcquireTime:          ar.AcquireTime,
		RenewTime:            ar.RenewTime,
		LeaderTransitions:    ar.LeaderTransitions,
	}, []byte(value), nil
}

func createAnnotation(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, lc ResourceLockConfig, cache *objectCache, ler LeaderElectionRecord) error {
	obj := k8sapi.NewObject(r, meta.Namespace, meta.Name)
	if err := setAnnotationRecord(obj, lc, ler); err != nil {
		return err
	}
	created, err := c.Create(ctx, r, obj)
	if err != nil {
		return err
	}
	cache.stored(created)
	return nil
}

func updateAnnotation(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, lc ResourceLockConfig, cache *objectCache, ler LeaderElectionRecord) error {
	obj, err := cache.editable(r, meta)
	if err != nil {
		return err
	}
	if err := setAnnotationRecord(obj, lc, ler); err != nil {
		return err
	}
	updated, err := c.Update(ctx, r, obj)
	if err != nil {
		return err
	}
	cache.stored(updated)
	return recreated(r, meta, obj, updated)
}

// setAnnotationRecord writes ler into the annotation, and lc's labels and
// annotations, keeping everything else on obj. The record's
// PreferredHolder and Strategy are not written.
func setAnnotationRecord(obj *k8sapi.Object, lc ResourceLockConfig, ler LeaderElectionRecord) error {
	b, err := json.Marshal(annotationRecord{
		HolderIdentity:       ler.HolderIdentity,
		LeaseDurationSeconds: ler.LeaseDurationSeconds,
		AcquireTime:          ler.AcquireTime,
		RenewTime:            ler.RenewTime,
		LeaderTransitions:    ler.LeaderTransitions,
	})
	if err != nil {
		return fmt.Errorf("resourcelock: encode record: %w", err)
	}
	return setMetadata(obj, lc, map[string]string{LeaderElectionRecordAnnotationKey: string(b)})
}
