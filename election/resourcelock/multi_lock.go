package resourcelock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// UnknownLeader is the holder MultiLock reports when its two locks name
// different holders: a migration is in progress and neither can be trusted
// alone, so the record reads as held by nobody that this candidate knows.
const UnknownLeader = "leaderelection.k8s.io/unknown"

// MultiLock writes the record to two locks, Primary first, so a running
// fleet can move from one kind of lock to another without ever having two
// leaders: first every candidate runs with MultiLock{old, new} (the
// endpointsleases or configmapsleases kinds of New), then with the new lock
// alone. During the first step candidates that still use only the old lock
// keep seeing and respecting the record there.
type MultiLock struct {
	Primary   Interface
	Secondary Interface
}

var _ Interface = (*MultiLock)(nil)

// Get reads both locks. When the secondary does not exist yet and the
// primary is held by another candidate (one not yet migrated), the
// primary's record stands. When the two name different holders, the holder
// reads as UnknownLeader. The raw bytes cover both records.
func (ml *MultiLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	primary, primaryRaw, err := ml.Primary.Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	secondary, secondaryRaw, err := ml.Secondary.Get(ctx)
	if err != nil {
		if k8sapi.IsNotFound(err) && primary.HolderIdentity != ml.Identity() {
			return primary, primaryRaw, nil
		}
		return nil, nil, err
	}
	if primary.HolderIdentity != secondary.HolderIdentity {
		rec := *primary
		rec.HolderIdentity = UnknownLeader
		if primaryRaw, err = json.Marshal(rec); err != nil {
			return nil, nil, fmt.Errorf("resourcelock: multilock: %w", err)
		}
		primary = &rec
	}
	return primary, bytes.Join([][]byte{primaryRaw, secondaryRaw}, []byte(",")), nil
}

// Create creates both locks; a primary that already exists is kept.
func (ml *MultiLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	if err := ml.Primary.Create(ctx, ler); err != nil && !k8sapi.IsAlreadyExists(err) {
		return err
	}
	return ml.Secondary.Create(ctx, ler)
}

// Update updates the primary, then the secondary, creating the secondary
// when it does not exist yet.
func (ml *MultiLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	if err := ml.Primary.Update(ctx, ler); err != nil {
		return err
	}
	if _, _, err := ml.Secondary.Get(ctx); err != nil {
		if k8sapi.IsNotFound(err) {
			return ml.Secondary.Create(ctx, ler)
		}
		return err
	}
	return ml.Secondary.Update(ctx, ler)
}

// RecordEvent records the event on the primary lock.
func (ml *MultiLock) RecordEvent(event string) { ml.Primary.RecordEvent(event) }

// Identity is the primary lock's identity.
func (ml *MultiLock) Identity() string { return ml.Primary.Identity() }

// TimePrecision implements Precision: the coarser of the two locks'.
func (ml *MultiLock) TimePrecision() time.Duration {
	return max(TimePrecision(ml.Primary), TimePrecision(ml.Secondary))
}

// Describe names both locks.
func (ml *MultiLock) Describe() string {
	return ml.Primary.Describe() + "+" + ml.Secondary.Describe()
}
