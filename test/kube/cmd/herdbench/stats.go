package main

import (
	"math"
	"sort"
	"time"
)

// percentile is the nearest-rank percentile p (0 < p ≤ 1) of ds; zero for
// none. With fewer than 100 values p99 is the largest.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(float64(len(s))*p + 0.999999) // ceil, forgiving float error
	return s[max(0, min(rank, len(s))-1)]
}

// mean of xs; zero for none.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// stddev is the sample standard deviation of xs; zero for fewer than two.
func stddev(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

func maxOf(xs []float64) float64 {
	var m float64
	for i, x := range xs {
		if i == 0 || x > m {
			m = x
		}
	}
	return m
}

// verb is how a request is counted, as kube-apiserver's verb label.
type verb uint8

const (
	vGET verb = iota
	vWATCH
	vPUT
	vPOST
	vOther
)

func (v verb) String() string { return [...]string{"GET", "WATCH", "PUT", "POST", "other"}[v] }

func (v verb) write() bool { return v == vPUT || v == vPOST || v == vOther }

// record is one request a candidate sent, as its transport saw it.
type record struct {
	cand int   // candidate number
	at   int64 // UnixNano when sent
	verb verb
	code int // status, 0 for a transport error
}

// herd is what the candidates' own transports saw of one takeover.
type herd struct {
	requests  [vOther + 1]int // by verb, every candidate but the new leader after it led
	writes    int             // writes by the followers (the winner's acquiring one included)
	conflicts int             // 409 answers to them
	writers   int             // followers that wrote
	burst     int             // most follower writes sent within one burstWindow
	spread    time.Duration   // first to last follower write
}

// burstWindow is the width of the window in which herd.burst counts writes.
const burstWindow = 20 * time.Millisecond

// takeoverHerd reads the records of one takeover: those sent in [from, to],
// leaving out oldLeader's writes (its release is not a follower's write,
// though it is counted among the requests) and the new leader's requests
// sent after its acquiring write, the first that succeeded in the window
// (its renewals are not part of the takeover; its OnStartedLeading may run
// after the first of them), or when there is none, after started.
func takeoverHerd(recs []record, from, to, started int64, oldLeader, newLeader int) herd {
	var h herd
	var writeTimes []int64
	writers := map[int]bool{}
	won := started
	for _, r := range recs {
		if r.cand == newLeader && r.at >= from && r.at <= to && r.verb.write() && r.code >= 200 && r.code < 300 && r.at < won {
			won = r.at
		}
	}
	for _, r := range recs {
		if r.at < from || r.at > to || (r.cand == newLeader && r.at > won) {
			continue
		}
		h.requests[r.verb]++
		if !r.verb.write() || r.cand == oldLeader {
			continue
		}
		h.writes++
		if r.code == 409 {
			h.conflicts++
		}
		writers[r.cand] = true
		writeTimes = append(writeTimes, r.at)
	}
	h.writers = len(writers)
	h.burst = mostWithin(writeTimes, int64(burstWindow))
	if len(writeTimes) > 0 {
		sort.Slice(writeTimes, func(i, j int) bool { return writeTimes[i] < writeTimes[j] })
		h.spread = time.Duration(writeTimes[len(writeTimes)-1] - writeTimes[0])
	}
	return h
}

// mostWithin is the largest number of times that fall within one window
// [t, t+width] (a sliding window).
func mostWithin(times []int64, width int64) int {
	s := append([]int64(nil), times...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	best, lo := 0, 0
	for hi := range s {
		for s[hi]-s[lo] > width {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
