package resourcelock

import (
	"context"
	"fmt"
	"time"

	"github.com/kubelect/kubelect/internal/watchloop"
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
	watch watchloop.Position
}

var (
	_ Interface     = (*LeaseLock)(nil)
	_ RecordWatcher = (*LeaseLock)(nil)
	_ Validator     = (*LeaseLock)(nil)
)

// cachedRecord implements recordCache.
func (l *LeaseLock) cachedRecord() (*LeaderElectionRecord, []byte, bool) {
	return l.cache.cachedRecord(decodeLease)
}

// cachedVersion implements recordCache.
func (l *LeaseLock) cachedVersion() (string, bool) {
	if l == nil {
		return "", false
	}
	return l.cache.cachedVersion()
}

// leaseSpec is the part of a Lease's spec that holds the record.
type leaseSpec struct {
	HolderIdentity       *string `json:"holderIdentity"`
	LeaseDurationSeconds *int    `json:"leaseDurationSeconds"`
	AcquireTime          *Time   `json:"acquireTime"`
	RenewTime            *Time   `json:"renewTime"`
	LeaseTransitions     *int    `json:"leaseTransitions"`
}

// PreferredHolderAnnotationKey is the Lease annotation through which a
// planned transfer names the candidate the holder should hand over to (see
// RequestTransfer). kube-apiserver drops spec.preferredHolder unless the
// CoordinatedLeaderElection feature gate is on, so LeaseLock writes this
// annotation as well, and reads it before spec.preferredHolder.
const PreferredHolderAnnotationKey = "kubelect.io/preferred-holder"

// client returns the lock's client, or the error of a lock without one.
func (l *LeaseLock) client() (*k8sapi.Client, error) {
	if l == nil {
		return nil, invalidLock("Lease lock", []error{errNilLock})
	}
	return l.Client, ready(k8sapi.Leases, l.LeaseMeta, l.Client)
}

// Validate implements Validator: a client, a valid namespace and name, an
// identity, valid labels and annotations.
func (l *LeaseLock) Validate() error {
	if l == nil {
		return invalidLock("Lease lock", []error{errNilLock})
	}
	return validateLock(k8sapi.Leases, l.LeaseMeta, l.Client, l.LockConfig)
}

// Get reads the record from the Lease's spec, and its preferred holder from
// the annotation PreferredHolderAnnotationKey, else from
// spec.preferredHolder. The raw bytes returned are the spec's JSON as the
// server sent it: a change of the annotation alone (a transfer request) is
// no renewal, and leaves them as they were.
func (l *LeaseLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	c, err := l.client()
	if err != nil {
		return nil, nil, err
	}
	obj, err := c.Get(ctx, k8sapi.Leases, l.LeaseMeta.Namespace, l.LeaseMeta.Name)
	if err != nil {
		return nil, nil, err
	}
	l.cache.store(obj)
	return decodeLease(obj)
}

// decodeLease reads the record from a Lease's spec and annotations.
func decodeLease(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error) {
	var spec leaseSpec
	if _, err := obj.DecodeField(&spec, "spec"); err != nil {
		raw, _ := obj.Field("spec")
		return invalidRecord(raw, "leaseTransitions", fmt.Errorf("spec of Lease %s/%s: %w", obj.Namespace(), obj.Name(), err))
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
	// The transfer fields are read on their own: one that is not a string
	// (no API server stores such a Lease) reads as absent rather than
	// making the whole record undecodable, which no write of the lock
	// could repair, since it keeps spec.strategy.
	rec.Strategy = stringField(obj, "spec", "strategy")
	rec.PreferredHolder = preferredHolder(obj)
	rec.Successor = successorOf(obj, rec.LeaderTransitions)
	// The spec's bytes as stored: the times in them have microseconds, so
	// every renewal changes them.
	raw, _ := obj.Field("spec")
	return &rec, raw, nil
}

// preferredHolder is the holder a Lease names as preferred: the
// annotation, else spec.preferredHolder.
func preferredHolder(obj *k8sapi.Object) string {
	if h := stringField(obj, "metadata", "annotations", PreferredHolderAnnotationKey); h != "" {
		return h
	}
	return stringField(obj, "spec", "preferredHolder")
}

// WatchRecord follows the Lease's record.
func (l *LeaseLock) WatchRecord(ctx context.Context, observe func(*LeaderElectionRecord, []byte)) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	return watchRecord(ctx, c, k8sapi.Leases, l.LeaseMeta, l.decodeRecord, &l.watch, observe)
}

// Create creates the Lease holding the record, with the configured labels
// and annotations and, when ler names one, the preferred holder.
func (l *LeaseLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	obj := k8sapi.NewObject(k8sapi.Leases, l.LeaseMeta.Namespace, l.LeaseMeta.Name)
	if err := setLeaseRecord(obj, l.LockConfig, ler); err != nil {
		return err
	}
	created, err := c.Create(ctx, k8sapi.Leases, obj)
	if err != nil {
		return err
	}
	l.cache.stored(created)
	return nil
}

// Update writes the record into the spec of the Lease last read or
// written, sets the configured labels and annotations, and sets or removes
// the preferred holder as ler says; every other field (spec.strategy,
// other labels, ...) stays as it was. When the Lease was deleted meanwhile
// and the server created it from the update, the record is written and the
// error wraps ErrRecreated.
func (l *LeaseLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	c, err := l.client()
	if err != nil {
		return err
	}
	obj, err := l.cache.editable(k8sapi.Leases, l.LeaseMeta)
	if err != nil {
		return err
	}
	if err := setLeaseRecord(obj, l.LockConfig, ler); err != nil {
		return err
	}
	updated, err := c.Update(ctx, k8sapi.Leases, obj)
	if err != nil {
		return err
	}
	l.cache.stored(updated)
	return recreated(k8sapi.Leases, l.LeaseMeta, obj, updated)
}

// RecordEvent records an event about the Lease.
func (l *LeaseLock) RecordEvent(event string) {
	if l == nil {
		return
	}
	recordEvent(l.LockConfig, l.cache.reference(k8sapi.Leases, l.LeaseMeta), event)
}

// Identity is the candidate's identity.
func (l *LeaseLock) Identity() string {
	if l == nil {
		return ""
	}
	return l.LockConfig.Identity
}

// TimePrecision is the unit the Lease stores times in (see Interface): a
// microsecond, as Lease times are MicroTime.
func (l *LeaseLock) TimePrecision() time.Duration { return time.Microsecond }

// Describe is "namespace/name".
func (l *LeaseLock) Describe() string {
	if l == nil {
		return "<nil>"
	}
	return describe(l.LeaseMeta)
}

// setLeaseRecord writes ler into obj: the record into the spec, lc's
// labels and annotations, and the preferred holder. spec.strategy is never
// written: kube-apiserver keeps it only with the CoordinatedLeaderElection
// gate on, and it belongs to whoever set it.
func setLeaseRecord(obj *k8sapi.Object, lc ResourceLockConfig, ler LeaderElectionRecord) error {
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
	if err := setMetadata(obj, lc, nil); err != nil {
		return err
	}
	return setPreferredHolder(obj, ler.PreferredHolder)
}

// setPreferredHolder names holder as obj's preferred holder: in the
// annotation PreferredHolderAnnotationKey and, when the Lease has a
// spec.strategy, in spec.preferredHolder (kube-apiserver refuses the latter
// without a strategy when the CoordinatedLeaderElection gate is on, and
// drops it when the gate is off). An empty holder removes both.
func setPreferredHolder(obj *k8sapi.Object, holder string) error {
	if holder == "" {
		if err := deleteField(obj, PreferredHolderAnnotationKey, "metadata", "annotations"); err != nil {
			return err
		}
		return deleteField(obj, "preferredHolder", "spec")
	}
	if err := obj.SetAnnotation(PreferredHolderAnnotationKey, holder); err != nil {
		return fmt.Errorf("resourcelock: set the preferred holder: %w", err)
	}
	if stringField(obj, "spec", "strategy") == "" {
		return deleteField(obj, "preferredHolder", "spec")
	}
	if err := obj.SetField(holder, "spec", "preferredHolder"); err != nil {
		return fmt.Errorf("resourcelock: set the preferred holder: %w", err)
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
