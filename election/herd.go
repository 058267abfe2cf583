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

// The successor. The herd delay's cost is paid at every takeover, but
// the race it spreads need not be run then: while a leader holds the lock,
// its followers run the same race, herd delay and all, to offer to take
// over next (resourcelock's SuccessorAnnotationKey, one write per term).
// When the lock is released or expires, the follower named takes it at
// once; the others add a grace to their herd delay, the time its try takes
// to show, and then race as before. So a successor that died costs a
// takeover that little more, and one whose watch shows the release late
// (the last of many watches the server writes the event to) is overtaken
// by the first of the others, as without a successor.

// offerSpread is how many times wider than a takeover's the herd delay of
// an offer is drawn: nothing waits for an offer, so its race can be spread
// thin, and about e^(1/offerSpread)−1 ≈ 0.3 offers a term lose to another
// (more on a server so slow that a retry cannot hold the spread).
const offerSpread = 4

// maxOffers is how many offers a follower makes for one term: an offer
// conflicts with the leader's renewal now and then, and never needs more.
const maxOffers = 3

// herdSampler times this candidate's requests for the herd delay, and
// keeps the delay's draws for the record they were drawn for. Its owner's
// mutex guards it.
type herdSampler struct {
	rtt         time.Duration // the shortest answered request (at most maxHerdRTT)
	rttSet      bool          // rtt has a sample
	writeRTT    time.Duration // the shortest stored write (at most maxHerdRTT)
	writeRTTSet bool          // writeRTT has a sample
	read, write time.Duration // the shortest read and stored write, uncapped (0: none yet)
	take        herdDraw      // the draw for a takeover
	offer       herdDraw      // the draw for an offer to succeed
	offerTerm   int           // the term offers are drawn for
	offerFrom   time.Time     // when this candidate first saw offerTerm held
	offers      int           // how many were made for offerTerm
	offeredFor  time.Time     // the observation time of the last one
}

// herdDraw is one draw of the herd delay, for the observation it was
// drawn for.
type herdDraw struct {
	u        float64   // in (0, 1]
	drawnFor time.Time // the observation time u was drawn for
	drawn    bool      // u is set
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
	return h.drawn(&h.take, observedAt, retry)
}

// offerAt is when this follower offers to succeed the holder of term,
// which it observed held at observedAt: its herd delay, drawn once a
// term and spread offerSpread times wider, after it first saw the term.
func (h *herdSampler) offerAt(term int, observedAt time.Time, retry time.Duration) time.Time {
	if h.offerTerm != term || h.offerFrom.IsZero() {
		h.offerTerm, h.offerFrom, h.offers, h.offeredFor = term, observedAt, 0, time.Time{}
	}
	// The offers are spread offerSpread times wider than a takeover, by
	// the time one takes to show (its read and its write) when a slow
	// server makes that longer than s; but all within about a retry, so
	// that a successor is named before the leader's first renewals.
	s := h.spread(retry)
	unit := min(offerSpread*max(s, h.tryTime()), time.Duration(float64(retry)/math.Log(herdScale)))
	return h.offerFrom.Add(time.Duration(float64(h.drawn(&h.offer, h.offerFrom, retry)) * float64(unit) / float64(s)))
}

// tryTime is how long a try (a read and a write) takes: the shortest of
// each seen, uncapped; twice the read for a candidate that never wrote.
func (h *herdSampler) tryTime() time.Duration {
	if h.write == 0 {
		return 2 * h.read
	}
	return h.read + h.write
}

// grace is how much longer than its herd delay a follower waits when
// another is named successor: the time a try takes, its read and its
// write (at least minHerdSpread: a follower that never wrote cannot tell
// how long a write takes to show); at most retry.
func (h *herdSampler) grace(retry time.Duration) time.Duration {
	return min(h.read+max(h.write, minHerdSpread), retry)
}

// drawn is the herd delay of draw d, drawn again for a new observation.
func (h *herdSampler) drawn(d *herdDraw, observedAt time.Time, retry time.Duration) time.Duration {
	if !d.drawn || !d.drawnFor.Equal(observedAt) {
		d.u = 1 - rand.Float64() // in (0, 1]
		d.drawnFor, d.drawn = observedAt, true
	}
	s := float64(h.spread(retry))
	return time.Duration(max(0, s*math.Log(herdScale)+s*math.Log(d.u)))
}

// maxHerdRTT bounds each round trip the herd delay is scaled by: its
// delay is then at most 2·maxHerdRTT·ln(herdScale), whatever a slow
// moment made a request take.
const maxHerdRTT = 10 * time.Millisecond

// timed takes an answered request that took d into the herd delay's time
// scale; stored is set for a write the server stored.
func (h *herdSampler) timed(d time.Duration, stored bool) {
	d = max(0, d)
	switch {
	case stored && (h.write == 0 || d < h.write):
		h.write = d
	case !stored && (h.read == 0 || d < h.read):
		h.read = d
	}
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
