package resourcelock

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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
	watch watchState
}

var (
	_ Interface     = (*EndpointsLock)(nil)
	_ RecordWatcher = (*EndpointsLock)(nil)
	_ RecordCache   = (*EndpointsLock)(nil)
)

// CachedRecord implements RecordCache.
func (l *EndpointsLock) CachedRecord() (*LeaderElectionRecord, []byte, bool) {
	return l.cache.cachedRecord(decodeAnnotation)
}

// Get reads the record from the annotation. An object without the
// annotation gives an empty record.
func (l *EndpointsLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	return getAnnotation(ctx, l.Client, k8sapi.Endpoints, l.EndpointsMeta, &l.cache)
}

// Create creates the Endpoints object with the record in its annotation.
func (l *EndpointsLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	return createAnnotation(ctx, l.Client, k8sapi.Endpoints, l.EndpointsMeta, &l.cache, ler)
}

// Update writes the record into the annotation of the object last read or
// written, keeping everything else on it.
func (l *EndpointsLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	return updateAnnotation(ctx, l.Client, k8sapi.Endpoints, l.EndpointsMeta, &l.cache, ler)
}

// RecordEvent records an event about the Endpoints object.
func (l *EndpointsLock) RecordEvent(event string) {
	recordEvent(l.LockConfig, l.cache.reference(k8sapi.Endpoints, l.EndpointsMeta), event)
}

// WatchRecord follows the Endpoints object's record.
func (l *EndpointsLock) WatchRecord(ctx context.Context, observe func(*LeaderElectionRecord, []byte)) error {
	return watchRecord(ctx, l.Client, k8sapi.Endpoints, l.EndpointsMeta, decodeAnnotation, &l.watch, observe)
}

// Identity is the candidate's identity.
func (l *EndpointsLock) Identity() string { return l.LockConfig.Identity }

// TimePrecision implements Precision: the annotation holds whole seconds.
func (l *EndpointsLock) TimePrecision() time.Duration { return time.Second }

// Describe is "namespace/name".
func (l *EndpointsLock) Describe() string { return describe(l.EndpointsMeta) }

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
	watch watchState
}

var (
	_ Interface     = (*ConfigMapLock)(nil)
	_ RecordWatcher = (*ConfigMapLock)(nil)
	_ RecordCache   = (*ConfigMapLock)(nil)
)

// CachedRecord implements RecordCache.
func (l *ConfigMapLock) CachedRecord() (*LeaderElectionRecord, []byte, bool) {
	return l.cache.cachedRecord(decodeAnnotation)
}

// Get reads the record from the annotation. A ConfigMap without the
// annotation gives an empty record.
func (l *ConfigMapLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	return getAnnotation(ctx, l.Client, k8sapi.ConfigMaps, l.ConfigMapMeta, &l.cache)
}

// Create creates the ConfigMap with the record in its annotation.
func (l *ConfigMapLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	return createAnnotation(ctx, l.Client, k8sapi.ConfigMaps, l.ConfigMapMeta, &l.cache, ler)
}

// Update writes the record into the annotation of the ConfigMap last read
// or written, keeping its data and everything else.
func (l *ConfigMapLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	return updateAnnotation(ctx, l.Client, k8sapi.ConfigMaps, l.ConfigMapMeta, &l.cache, ler)
}

// RecordEvent records an event about the ConfigMap.
func (l *ConfigMapLock) RecordEvent(event string) {
	recordEvent(l.LockConfig, l.cache.reference(k8sapi.ConfigMaps, l.ConfigMapMeta), event)
}

// WatchRecord follows the ConfigMap's record.
func (l *ConfigMapLock) WatchRecord(ctx context.Context, observe func(*LeaderElectionRecord, []byte)) error {
	return watchRecord(ctx, l.Client, k8sapi.ConfigMaps, l.ConfigMapMeta, decodeAnnotation, &l.watch, observe)
}

// Identity is the candidate's identity.
func (l *ConfigMapLock) Identity() string { return l.LockConfig.Identity }

// TimePrecision implements Precision: the annotation holds whole seconds.
func (l *ConfigMapLock) TimePrecision() time.Duration { return time.Second }

// Describe is "namespace/name".
func (l *ConfigMapLock) Describe() string { return describe(l.ConfigMapMeta) }

func getAnnotation(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, cache *objectCache) (*LeaderElectionRecord, []byte, error) {
	obj, err := c.Get(ctx, r, meta.Namespace, meta.Name)
	if err != nil {
		return nil, nil, err
	}
	cache.store(obj)
	return decodeAnnotation(obj)
}

// decodeAnnotation reads the record from the annotation; an object without
// it holds an empty record.
func decodeAnnotation(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	value, ok := obj.Annotations()[LeaderElectionRecordAnnotationKey]
	if !ok || value == "" {
		return &LeaderElectionRecord{}, nil, nil
	}
	var rec LeaderElectionRecord
	if err := json.Unmarshal([]byte(value), &rec); err != nil {
		return invalidRecord([]byte(value), "leaderTransitions", fmt.Errorf("%s/%s: annotation %s: %w", obj.Namespace(), obj.Name(), LeaderElectionRecordAnnotationKey, err))
	}
	return &rec, []byte(value), nil
}

func createAnnotation(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, cache *objectCache, ler LeaderElectionRecord) error {
	obj := k8sapi.NewObject(r, meta.Namespace, meta.Name)
	if err := setAnnotationRecord(obj, ler); err != nil {
		return err
	}
	created, err := c.Create(ctx, r, obj)
	if err != nil {
		return err
	}
	cache.store(created)
	return nil
}

func updateAnnotation(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, cache *objectCache, ler LeaderElectionRecord) error {
	obj, err := cache.editable(r, meta)
	if err != nil {
		return err
	}
	if err := setAnnotationRecord(obj, ler); err != nil {
		return err
	}
	updated, err := c.Update(ctx, r, obj)
	if err != nil {
		return err
	}
	cache.store(updated)
	return recreated(r, meta, obj, updated)
}

func setAnnotationRecord(obj *k8sapi.Object, ler LeaderElectionRecord) error {
	b, err := json.Marshal(ler)
	if err != nil {
		return fmt.Errorf("resourcelock: encode record: %w", err)
	}
	return obj.SetAnnotation(LeaderElectionRecordAnnotationKey, string(b))
}
