package resourcelock

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// UnknownLeader is the holder of a record that no candidate can name: a
// MultiLock whose two locks name different holders (a migration is in
// progress, or a write reached only one of them), or a record that does not
// decode. Such a lock is held by someone until it has not changed for a
// lease.
const UnknownLeader = "leaderelection.k8s.io/unknown"

// MultiLock writes the record to two locks, Primary first, so a running
// fleet can move from one kind of lock to another without ever having two
// leaders: first every candidate runs with MultiLock{old, new} (the
// endpointsleases or configmapsleases kinds of New), then with the new lock
// alone. During the first step candidates that still use only the old lock
// keep seeing and respecting the record there, and those that already use
// only the new one respect the record in the new one.
//
// A MultiLock is held only when both of its records name the same holder
// and term, and every Update is conditional on both objects as last read or
// written: an object that changed since makes it fail with a Conflict.
type MultiLock struct {
	// Primary is the lock the fleet migrates from, written first.
	Primary Interface
	// Secondary is the lock the fleet migrates to.
	Secondary Interface

	mu               sync.Mutex
	primaryMissing   bool // guarded by mu: Get found no primary object
	secondaryMissing bool // guarded by mu: Get found no secondary object
}

var (
	_ Interface = (*MultiLock)(nil)
	_ Validator = (*MultiLock)(nil)
)

// Validate implements Validator: both locks are set, each is valid (when
// it implements Validator), and both have the same identity.
func (ml *MultiLock) Validate() error {
	if ml == nil {
		return invalidLock("MultiLock", []error{errNilLock})
	}
	var problems []error
	for _, l := range []struct {
		name string
		lock Interface
	}{{"Primary", ml.Primary}, {"Secondary", ml.Secondary}} {
		if l.lock == nil {
			problems = append(problems, fmt.Errorf("%s is nil", l.name))
			continue
		}
		if v, ok := l.lock.(Validator); ok {
			if err := v.Validate(); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", l.name, err))
			}
		}
	}
	if len(problems) == 0 && ml.Primary.Identity() != ml.Secondary.Identity() {
		problems = append(problems, fmt.Errorf("the identities differ: %q (Primary) and %q (Secondary)",
			ml.Primary.Identity(), ml.Secondary.Identity()))
	}
	return invalidLock("MultiLock "+ml.Describe(), problems)
}

// ready returns the error of a call on a MultiLock without both locks.
func (ml *MultiLock) ready() error {
	if ml == nil || ml.Primary == nil || ml.Secondary == nil {
		return invalidLock("MultiLock", []error{errors.New("both Primary and Secondary must be set")})
	}
	return nil
}

// missingRaw stands for a missing object in the raw bytes of a MultiLock.
var missingRaw = []byte("<missing>")

// Get reads both locks. When only one of them exists, its record stands
// (the other is created by the next Update). When the two name different
// holders or terms, the record is held by UnknownLeader. The raw bytes cover
// both objects, so a change to either is a change of the record.
func (ml *MultiLock) Get(ctx context.Context) (*LeaderElectionRecord, []byte, error) {
	if err := ml.ready(); err != nil {
		return nil, nil, err
	}
	primary, primaryRaw, primaryErr := ml.Primary.Get(ctx)
	if primaryErr != nil && !k8sapi.IsNotFound(primaryErr) && !errors.Is(primaryErr, ErrInvalidRecord) {
		return nil, nil, primaryErr
	}
	secondary, secondaryRaw, secondaryErr := ml.Secondary.Get(ctx)
	if secondaryErr != nil && !k8sapi.IsNotFound(secondaryErr) && !errors.Is(secondaryErr, ErrInvalidRecord) {
		return nil, nil, secondaryErr
	}
	primaryMissing, secondaryMissing := k8sapi.IsNotFound(primaryErr), k8sapi.IsNotFound(secondaryErr)
	ml.mu.Lock()
	ml.primaryMissing, ml.secondaryMissing = primaryMissing, secondaryMissing
	ml.mu.Unlock()

	var invalid error // the first record that did not decode
	for _, err := range []error{primaryErr, secondaryErr} {
		if invalid == nil && errors.Is(err, ErrInvalidRecord) {
			invalid = fmt.Errorf("resourcelock: multilock: %w", err)
		}
	}
	switch {
	case primaryMissing && secondaryMissing:
		return nil, nil, primaryErr
	case secondaryMissing:
		return primary, join(primaryRaw, missingRaw), invalid
	case primaryMissing:
		return secondary, join(missingRaw, secondaryRaw), invalid
	}
	rec := *primary
	switch {
	case primary.HolderIdentity != secondary.HolderIdentity || primary.LeaderTransitions != secondary.LeaderTransitions:
		// Either record may be a live leader's: the lease is the longer
		// of the two (a release writes one second), the term the higher.
		rec.HolderIdentity = UnknownLeader
		rec.LeaseDurationSeconds = max(primary.LeaseDurationSeconds, secondary.LeaseDurationSeconds)
		rec.LeaderTransitions = max(primary.LeaderTransitions, secondary.LeaderTransitions)
	case secondary.RenewTime.Before(primary.RenewTime.Time):
		// The same holder renewed one object later than the other (a write
		// that reached one of them): the earlier renewal is the one that
		// candidates of the other object time the lease from.
		rec = *secondary
	}
	// Only a Lease stores a transfer request: take it from whichever lock
	// has one.
	rec.PreferredHolder = cmp.Or(primary.PreferredHolder, secondary.PreferredHolder)
	rec.Strategy = cmp.Or(primary.Strategy, secondary.Strategy)
	return &rec, join(primaryRaw, secondaryRaw), invalid
}

func join(a, b []byte) []byte { return bytes.Join([][]byte{a, b}, []byte(",")) }

// Create creates both locks. An object that exists already makes it fail
// with AlreadyExists: someone else created it first.
func (ml *MultiLock) Create(ctx context.Context, ler LeaderElectionRecord) error {
	if err := ml.ready(); err != nil {
		return err
	}
	if err := ml.Primary.Create(ctx, ler); err != nil {
		return err
	}
	if err := ml.Secondary.Create(ctx, ler); err != nil {
		return err
	}
	ml.mu.Lock()
	ml.primaryMissing, ml.secondaryMissing = false, false
	ml.mu.Unlock()
	return nil
}

// Update writes the record to the primary, then to the secondary, each
// conditionally on the object as last read or written; an object that Get
// found missing (or that is gone when written) is created. When the primary
// is written and the secondary is not, the records disagree until the next
// write, and Get reads them as held by UnknownLeader.
func (ml *MultiLock) Update(ctx context.Context, ler LeaderElectionRecord) error {
	if err := ml.ready(); err != nil {
		return err
	}
	ml.mu.Lock()
	primaryMissing, secondaryMissing := ml.primaryMissing, ml.secondaryMissing
	ml.mu.Unlock()
	if err := write(ctx, ml.Primary, primaryMissing, ler); err != nil {
		return err
	}
	ml.mu.Lock()
	ml.primaryMissing = false
	ml.mu.Unlock()
	if err := write(ctx, ml.Secondary, secondaryMissing, ler); err != nil {
		return err
	}
	ml.mu.Lock()
	ml.secondaryMissing = false
	ml.mu.Unlock()
	return nil
}

// write creates the object when it is missing, and updates it otherwise,
// creating it when the update finds it gone.
func write(ctx context.Context, lock Interface, missing bool, ler LeaderElectionRecord) error {
	if !missing {
		err := lock.Update(ctx, ler)
		if !k8sapi.IsNotFound(err) {
			return err
		}
	}
	return lock.Create(ctx, ler)
}

// RecordEvent records the event on the primary lock.
func (ml *MultiLock) RecordEvent(event string) {
	if ml.ready() == nil {
		ml.Primary.RecordEvent(event)
	}
}

// Identity is the primary lock's identity ("" without one).
func (ml *MultiLock) Identity() string {
	if ml == nil || ml.Primary == nil {
		return ""
	}
	return ml.Primary.Identity()
}

// TimePrecision is the unit the locks store times in (see Interface): the
// coarser of the two locks'.
func (ml *MultiLock) TimePrecision() time.Duration {
	return max(timePrecision(ml.Primary), timePrecision(ml.Secondary))
}

// Describe names both locks.
func (ml *MultiLock) Describe() string {
	name := func(l Interface) string {
		if l == nil {
			return "<nil>"
		}
		return l.Describe()
	}
	if ml == nil {
		return "<nil>"
	}
	return name(ml.Primary) + "+" + name(ml.Secondary)
}
