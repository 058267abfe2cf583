//go:build go1.25

package election_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const sharedNS = "shards"

// putLease stores Lease name held by holder (empty: released) as a
// foreign writer would.
func putLease(t *testing.T, srv *testapiserver.Server, name, holder string, renew time.Time) {
	t.Helper()
	obj := fmt.Sprintf(`{"metadata":{"namespace":%q,"name":%q},"spec":{"holderIdentity":%q,"leaseDurationSeconds":60,"renewTime":%q,"leaseTransitions":1}}`,
		sharedNS, name, holder, renew.UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	if err := srv.Put("coordination.k8s.io", "leases", []byte(obj)); err != nil {
		t.Fatal(err)
	}
}

// shardFollowers starts n electors on the Leases shard-from… through
// client, and returns them with a function that stops them.
func shardFollowers(t *testing.T, client *k8sapi.Client, from, n int) ([]*election.LeaderElector, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	les := make([]*election.LeaderElector, n)
	for i := range les {
		lock, err := rl.New(rl.LeasesResourceLock, sharedNS, fmt.Sprintf("shard-%d", from+i), client, rl.ResourceLockConfig{Identity: "me"})
		if err != nil {
			t.Fatal(err)
		}
		le, err := election.NewLeaderElector(election.LeaderElectionConfig{
			Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
			Logger: slog.New(slog.DiscardHandler),
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) { <-stop },
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		les[i] = le
		go func() {
			_ = le.RunContext(ctx)
			done <- struct{}{}
		}()
	}
	return les, func() {
		cancel()
		for range n {
			<-done
		}
	}
}

// TestSharedWatchManyFollowers: 1,000 electors of one process, each on
// its own Lease, follow them through one client. They hold one watch
// stream between them and one goroutine each (the one that runs the
// elector), make no request while the holder renews, and still see every
// renewal, a change of holder, a release (taken at once) and a deletion,
// across a restart of the stream.
func TestSharedWatchManyFollowers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 1000
		srv := testapiserver.New(testapiserver.Options{})
		var requests, watches atomic.Int64
		srv.SetHook(func(r *http.Request) {
			requests.Add(1)
			if r.URL.Query().Get("watch") != "" {
				watches.Add(1)
			}
		})
		start := time.Now()
		for i := range n {
			putLease(t, srv, fmt.Sprintf("shard-%d", i), "other", start)
		}
		before := runtime.NumGoroutine()
		les, stop := shardFollowers(t, srv.Client(), 0, n)
		defer stop()
		time.Sleep(time.Second)
		synctest.Wait()
		for i, le := range les {
			if got := le.GetLeader(); got != "other" {
				t.Fatalf("shard-%d: leader %q, want other", i, got)
			}
		}
		if w := srv.OpenWatches(); w > 2 {
			t.Errorf("%d followers sharing a client hold %d watch streams, want at most 2", n, w)
		}
		if g := runtime.NumGoroutine() - before; g > n+20 {
			t.Errorf("%d followers run %d goroutines (%.2f each), want at most one each and a few shared", n, g, float64(g)/n)
		}

		// Renewals for a while: every follower sees them, none asks.
		settled := requests.Load()
		for round := 1; round <= 5; round++ {
			time.Sleep(2 * time.Second)
			for i := range n {
				putLease(t, srv, fmt.Sprintf("shard-%d", i), "other", time.Now())
				if i%100 == 99 {
					synctest.Wait() // the watch reads on: the server ends one that falls behind
				}
			}
		}
		if extra := requests.Load() - settled; extra > 0 {
			t.Errorf("followers sent %d requests while the holder renewed, want 0", extra)
		}

		// A restart of the stream (the server closes it) resumes; a
		// change of holder, a release and a deletion all arrive.
		srv.CloseWatches()
		synctest.Wait()
		time.Sleep(3 * time.Second) // at most a backoff
		synctest.Wait()
		if w := srv.OpenWatches(); w != 1 {
			t.Errorf("after a restart: %d watch streams, want 1", w)
		}
		putLease(t, srv, "shard-1", "newcomer", time.Now())
		putLease(t, srv, "shard-2", "", time.Now())
		srv.Delete("coordination.k8s.io", "leases", sharedNS, "shard-3")
		synctest.Wait()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := les[1].GetLeader(); got != "newcomer" {
			t.Errorf("shard-1: leader %q after a change of holder, want newcomer", got)
		}
		if !les[2].IsLeader() {
			t.Errorf("shard-2 was released but its follower does not lead")
		}
		if les[3].IsLeader() {
			t.Errorf("shard-3 was deleted: its follower must wait a lease before taking it")
		}
		// The follower waits out the last record's lease, recreates
		// the lock (which counts as another's: it may have been taken
		// unseen) and takes it once its own lease has passed: 60s (the
		// last record's) and 15s, and a few to spare.
		time.Sleep(80 * time.Second)
		synctest.Wait()
		if !les[3].IsLeader() {
			t.Errorf("shard-3, deleted, is not taken after the leases")
		}
		if w := watches.Load(); w > 10 {
			t.Errorf("%d watch requests for %d followers, want a few", w, n)
		}
	})
}

// TestSharedWatchLoneLock: a lock alone on its client watches its own
// object (a field selector on its name, as RBAC by name allows); a second
// lock on the client moves both to one watch of the collection.
func TestSharedWatchLoneLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		var named, all atomic.Int64
		srv.SetHook(func(r *http.Request) {
			if r.URL.Query().Get("watch") == "" {
				return
			}
			if strings.HasPrefix(r.URL.Query().Get("fieldSelector"), "metadata.name=") {
				named.Add(1)
			} else {
				all.Add(1)
			}
		})
		putLease(t, srv, "shard-0", "other", time.Now())
		putLease(t, srv, "shard-1", "other", time.Now())
		client := srv.Client()
		_, stop := shardFollowers(t, client, 0, 1)
		defer stop()
		time.Sleep(time.Second)
		synctest.Wait()
		if named.Load() != 1 || all.Load() != 0 || srv.OpenWatches() != 1 {
			t.Fatalf("a lone lock: %d named and %d collection watches, %d open; want 1, 0, 1", named.Load(), all.Load(), srv.OpenWatches())
		}
		les, stop2 := shardFollowers(t, client, 1, 1)
		defer stop2()
		time.Sleep(time.Second)
		synctest.Wait()
		if all.Load() != 1 || srv.OpenWatches() != 1 {
			t.Errorf("two locks on a client: %d collection watches, %d open; want 1, 1", all.Load(), srv.OpenWatches())
		}
		putLease(t, srv, "shard-0", "", time.Now())
		putLease(t, srv, "shard-1", "next", time.Now())
		synctest.Wait()
		if got := les[0].GetLeader(); got != "next" {
			t.Errorf("shard-1 after a change of holder: leader %q, want next", got)
		}
	})
}

// TestSharedWatchForbidden: when the server forbids watching the
// collection (and each object), the followers of a shared client fall
// back to watches of their own and then to polling, and still see a
// release.
func TestSharedWatchForbidden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		srv.SetDeny(testapiserver.Permission{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases"})
		for i := range 3 {
			putLease(t, srv, fmt.Sprintf("shard-%d", i), "other", time.Now())
		}
		les, stop := shardFollowers(t, srv.Client(), 0, 3)
		defer stop()
		time.Sleep(time.Second)
		synctest.Wait()
		putLease(t, srv, "shard-1", "", time.Now())
		time.Sleep(5 * time.Second) // two polls
		synctest.Wait()
		if !les[1].IsLeader() {
			t.Errorf("a released lock is not taken by a polling follower")
		}
		if les[0].IsLeader() || les[2].IsLeader() {
			t.Errorf("a follower took a lock held by another")
		}
	})
}

// createSeenLock is a Lease lock whose Create returns only once its watch
// has delivered the record created (the watch event comes before the
// create's answer), and notes when that was. With watch false it cannot
// be watched: its candidate polls.
type createSeenLock struct {
	rl.Interface
	seen    chan struct{} // buffered(1): the watch delivered a record of this candidate
	mu      sync.Mutex
	created time.Time // guarded by mu: when the last Create returned
}

func (l *createSeenLock) Create(ctx context.Context, rec rl.LeaderElectionRecord) error {
	if err := l.Interface.Create(ctx, rec); err != nil {
		return err
	}
	if l.seen != nil {
		select {
		case <-l.seen:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	l.created = time.Now()
	l.mu.Unlock()
	return nil
}

func (l *createSeenLock) createdAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.created
}

// watchedLock is a createSeenLock that can be watched.
type watchedLock struct{ *createSeenLock }

func (l watchedLock) WatchRecord(ctx context.Context, observe func(*rl.LeaderElectionRecord, []byte)) error {
	return l.Interface.(rl.RecordWatcher).WatchRecord(ctx, func(rec *rl.LeaderElectionRecord, raw []byte) {
		observe(rec, raw)
		if rec != nil && rec.HolderIdentity == l.Identity() {
			select {
			case l.seen <- struct{}{}:
			default:
			}
		}
	})
}

// TestRecreatedLockTakenAfterOneLease: a follower that saw its lock
// deleted waits out the last record's lease, recreates the lock (no
// acquisition: the record counts as another's) and takes it one lease
// after the create, however it first sees the server's copy of that
// record: from the watch before the create's answer (the watch's bytes
// were overwritten by the record the candidate stored, without bytes, so
// the read at the expiry found "a change" and waited a second lease: the
// flaky TestSharedWatchManyFollowers), or by a poll (each poll after the
// create moved the lease's start to it).
func TestRecreatedLockTakenAfterOneLease(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(fmt.Sprintf("watch=%v", watch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const leaseDuration, retryPeriod = lease, retry
				srv := testapiserver.New(testapiserver.Options{})
				putLease(t, srv, "solo", "other", time.Now()) // a lease of 60s
				inner, err := rl.New(rl.LeasesResourceLock, sharedNS, "solo", srv.Client(), rl.ResourceLockConfig{Identity: "me"})
				if err != nil {
					t.Fatal(err)
				}
				cl := &createSeenLock{Interface: inner}
				var lock rl.Interface = cl
				if watch {
					cl.seen = make(chan struct{}, 1)
					lock = watchedLock{cl}
				}
				le := run(t, lock, nil).le // 15s/10s/2s timings

				time.Sleep(time.Second)
				synctest.Wait()
				srv.Delete("coordination.k8s.io", "leases", sharedNS, "solo")
				// The last record's lease (60s from when the deletion was
				// seen, by the watch or a poll) passes; the follower
				// recreates the lock.
				var created time.Time
				for range 80 {
					time.Sleep(time.Second)
					synctest.Wait()
					if created = cl.createdAt(); !created.IsZero() {
						break
					}
				}
				if created.IsZero() {
					t.Fatal("the deleted lock was not recreated")
				}
				if le.IsLeader() {
					t.Fatal("a recreated lock is no acquisition: its follower leads at once")
				}
				// It reads (polls) the record it created meanwhile: the
				// lease still runs from the create.
				time.Sleep(leaseDuration - 2*time.Second)
				synctest.Wait()
				if s := le.Status(); le.IsLeader() || !s.ObservedAt.Equal(created) || s.LeaseExpiry.Sub(created) != leaseDuration {
					t.Fatalf("%v after the create: leading %v, observed at %v, expiry %v; want not leading, the create (%v), a lease after it",
						leaseDuration-2*time.Second, le.IsLeader(), s.ObservedAt.Sub(created), s.LeaseExpiry.Sub(created), created.Format(time.StampMicro))
				}
				// Taken once that lease has passed: at once when watching
				// (after a herd delay of milliseconds), at the first poll
				// after it when polling.
				slack := 100 * time.Millisecond
				if !watch {
					slack = time.Duration(float64(retryPeriod) * (1 + election.JitterFactor))
				}
				time.Sleep(time.Until(created.Add(leaseDuration + slack)))
				synctest.Wait()
				if !le.IsLeader() {
					s := le.Status()
					t.Errorf("%v after the create, the follower does not lead; observed at %v after the create (holder %q term %d), expiry %v after it",
						time.Since(created), s.ObservedAt.Sub(created), s.Holder, s.HolderTerm, s.LeaseExpiry.Sub(created))
				}
			})
		})
	}
}
