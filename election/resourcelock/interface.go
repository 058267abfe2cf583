package resourcelock

import (
	"context"
	"time"
)

// Interface is a lock object in the API server that holds one
// LeaderElectionRecord. The elector is its only caller; it serializes calls.
type Interface interface {
	// Get reads the record. It returns the record as decoded and the raw
	// bytes it was decoded from, so that a caller can detect a change by
	// comparing bytes. A missing lock object gives an error for which
	// k8sapi.IsNotFound is true.
	Get(ctx context.Context) (*LeaderElectionRecord, []byte, error)
	// Create creates the lock object holding ler.
	Create(ctx context.Context, ler LeaderElectionRecord) error
	// Update writes ler over the object last read or written, carrying its
	// resourceVersion: a concurrent writer makes it fail with a Conflict.
	Update(ctx context.Context, ler LeaderElectionRecord) error
	// RecordEvent records an event about the lock ("became leader"). It
	// must not block.
	RecordEvent(event string)
	// Identity is this candidate's identity.
	Identity() string
	// Describe names the lock in logs: "namespace/name".
	Describe() string
}

// RecordWatcher is implemented by locks that can follow their object with a
// watch, so that a follower learns of renewals and releases as they happen
// instead of polling. The elector uses it when the lock has it.
type RecordWatcher interface {
	// WatchRecord calls observe with the record the lock object holds now
	// and then with every change of it (an empty record, raw nil, when the
	// object is deleted), until ctx ends or the watch fails beyond
	// resuming. It returns the error that ended it, never nil; for a watch
	// the server does not allow, k8sapi.IsForbidden is true of it. The raw
	// bytes are those Get would return for the same object.
	WatchRecord(ctx context.Context, observe func(rec *LeaderElectionRecord, raw []byte)) error
}

// Precision is implemented by locks that tell how finely their object stores
// the record's times: a second for the annotation locks (the record's JSON),
// a microsecond for Lease. Two renewals within one unit store the same
// bytes, which the server does not count as a change, so followers time the
// lease from the first of them; the elector then measures its own renew
// deadline from the first of them too. A lock without it is taken to store
// whole seconds, as Kubernetes' own record does.
type Precision interface {
	// TimePrecision is the unit the lock object stores times in.
	TimePrecision() time.Duration
}

// TimePrecision is lock's Precision, a second for a lock without one.
func TimePrecision(lock Interface) time.Duration {
	if p, ok := lock.(Precision); ok && p.TimePrecision() > 0 {
		return p.TimePrecision()
	}
	return time.Second
}
