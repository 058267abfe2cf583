package election

import (
	"bytes"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// MaxLeaseDuration is the longest lease a record may ask for. A record that
// claims a longer one (18446744074 seconds would overflow a time.Duration)
// is taken to ask for this much, and the elector logs it.
const MaxLeaseDuration = time.Hour

// freeLocked reports whether the observed lock may be taken at once: it
// has never been seen, or its last record (even if the object is gone since)
// is a release (for this candidate) or one this elector wrote (unless it
// handed that leadership over).
func (le *LeaderElector) freeLocked() bool {
	if !le.seen {
		return true
	}
	// After a handover, this elector's own last record is not its to take
	// back: it is the lease the preferred holder waits out when the
	// leader could not release it.
	return le.releasedForMeLocked() || (le.ownLocked(le.observed) && le.transferTo == "")
}

// releasedForMeLocked reports whether the observed record is a release
// that this candidate may take at once: any release, except one a leader
// wrote when it handed over to a preferred holder, which is that
// candidate's to take; for the others it runs as a lease.
func (le *LeaderElector) releasedForMeLocked() bool {
	pref := le.observed.PreferredHolder
	return le.observed.HolderIdentity == "" && (pref == "" || pref == le.config.Lock.Identity())
}

// expiryLocked is when the observed holder's lease runs out by this
// candidate's clock.
func (le *LeaderElector) expiryLocked() time.Time {
	return le.observedTime.Add(leaseOf(le.observed, le.config.LeaseDuration))
}

// leaseOf is the lease rec asks for: its own duration, or fallback (the
// config's LeaseDuration) when the record names none, and at most
// MaxLeaseDuration.
func leaseOf(rec rl.LeaderElectionRecord, fallback time.Duration) time.Duration {
	switch s := rec.LeaseDurationSeconds; {
	case s <= 0:
		return fallback
	case s > int(MaxLeaseDuration/time.Second):
		return MaxLeaseDuration
	default:
		return time.Duration(s) * time.Second
	}
}

// observeLocked records what a read or a watch showed of the lock: rec, or
// nil when the lock object does not exist. The observation time moves only
// when the bytes change: an unchanged record is an expiring one. A lock that
// disappears counts as an unchanged record of its last holder from the
// moment it was seen gone, so that followers wait a lease before they
// create it again (unless the last record was a release).
func (le *LeaderElector) observeLocked(rec *rl.LeaderElectionRecord, raw []byte, at time.Time) {
	if rec == nil {
		le.goneLocked(at, false)
		return
	}
	if le.seen && !le.gone && bytes.Equal(raw, le.observedRaw) && (raw != nil || rec.HolderIdentity == le.observed.HolderIdentity) {
		// The same record. A transfer request lives beside the record's
		// bytes (an annotation): it may change alone, and is taken as is.
		le.observed.PreferredHolder = rec.PreferredHolder
		return
	}
	if le.seen && !le.gone && le.observedRaw == nil && raw != nil && le.recreatedLocked() && sameStored(*rec, le.observed, le.precision) {
		// The lock this candidate recreated, read or watched for the first
		// time (tryAcquire knows the record it stored, not the server's
		// bytes): the same record, not a change, whether the watch's event
		// came before or after the create's answer. Its lease still runs
		// from the create's answer; the bytes are compared from now on.
		le.observed = *rec
		le.observedRaw = append(raw[:0:0], raw...)
		le.reportLocked(rec.HolderIdentity)
		return
	}
	le.seen, le.gone = true, false
	le.observed = *rec
	le.observedRaw = append(le.observedRaw[:0:0], raw...)
	le.observedTime = at
	le.maxTerm = max(le.maxTerm, rec.LeaderTransitions)
	le.reportLocked(rec.HolderIdentity)
}

// recreatedLocked reports whether the observed record is one tryAcquire
// wrote without acquiring (a lock it recreated after seeing it deleted,
// or an update the server made a create): this candidate's identity, yet
// not its own record, as tryAcquire dropped it from pending. The other
// records observed without the server's bytes (a leadership's own, a
// release) are not this one: their first read still counts as a change.
func (le *LeaderElector) recreatedLocked() bool {
	return le.observed.HolderIdentity == le.config.Lock.Identity() && !le.ownLocked(le.observed)
}

// goneLocked records that the lock object was found missing at at (by a
// read) or seen deleted (by the watch). From then on the last record counts
// as unchanged since at. A deletion seen before any record means the lock
// existed, held by someone this candidate cannot name; a read that finds
// no lock, with nothing seen before, is a lock never created as far as this
// candidate can tell.
func (le *LeaderElector) goneLocked(at time.Time, deleted bool) {
	switch {
	case !le.seen && deleted:
		le.seen, le.gone = true, true
		le.observed = rl.LeaderElectionRecord{HolderIdentity: rl.UnknownLeader}
		le.observedRaw = nil
		le.observedTime = at
	case le.seen && !le.gone:
		le.gone = true
		le.observedRaw = nil
		le.observedTime = at
	}
}

// noteOdd logs msg once for each distinct record raw.
func (le *LeaderElector) noteOdd(raw []byte, msg string, err error) {
	le.mu.Lock()
	first := le.odd.first(raw)
	le.mu.Unlock()
	if first {
		le.log.Warn(msg, "record", short(string(raw)), "err", err)
	}
}

// oddRecords remembers the last odd record logged (one that does not
// decode, or asks for too long a lease), so that it is logged once, not at
// every read and watch event. Its owner's mutex guards it.
type oddRecords struct {
	last []byte
	set  bool
}

// first reports whether raw differs from the last odd record logged, and
// remembers it.
func (r *oddRecords) first(raw []byte) bool {
	again := r.set && bytes.Equal(raw, r.last)
	r.last, r.set = append(r.last[:0:0], raw...), true
	return !again
}

// reportLocked queues OnNewLeader for a change of holder. An empty holder
// (a released lock) and an unknown one are no leader and are not reported.
func (le *LeaderElector) reportLocked(holder string) {
	if holder == "" || holder == rl.UnknownLeader || holder == le.reportedLeader {
		return
	}
	le.reportedLeader = holder
	if le.notifier != nil {
		le.notifier.push(holder)
	}
}
