//go:build go1.25

package scenarios_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/electiontest"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// A herd scenario: N candidates on one Lease, in fake time, with reads and
// writes that take a set time. The leader crashes (stops renewing, no
// release) or releases, ten times in a row; each time a new candidate
// takes its place, as a restarted pod would, so the fleet stays at N.
// Every watching follower learns of the expiry or the release at the same
// moment. Two mechanisms keep the takeover fast and the conflicts few
// (election/herd.go): while a leader holds the lock its followers race,
// spread by the herd delay, to offer to succeed it, and the one named
// takes the lock at once; the others wait a grace and their herd delay, so
// that when no successor is named (or the one named is gone) few of them
// try before the winner's write shows. Without either, every follower
// writes at once: N−1 conflicts per takeover.

// herdBounds are what every takeover of a scenario is held to.
type herdBounds struct {
	meanConflicts float64       // the followers' 409s per takeover, on average (negative: not checked)
	maxConflicts  int64         // in any one takeover (negative: not checked)
	maxTakeover   time.Duration // after the release, or the lease's end
}

// herdScenario is one run.
type herdScenario struct {
	n             int
	release       bool
	read, write   time.Duration // how long each read (and watch) and each write takes
	takeovers     int
	killSuccessor bool // the follower named successor crashes just before each takeover
	bounds        herdBounds
}

// herdLatency is how long each request takes in TestHerd, in fake time:
// the time a follower's write takes to be seen by the others, during which
// other followers may also try.
const herdLatency = 2 * time.Millisecond

// TestHerd: requests take 2ms. Each takeover comes within 15ms of the
// release or the lease's end: the successor's try (a GET and a PUT) and,
// for a release, the release's own write (which conflicts when an offer
// came after the leader's last renewal: then it reads and writes again).
func TestHerd(t *testing.T) {
	eachHerd(t, func(t *testing.T, n int, release bool) {
		herdScenario{n: n, release: release, read: herdLatency, write: herdLatency, takeovers: 10,
			bounds: herdBounds{meanConflicts: 1, maxConflicts: 5, maxTakeover: 15 * time.Millisecond}}.run(t)
	})
}

// TestHerdSlowWrites keeps the bounds of issue 20 with requests timed as
// kube-apiserver answers on this machine: reads in 300µs (from its watch
// cache) and writes in 8ms (etcd commits them to disk first, and the watch
// shows them after that). At every N from 3 to 200 each handover comes
// within 50ms of the release and each failover within 50ms of the lease's
// end (the successor's GET and PUT, and the release's write, twice when it
// conflicts: about 17 to 34ms), and the followers' conflicts stay at most
// 2 per takeover on average and 10 in any one. Those conflicts are offers
// that lose to another (about e^(1/4)−1 ≈ 0.3 a term whatever N is), and
// now and then a follower whose herd delay came out near 0 and tried with
// the successor: over 30 takeovers of each kind, 0 to 1.1 on average per
// N, at most 5 in one. The herd delay alone, which this test held to 75ms
// and 20 conflicts before, took 74ms at N = 3.
func TestHerdSlowWrites(t *testing.T) {
	eachHerd(t, func(t *testing.T, n int, release bool) {
		herdScenario{n: n, release: release, read: 300 * time.Microsecond, write: 8 * time.Millisecond, takeovers: 10,
			bounds: herdBounds{meanConflicts: 2, maxConflicts: 10, maxTakeover: 50 * time.Millisecond}}.run(t)
	})
}

// TestHerdSuccessorGone: the follower named successor crashes just before
// each takeover. The others wait their grace (a read and a write: 8.3ms)
// and their herd delay, and race as without a successor: the takeover
// comes within the herd delay's bound for the slowest spread (8ms, a
// follower that once stored a write: 8·ln 1024 ≈ 55ms) plus the grace, a
// try and the release's write, and the conflicts stay a small number
// whatever N is (the herd delay's: about e^(8.3/8)−1 ≈ 1.8 on average,
// with a long tail; at most 20 on average, which N−1 exceeds from N = 50
// on).
func TestHerdSuccessorGone(t *testing.T) {
	eachHerd(t, func(t *testing.T, n int, release bool) {
		herdScenario{n: n, release: release, read: 300 * time.Microsecond, write: 8 * time.Millisecond, takeovers: 5, killSuccessor: true,
			bounds: herdBounds{meanConflicts: 20, maxConflicts: -1, maxTakeover: 100 * time.Millisecond}}.run(t)
	})
}

// TestHerdDelaySlowServer: the herd delay scales with the shortest round
// trip seen, but never past 2·10ms·ln 1024 ≈ 139ms: on a server that takes
// 200ms to answer, a release is taken within six answers, not seconds
// later: a renewal under way when the leader is stopped (this test's
// transport answers a canceled request late), the release, which then
// conflicts and reads and writes again, and the successor's try (a GET and
// a PUT). The others wait at least the time a try takes before they try,
// and the offers are spread by it too (as far as a retry allows: about
// e^(400/289)−1 ≈ 3 of them conflict a term), so conflicts stay few.
func TestHerdDelaySlowServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		herdScenario{n: 10, release: true, read: 200 * time.Millisecond, write: 200 * time.Millisecond, takeovers: 5,
			bounds: herdBounds{meanConflicts: 5, maxConflicts: 9, maxTakeover: 6*200*time.Millisecond + 10*time.Millisecond}}.run(t)
	})
}

// eachHerd runs f in fake time for every size of herdSizes, once with a
// crash and once with a release.
func eachHerd(t *testing.T, f func(t *testing.T, n int, release bool)) {
	for _, n := range herdSizes {
		for _, release := range []bool{false, true} {
			name := fmt.Sprintf("n=%d/crash", n)
			if release {
				name = fmt.Sprintf("n=%d/release", n)
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { f(t, n, release) })
			})
		}
	}
}

// herdCand is one candidate of a herd scenario.
type herdCand struct {
	id      string
	le      atomic.Pointer[election.LeaderElector]
	started atomic.Int64 // fake time of OnStartedLeading, in ns
	cancel  context.CancelFunc
	done    chan struct{}
}

func (c *herdCand) leading() bool {
	le := c.le.Load()
	return le != nil && le.IsLeader()
}

// herdLog is what the scenario saw: the followers' and the leaders'
// conflicts, and (through a watch of its own, whose requests take no
// time) when each holder's record last changed, and the successor named.
type herdLog struct {
	followerConflicts, leaderConflicts, writes atomic.Int64

	mu        sync.Mutex
	changed   map[string]time.Time // holder → when its record last changed
	successor string
}

func (s herdScenario) run(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	lg := &herdLog{changed: map[string]time.Time{}}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watcher, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, clientVia(t, srv, func(next http.RoundTripper) http.RoundTripper { return next }), rl.ResourceLockConfig{Identity: "watcher"})
	if err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan struct{})
	defer func() { stopWatch(); <-watchDone }()
	go func() {
		defer close(watchDone)
		var last []byte
		for watchCtx.Err() == nil {
			_ = watcher.(rl.RecordWatcher).WatchRecord(watchCtx, func(rec *rl.LeaderElectionRecord, raw []byte) {
				lg.mu.Lock()
				defer lg.mu.Unlock()
				if rec == nil {
					return
				}
				if !bytes.Equal(raw, last) {
					last = append(last[:0], raw...)
					lg.changed[rec.HolderIdentity] = time.Now()
				}
				lg.successor = rec.Successor
			})
			time.Sleep(time.Millisecond)
		}
	}()

	quiet := slog.New(slog.DiscardHandler)
	if os.Getenv("HERD_DEBUG") != "" {
		quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var mu sync.Mutex
	cands := map[string]*herdCand{}
	next := 0
	start := func() {
		c := &herdCand{id: fmt.Sprintf("c%03d", next), done: make(chan struct{})}
		next++
		slow := func(inner http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				write := r.Method == http.MethodPut || r.Method == http.MethodPost
				if write {
					time.Sleep(s.write)
				} else {
					time.Sleep(s.read)
				}
				resp, err := inner.RoundTrip(r)
				if err == nil && write {
					lg.writes.Add(1)
					if resp.StatusCode == http.StatusConflict {
						if c.leading() {
							lg.leaderConflicts.Add(1)
						} else {
							lg.followerConflicts.Add(1)
						}
					}
				}
				return resp, err
			})
		}
		lock, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, clientVia(t, srv, slow), rl.ResourceLockConfig{Identity: c.id})
		if err != nil {
			t.Fatal(err)
		}
		le, err := election.NewLeaderElector(election.LeaderElectionConfig{
			Lock: lock, LeaseDuration: electiontest.LeaseDuration, RenewDeadline: electiontest.RenewDeadline, RetryPeriod: electiontest.RetryPeriod,
			ReleaseOnCancel: s.release, Logger: quiet,
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) {
					c.started.Store(time.Now().UnixNano())
					<-stop
				},
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.le.Store(le)
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		mu.Lock()
		cands[c.id] = c
		mu.Unlock()
		go func() { defer close(c.done); le.RunContext(ctx) }()
	}
	stop := func(c *herdCand) {
		c.cancel()
		<-c.done
		mu.Lock()
		delete(cands, c.id)
		mu.Unlock()
	}
	defer func() {
		for _, c := range cands {
			c.cancel()
			<-c.done
		}
	}()
	for range s.n {
		start()
	}
	time.Sleep(3 * electiontest.RetryPeriod) // elected, the others watching
	synctest.Wait()

	leader := func() *herdCand {
		var ls []*herdCand
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cands {
			if c.leading() {
				ls = append(ls, c)
			}
		}
		if len(ls) > 1 {
			t.Fatalf("%d leaders", len(ls))
		}
		if len(ls) == 0 {
			return nil
		}
		return ls[0]
	}
	var conflicts []int64
	var latencies []time.Duration
	for range s.takeovers {
		// Out of step with the leader's renewals.
		time.Sleep(time.Duration(rand.Int64N(int64(electiontest.RetryPeriod))))
		synctest.Wait()
		old := leader()
		if old == nil {
			t.Fatal("no leader")
		}
		lg.mu.Lock()
		succ := lg.successor
		lg.mu.Unlock()
		killed := 0
		if s.killSuccessor && succ != "" && succ != old.id {
			mu.Lock()
			c := cands[succ]
			mu.Unlock()
			if c != nil {
				stop(c)
				killed++
			}
		}
		w0, c0, l0 := lg.writes.Load(), lg.followerConflicts.Load(), lg.leaderConflicts.Load()
		stoppedAt := time.Now()
		stop(old)
		var nl *herdCand
		for deadline := time.Now().Add(3 * electiontest.LeaseDuration); (nl == nil || nl.started.Load() == 0) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			nl = leader()
		}
		if nl == nil {
			t.Fatalf("no new leader within %v of stopping %s", 3*electiontest.LeaseDuration, old.id)
		}
		at := time.Unix(0, nl.started.Load())
		// Let every try started for this takeover end, and the next offer.
		time.Sleep(electiontest.RetryPeriod)
		synctest.Wait()
		from := stoppedAt
		if !s.release {
			lg.mu.Lock()
			from = lg.changed[old.id].Add(electiontest.LeaseDuration)
			lg.mu.Unlock()
		}
		conflicts = append(conflicts, lg.followerConflicts.Load()-c0)
		latencies = append(latencies, at.Sub(from))
		t.Logf("takeover by %s (successor named: %q): %d writes, %d conflicts of followers (and %d of the leader's), %v after the %s",
			nl.id, succ, lg.writes.Load()-w0, lg.followerConflicts.Load()-c0, lg.leaderConflicts.Load()-l0,
			at.Sub(from), map[bool]string{false: "lease ran out", true: "release"}[s.release])
		for range 1 + killed {
			start()
		}
	}
	var sum int64
	for _, c := range conflicts {
		sum += c
	}
	b := s.bounds
	if avg := float64(sum) / float64(len(conflicts)); b.meanConflicts >= 0 && avg > b.meanConflicts {
		t.Errorf("n=%d: %.1f conflicts per takeover on average (%v), want ≤ %v", s.n, avg, conflicts, b.meanConflicts)
	}
	if worst := slices.Max(conflicts); b.maxConflicts >= 0 && worst > b.maxConflicts {
		t.Errorf("n=%d: %d conflicts in one takeover (%v), want ≤ %d", s.n, worst, conflicts, b.maxConflicts)
	}
	if worst := slices.Max(latencies); slices.Min(latencies) < 0 || worst > b.maxTakeover {
		t.Errorf("n=%d: takeovers %v after the lease ran out or the release, want within [0, %v]", s.n, latencies, b.maxTakeover)
	}
}
