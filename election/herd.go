package election

import (
	"math"
	"math/rand/v2"
	"time"
)

// The herd delay. When a lease expires or is released, every watching
// follower learns it at the same moment; if all wrote then, N followers
// would send N writes of which N−1 conflict. Instead each waits
//
//	max(0, W + s·ln U),  U uniform in (0, 1],  W = s·ln(herdScale)
//
// where s is about the time one try takes to be seen by the others: its
// read, and its write, which the server stores (etcd commits it to disk)
// before the others' reads or watches can see it. The earliest of N such
// delays falls about s·ln(N) before W, and near it the others fire at a
// rate of about 1/s whatever N is: the followers that try before the
// winner's write shows (and so lose with 409) are a small constant number,
// not N, for N up to herdScale (and grow slowly beyond). The cost is at
// most W added to a takeover (s·ln(herdScale/N) on average): a few round
// trips. Safety does not depend on it: every write is conditional on the
// resourceVersion.
const herdScale = 1024

// s is twice the shortest round trip this candidate has seen, or its
// shortest stored write when longer, and at least minHerdSpread: reads
// come from kube-apiserver's cache in well under a millisecond while a
// write takes a disk sync, and a follower that never wrote has only its
// reads to go by. s is at most RetryPeriod/8; before any request has been
// timed, defaultHerdRTT stands in for the round trip.
const (
	minHerdSpread  = 5 * time.Millisecond
	defaultHerdRTT = 5 * time.Millisecond
)

// herdSpreadLocked is s.
func (le *LeaderElector) herdSpreadLocked() time.Duration {
	rtt := le.rtt
	if !le.rttSet {
		rtt = defaultHerdRTT
	}
	s := max(2*rtt, minHerdSpread)
	if le.writeRTTSet {
		s = max(s, le.writeRTT)
	}
	return min(s, max(le.config.RetryPeriod/8, time.Millisecond))
}

// herdDelayLocked is this follower's delay for the lease or release it now
// observes: drawn once per observed record, so that the watch delivering
// other events meanwhile does not draw again.
func (le *LeaderElector) herdDelayLocked() time.Duration {
	if !le.herdDrawn || !le.herdFor.Equal(le.observedTime) {
		le.herdU = 1 - rand.Float64() // in (0, 1]
		le.herdFor, le.herdDrawn = le.observedTime, true
	}
	s := float64(le.herdSpreadLocked())
	return time.Duration(max(0, s*math.Log(herdScale)+s*math.Log(le.herdU)))
}

// maxHerdRTT bounds each round trip the herd delay is scaled by: its
// delay is then at most 2·maxHerdRTT·ln(herdScale), whatever a slow
// moment made a request take.
const maxHerdRTT = 10 * time.Millisecond

// timedLocked takes an answered request that took d into the herd delay's
// time scale; stored is set for a write the server stored.
func (le *LeaderElector) timedLocked(d time.Duration, stored bool) {
	// The shortest round trip seen (not the first, which includes the TLS
	// handshake, nor an average that a loaded moment inflates), and never
	// more than maxHerdRTT, so that a slow start cannot make every
	// takeover slow.
	d = min(max(0, d), maxHerdRTT)
	if !le.rttSet || d < le.rtt {
		le.rtt, le.rttSet = d, true
	}
	// A write that was stored (not a 409, which the server answers without
	// storing anything) also times how long a write takes to commit, which
	// reads served from the server's cache do not.
	if stored && (!le.writeRTTSet || d < le.writeRTT) {
		le.writeRTT, le.writeRTTSet = d, true
	}
}
