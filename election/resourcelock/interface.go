package resourcelock

import (
	"context"
	"errors"
	"time"
)

// ErrInvalidRecord is wrapped by the error of Get when the lock object holds
// a record that does not decode (bad JSON, a fractional or string lease
// duration, a time that does not parse). Get then also returns a record held
// by UnknownLeader and the raw bytes, so that the elector can treat the lock
// as held by an unknown candidate until it has not changed for a lease.
var ErrInvalidRecord = errors.New("resourcelock: the lock's record does not decode")

// ErrRecreated is wrapped by the error of Update when the object was deleted
// after it was read, and the server made the update a create (it does so for
// Leases and Endpoints, whatever resourceVersion the update carries). The
// record was written, but not over the object that was read: someone may
// have taken the lock in between, so the writer must not take the write for
// an acquisition.
var ErrRecreated = errors.New("resourcelock: the lock object was deleted after it was read; the update created it again")

// ErrInvalidLock is wrapped by the errors of New and of Validate for a lock
// that can never work: no client, a name or namespace the API server
// refuses (those errors also wrap k8sapi.ErrInvalidName), no identity,
// labels or annotations the server would reject. A lock struct whose Client
// is nil returns it from every call instead of panicking.
var ErrInvalidLock = errors.New("resourcelock: invalid lock")

// Validator is implemented by the locks of this package. Validate reports,
// with an error wrapping ErrInvalidLock, what makes the lock unusable before
// any request is sent; New calls it, and so can a constructor given a lock
// built as a struct literal.
type Validator interface {
	// Validate checks the lock's configuration; nil when it can be used.
	Validate() error
}

// WatchTimeout is how long the locks of this package ask the server to keep
// one watch open. A watch that has delivered nothing for longer than this is
// stuck (a proxy that does not stream, say), and the elector restarts it.
const WatchTimeout = 5 * time.Minute

// Interface is a lock object in the API server that holds one
// LeaderElectionRecord. Its callers are a LeaderElector and an
// election.Observer. Each calls Get, Create and Update one at a time, but
// its watch (RecordWatcher.WatchRecord) runs on another goroutine at the
// same time, and Identity, Describe and RecordEvent are called from any of
// them: the locks of this package are safe for that. A lock keeps the
// object it last read for its next Update, so give each elector or
// observer a lock of its own.
//
// A lock may also have a method
//
//	TimePrecision() time.Duration
//
// that tells the unit its object stores the record's times in: a second
// for the annotation locks (the record's JSON), a microsecond for
// LeaseLock, the coarser of its two locks' for MultiLock. Two renewals
// within one unit store the same bytes, which the server does not count
// as a change, so followers time the lease from the first of them; the
// elector then measures its own renew deadline from the first of them
// too, and requires RenewDeadline to exceed election.JitterFactor units.
// A lock without the method, or whose method returns zero or less, is
// taken to store whole seconds, as Kubernetes' own record does.
type Interface interface {
	// Get reads the record. It returns the record as decoded and the raw
	// bytes it was decoded from, so that a caller can detect a change by
	// comparing bytes. A missing lock object gives an error for which
	// k8sapi.IsNotFound is true. A record that does not decode gives a
	// record held by UnknownLeader, the raw bytes as stored, and an error
	// wrapping ErrInvalidRecord: the lock is held by someone this candidate
	// cannot name, and an Update over it is still conditional.
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
	// WatchRecord runs one watch of the lock object. It calls observe with
	// the record the object holds when the watch starts (if it exists) and
	// then with every change of it: a nil record when the object is
	// deleted, a record held by UnknownLeader when it does not decode; an
	// object whose record cannot be read at all is skipped. It
	// returns when ctx ends or the stream ends, with the error that ended
	// it, never nil: io.EOF when the server closed the stream, an error for
	// which k8sapi.IsForbidden is true for a watch the server does not
	// allow. A later call resumes from the last resourceVersion seen, or
	// from the current state after 410 Gone. The server ends each watch
	// within WatchTimeout. The raw bytes are those Get would return for the
	// same object.
	//
	// The caller decides when to watch again, so that a watch that ends at
	// once is not reopened in a hot loop.
	WatchRecord(ctx context.Context, observe func(rec *LeaderElectionRecord, raw []byte)) error
}

// timePrecision is the unit lock stores times in: its TimePrecision (see
// Interface), a second for a lock without one.
func timePrecision(lock Interface) time.Duration {
	if p, ok := lock.(interface{ TimePrecision() time.Duration }); ok && p.TimePrecision() > 0 {
		return p.TimePrecision()
	}
	return time.Second
}
