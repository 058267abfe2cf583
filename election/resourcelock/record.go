package resourcelock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// LeaderElectionRecordAnnotationKey is the annotation that holds the record
// on Endpoints and ConfigMap locks.
const LeaderElectionRecordAnnotationKey = "control-plane.alpha.kubernetes.io/leader"

// invalidRecord is what a lock's Get returns for a record that does not
// decode: a record held by UnknownLeader, the raw bytes (never nil, so that
// the record reads as present), and err wrapped with ErrInvalidRecord. The
// record keeps the term when the field named termKey still reads as a
// whole number, so that the next leader's term stays above it.
func invalidRecord(raw []byte, termKey string, err error) (*LeaderElectionRecord, []byte, error) {
	if raw == nil {
		raw = []byte{}
	}
	rec := &LeaderElectionRecord{HolderIdentity: UnknownLeader}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		var term int
		if json.Unmarshal(fields[termKey], &term) == nil && term > 0 {
			rec.LeaderTransitions = term
		}
	}
	return rec, raw, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
}

// LeaderElectionRecord is the state of an election as stored in the lock.
// Its JSON form is the one Kubernetes writes in the annotation.
type LeaderElectionRecord struct {
	// HolderIdentity is the leader's identity; empty after a release.
	HolderIdentity string `json:"holderIdentity"`
	// LeaseDurationSeconds is how long, after a renewal, the holder's
	// lease lasts as judged by another candidate's clock.
	LeaseDurationSeconds int `json:"leaseDurationSeconds"`
	// AcquireTime is when the holder acquired the lease.
	AcquireTime Time `json:"acquireTime"`
	// RenewTime is when the holder last renewed.
	RenewTime Time `json:"renewTime"`
	// LeaderTransitions counts the changes of holder. It grows by one each
	// time a different candidate takes the lock: the leadership term. It
	// is no fencing token (anyone who writes the record can lower it); see
	// election.LeaderElector.FencingToken.
	LeaderTransitions int `json:"leaderTransitions"`
	// PreferredHolder, when not empty, names the candidate the lock's
	// holder is asked to hand over to (a planned transfer). Only LeaseLock
	// stores it: in the annotation PreferredHolderAnnotationKey and, where
	// the Lease has a strategy, in spec.preferredHolder. The annotation
	// locks neither read nor write it.
	PreferredHolder string `json:"preferredHolder,omitempty"`
	// Successor, when not empty, names the follower that offered to take
	// the lock after this term's holder: after a release it takes the lock
	// at once, while the other followers of this package give it a moment
	// first. Only LeaseLock stores it, in the annotation
	// SuccessorAnnotationKey, and only for the term it was offered in; the
	// lock's writes of the record keep it as it is.
	Successor string `json:"successor,omitempty"`
	// Strategy is a Lease's spec.strategy (coordinated leader election,
	// "OldestEmulationVersion"). LeaseLock reads it and keeps it as the
	// server has it; it never writes it.
	Strategy string `json:"strategy,omitempty"`
}

// Time is a time.Time that marshals like a Kubernetes metav1.Time: RFC 3339
// in UTC with second precision, and null for the zero time. It unmarshals
// null, "", and RFC 3339 with any sub-second precision, as older writers
// produced.
type Time struct {
	time.Time
}

// NewTime returns t as a Time.
func NewTime(t time.Time) Time { return Time{t} }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, len(time.RFC3339)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) || bytes.Equal(b, []byte(`""`)) {
		t.Time = time.Time{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("resourcelock: time %.40q is not a JSON string", b)
	}
	// RFC3339 parsing accepts any number of fractional-second digits.
	parsed, err := time.Parse(time.RFC3339, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("resourcelock: time: %w", err)
	}
	// A year outside 0000–9999 in UTC cannot be written back in RFC 3339
	// (a time such as 9999-12-31T23:59:59-01:00 is in the year 10000):
	// such a record does not decode, as client-go's would not.
	if y := parsed.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("resourcelock: time %.40q is outside the years 0000-9999 in UTC", b)
	}
	t.Time = parsed.Local()
	return nil
}
