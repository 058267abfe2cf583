package resourcelock

import (
	"context"
	"fmt"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// LeaseLock keeps the record in the spec of a coordination.k8s.io/v1 Lease:
// the lock Kubernetes components use, and the one to choose for new
// programs.
type LeaseLock struct {
	// LeaseMeta names the Lease.
	LeaseMeta ObjectMeta
	// Client talks to the API server.
	Client *k8sapi.Client
	// LockConfig is the candidate's identity and event recorder.
	LockConfig ResourceLockConfig

	cache objectCache
	watch watchState
}

var (
	_ Interface     = (*LeaseLock)(nil)
	_ RecordWatcher = (*LeaseLock)(nil)
	_ RecordCache   = (*LeaseLock)(nil)
)

// CachedRecord implements RecordCache.
func (l *LeaseLock) CachedRecord() (*LeaderElectionRecord, []byte, bool) {
	return l.cache.cachedRecord(decodeLease)
}

// leaseSpec is the part of a Lease's spec that holds the record.
type leaseSpec struct {
	HolderIdentity       *string `json:"holderIdentity"`
	LeaseDurationSeconds *int    `json:"leaseDurationSeconds"`
	AcquireTime          *Time   `json:"acquireTime"`
	RenewTime            *Time   `json:"renewTime"`
	LeaseTransitions     *int    `json:"leaseTransitions"`
}

// Get reads the record from the Lease's spec. The raw bytes returned are
// the spec's JSON as the server sent it.
func (l *LeaseLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	obj, err := l.Client.Get(ctx, k8sapi.Leases, l.LeaseMeta.Namespace, l.LeaseMeta.Name)
	if err != nil {
		return nil, nil, err
	}
	l.cache.store(obj)
	return decodeLease(obj)
}

// decodeLease reads the record from a Lease's spec.
func decodeLease(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	var spec leaseSpec
	if _, err := obj.DecodeField(&spec, "spec"); err != nil {
		raw, _ := obj.Field("spec")
		return invalidRecord(raw, "leaseTransitions", fmt.Errorf("Lease %s/%s: spec: %w", obj.Namespace(), obj.Name(), err))
	}
	var rec LeaderElectionRecord
	if spec.HolderIdentity != nil {
		rec.HolderIdentity = *spec.HolderIdentity
	}
	if spec.LeaseDurationSeconds != nil {
		rec.LeaseDurationSeconds = *spec.LeaseDurationSeconds
	}
	if spec.AcquireTime != nil {
		rec.AcquireTime = *spec.AcquireTime
	}
	if spec.RenewTime != nil {
		rec.RenewTime = *spec.RenewTime
	}
	if spec.LeaseTransitions != nil {
		rec.LeaderTransitions = *spec.LeaseTransitions
	}
	// The spec's bytes as stored: the times in them have microseconds, so
	// every renewal changes them.
	raw, _ := obj.Field("spec")
	return &rec, raw, nil
}

// WatchRecord follows the Lease's record.
func (l *LeaseLock) WatchRecord(ctx context.Context, observe func(*LeaderElectionRecord, []byte)) error {
	return watchRecord(ctx, l.Client, k8sapi.Leases, l.LeaseMeta, decodeLease, &l.watch, observe)
}

// Create creates the Lease holding the record.
func (l *LeaseLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	obj := k8sapi.NewObject(k8sapi.Leases, l.LeaseMeta.Namespace, l.LeaseMeta.Name)
	if err := setLeaseRecord(obj, ler); err != nil {
		return err
	}
	created, err := l.Client.Create(ctx, k8sapi.Leases, obj)
	if err != nil {
		return err
	}
	l.cache.store(created)
	return nil
}

// Update writes the record into the spec of the Lease last read or
// written, keeping every other field (spec.strategy, labels, ...). When the
// Lease was deleted meanwhile and the server created it from the update,
// the record is written and the error wraps ErrRecreated.
func (l *LeaseLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	obj, err := l.cache.editable(k8sapi.Leases, l.LeaseMeta)
	if err != nil {
		return err
	}
	if err := setLeaseRecord(obj, ler); err != nil {
		return err
	}
	updated, err := l.Client.Update(ctx, k8sapi.Leases, obj)
	if err != nil {
		return err
	}
	l.cache.store(updated)
	return recreated(k8sapi.Leases, l.LeaseMeta, obj, updated)
}

// RecordEvent records an event about the Lease.
func (l *LeaseLock) RecordEvent(event string) {
	recordEvent(l.LockConfig, l.cache.reference(k8sapi.Leases, l.LeaseMeta), event)
}

// Identity is the candidate's identity.
func (l *LeaseLock) Identity() string { return l.LockConfig.Identity }

// TimePrecision implements Precision: Lease times are MicroTime.
func (l *LeaseLock) TimePrecision() time.Duration { return time.Microsecond }

// Describe is "namespace/name".
func (l *LeaseLock) Describe() string { return describe(l.LeaseMeta) }

func setLeaseRecord(obj *k8sapi.Object, ler LeaderElectionRecord) error {
	err := obj.SetFields(map[string]any{
		"holderIdentity":       ler.HolderIdentity,
		"leaseDurationSeconds": ler.LeaseDurationSeconds,
		"acquireTime":          microTime(ler.AcquireTime.Time),
		"renewTime":            microTime(ler.RenewTime.Time),
		"leaseTransitions":     ler.LeaderTransitions,
	}, "spec")
	if err != nil {
		return fmt.Errorf("resourcelock: set the record: %w", err)
	}
	return nil
}

// microTime marshals like a Kubernetes MicroTime: RFC 3339 in UTC with six
// fractional digits, and null for the zero time.
type microTime time.Time

const microTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON implements json.Marshaler.
func (t microTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(microTimeLayout)+2)
	b = append(b, '"')
	b = tt.UTC().AppendFormat(b, microTimeLayout)
	return append(b, '"'), nil
}
