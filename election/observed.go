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

// observedLock is what a candidate or an Observer last saw of its lock:
// the record, its bytes, when they last changed by the local clock, and
// whether the object exists. A lease expires by it: LeaseDuration (the
// holder's, from the record) after the bytes last changed. Its owner's
// mutex guards it.
type observedLock struct {
	rec     rl.LeaderElectionRecord // the last record read, watched or written; kept when the lock goes
	raw     []byte                  // its bytes, to detect a change; nil when not the server's
	at      time.Time               // local time the bytes last changed (or the lock went)
	seen    bool                    // a record has been seen, or stands for the lock seen deleted
	gone    bool                    // the lock went after rec was seen
	maxTerm int                     // the highest leaderTransitions seen on the lock
	lease   time.Duration           // the lease of a record that names none
	odd     oddRecords              // the last odd record logged

	events   uint64 // counts the records the watch delivered, deletions included
	eventRaw []byte // the bytes of the last one; nil for a deletion
}

// exists reports whether the lock is known to exist: a record was seen,
// and the lock has not gone since.
func (o *observedLock) exists() bool { return o.seen && !o.gone }

// sameBytes reports whether raw are the bytes of the record observed, in
// a lock that exists.
func (o *observedLock) sameBytes(raw []byte) bool {
	return o.exists() && bytes.Equal(raw, o.raw)
}

// set records rec, with its bytes raw, as read or watched at at: a change.
func (o *observedLock) set(rec rl.LeaderElectionRecord, raw []byte, at time.Time) {
	o.seen, o.gone = true, false
	o.rec = rec
	o.raw = append(o.raw[:0:0], raw...)
	o.at = at
	o.maxTerm = max(o.maxTerm, rec.LeaderTransitions)
}

// wrote records rec, written by its owner at at, as what the lock holds;
// without the server's bytes, the next read or event counts as a change.
func (o *observedLock) wrote(rec rl.LeaderElectionRecord, at time.Time) {
	o.seen, o.gone = true, false
	o.rec, o.raw, o.at = rec, nil, at
	o.maxTerm = max(o.maxTerm, rec.LeaderTransitions)
}

// goneAt records that the lock object was found missing at at (by a read)
// or seen deleted (by the watch). From then on the last record counts as
// unchanged since at. A deletion seen before any record means the lock
// existed, held by someone its observer cannot name; a read that finds no
// lock, with nothing seen before, is a lock never created as far as its
// observer can tell.
func (o *observedLock) goneAt(at time.Time, deleted bool) {
	switch {
	case !o.seen && deleted:
		o.seen, o.gone = true, true
		o.rec = rl.LeaderElectionRecord{HolderIdentity: rl.UnknownLeader}
		o.raw = nil
		o.at = at
	case o.exists():
		o.gone = true
		o.raw = nil
		o.at = at
	}
}

// event counts a record the watch delivered (nil: a deletion), so that a
// read under way can tell it raced with one.
func (o *observedLock) event(rec *rl.LeaderElectionRecord, raw []byte) {
	o.events++
	o.eventRaw = nil
	if rec != nil {
		o.eventRaw = append(raw[:0:0], raw...)
		if raw == nil {
			o.eventRaw = []byte{}
		}
	}
}

// holderLease is the lease the observed record asks for (see leaseOf).
func (o *observedLock) holderLease() time.Duration { return leaseOf(o.rec, o.lease) }

// expiry is when the observed holder's lease runs out by the local clock.
func (o *observedLock) expiry() time.Time { return o.at.Add(o.holderLease()) }

// releasedFor reports whether the observed record is a release that the
// candidate id may take at once: any release, except one a leader wrote
// when it handed over to a preferred holder, which is that candidate's to
// take; for the others it runs as a lease.
func (o *observedLock) releasedFor(id string) bool {
	return o.rec.HolderIdentity == "" && (o.rec.PreferredHolder == "" || o.rec.PreferredHolder == id)
}

// freeLocked reports whether the observed lock may be taken at once: it
// has never been seen, or its last record (even if the object is gone since)
// is a release (for this candidate) or one this elector wrote (unless it
// handed that leadership over).
func (le *LeaderElector) freeLocked() bool {
	if !le.observed.seen {
		return true
	}
	// After a handover, this elector's own last record is not its to take
	// back: it is the lease the preferred holder waits out when the
	// leader could not release it.
	return le.observed.releasedFor(le.config.Lock.Identity()) || (le.ownLocked(le.observed.rec) && le.lead.transferTo == "")
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
	ob := &le.observed
	if rec == nil {
		ob.goneAt(at, false)
		return
	}
	if ob.sameBytes(raw) && (raw != nil || rec.HolderIdentity == ob.rec.HolderIdentity) {
		// The same record. A transfer request and an offer to succeed live
		// beside the record's bytes (annotations): they may change alone,
		// and are taken as they are.
		ob.rec.PreferredHolder, ob.rec.Successor = rec.PreferredHolder, rec.Successor
		return
	}
	if ob.exists() && ob.raw == nil && raw != nil && le.recreatedLocked() && sameStored(*rec, ob.rec, le.precision) {
		// The lock this candidate recreated, read or watched for the first
		// time (tryAcquire knows the record it stored, not the server's
		// bytes): the same record, not a change, whether the watch's event
		// came before or after the create's answer. Its lease still runs
		// from the create's answer; the bytes are compared from now on.
		ob.rec = *rec
		ob.raw = append(raw[:0:0], raw...)
		le.reportLocked(rec.HolderIdentity)
		return
	}
	ob.set(*rec, raw, at)
	le.reportLocked(rec.HolderIdentity)
}

// recreatedLocked reports whether the observed record is one tryAcquire
// wrote without acquiring (a lock it recreated after seeing it deleted,
// or an update the server made a create): this candidate's identity, yet
// not its own record, as tryAcquire dropped it from pending. The other
// records observed without the server's bytes (a leadership's own, a
// release) are not this one: their first read still counts as a change.
func (le *LeaderElector) recreatedLocked() bool {
	return le.observed.rec.HolderIdentity == le.config.Lock.Identity() && !le.ownLocked(le.observed.rec)
}

// noteOdd logs msg once for each distinct record raw.
func (le *LeaderElector) noteOdd(raw []byte, msg string, err error) {
	le.mu.Lock()
	first := le.observed.odd.first(raw)
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
