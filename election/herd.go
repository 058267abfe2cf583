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

// herdSampler times this candidate's requests for the herd delay, and
// keeps the delay's draw for the record it was drawn for. Its owner's
// mutex guards it.
type herdSampler struct {
	rtt         time.Duration // the shortest answered request (at most maxHerdRTT)
	rttSet      bool          // rtt has a sample
	writeRTT    time.Duration // the shortest stored write (at most maxHerdRTT)
	writeRTTSet bool          // writeRTT has a sample
	u           float64       // the draw of the delay for drawnFor
	drawnFor    time.Time     // the observation time u was drawn for
	drawn       bool          // u is set
}

// spread is s, for a candidate that retries every retry.
func (h *herdSampler) spread(retry time.Duration) time.Duration {
	rtt := h.rtt
	if !h.rttSet {
		rtt = defaultHerdRTT
	}
	s := max(2*rtt, minHerdSpread)
	if h.writeRTTSet {
		s = max(s, h.writeRTT)
	}
	return min(s, max(retry/8, time.Millisecond))
}

// delay is this follower's delay for the lease or release it observed
// (changed) at observedAt: drawn once per observed record, so that the
// watch delivering other events meanwhile does not draw again.
func (h *herdSampler) delay(observedAt time.Time, retry time.Duration) time.Duration {
	if !h.drawn || !h.drawnFor.Equal(observedAt) {
		h.u = 1 - rand.Float64() // in (0, 1]
		h.drawnFor, h.drawn = observedAt, true
	}
	s := float64(h.spread(retry))
	return time.Duration(max(0, s*math.Log(herdScale)+s*math.Log(h.u)))
}

// maxHerdRTT bounds each round trip the herd delay is scaled by: its
// delay is then at most 2·maxHerdRTT·ln(herdScale), whatever a slow
// moment made a request take.
const maxHerdRTT = 10 * time.Millisecond

// timed takes an answered request that took d into the herd delay's time
// scale; stored is set for a write the server stored.
func (h *herdSampler) timed(d time.Duration, stored bool) {
	// The shortest round trip seen (not the first, which includes the TLS
	// handshake, nor an average that a loaded moment inflates), and never
	// more than maxHerdRTT, so that a slow start cannot make every
	// takeover slow.
	d = min(max(0, d), maxHerdRTT)
	if !h.rttSet || d < h.rtt {
		h.rtt, h.rttSet = d, true
	}
	// A write that was stored (not a 409, which the server answers without
	// storing anything) also times how long a write takes to commit, which
	// reads served from the server's cache do not.
	if stored && (!h.writeRTTSet || d < h.writeRTT) {
		h.writeRTT, h.writeRTTSet = d, true
	}
}
