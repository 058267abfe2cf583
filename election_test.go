//go:build go1.25

//go:debug asynctimerchan=0

// End-to-end tests of the public API: several candidates, each with its own
// REST client, elect a leader through one lock object on the in-process API
// server. Every test runs in a testing/synctest bubble, so lease durations
// of seconds pass in fake time and the assertions about time are exact.
// More scenarios (herds, operability, reliability) are in
// internal/scenarios; what both use is in internal/electiontest.
package kubelect_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/electiontest"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// TestSeedAPIVerbatim uses the seed's API exactly as code written against
// the Kubernetes 1.5 package (as forked by etcd-operator) does: a lock,
// RunOrDie with the three durations and the two required callbacks. Run
// returns once leadership is lost, here because the API server stops
// answering.
func TestSeedAPIVerbatim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		lock := &rl.EndpointsLock{
			EndpointsMeta: rl.ObjectMeta{Namespace: electiontest.Namespace, Name: electiontest.LockName},
			Client:        srv.Client(),
			LockConfig:    rl.ResourceLockConfig{Identity: "seed-candidate"},
		}

		var mu sync.Mutex
		var events []string
		note := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }

		started := make(chan struct{})
		go func() {
			time.Sleep(time.Minute) // fake time: a minute of renewals
			srv.SetHang(true)
		}()
		defer slog.SetDefault(slog.Default())
		slog.SetDefault(electiontest.Logger(t))
		election.RunOrDie(election.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: election.DefaultLeaseDuration,
			RenewDeadline: election.DefaultRenewDeadline,
			RetryPeriod:   election.DefaultRetryPeriod,
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) {
					note("started")
					close(started)
					<-stop
					note("stop closed")
				},
				OnStoppedLeading: func() { note("stopped") },
				OnNewLeader:      func(identity string) { note("new leader " + identity) },
			},
		})
		hungAt := time.Now()
		srv.SetHang(false)
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		want := map[string]bool{"started": true, "stop closed": true, "stopped": true, "new leader seed-candidate": true}
		for _, e := range events {
			if !want[e] {
				t.Errorf("unexpected callback %q", e)
			}
			delete(want, e)
		}
		if len(want) != 0 {
			t.Errorf("callbacks never called: %v (got %v)", want, events)
		}
		// The server hung one minute in; RunOrDie returns once the leader
		// has failed to renew for RenewDeadline, measured from its last
		// successful renewal, which was before the hang.
		if ran := hungAt.Sub(electiontest.BubbleStart); ran < time.Minute || ran > time.Minute+election.DefaultRenewDeadline {
			t.Errorf("RunOrDie returned %v after start, want within [1m, 1m+%v]", ran, election.DefaultRenewDeadline)
		}
		if got := electiontest.AnnotationRecord(t, srv).HolderIdentity; got != "seed-candidate" {
			t.Errorf("lock holder = %q, want seed-candidate", got)
		}
	})
}

// TestOneLeaderAmongFive runs five candidates for ten fake minutes: there
// is always at most one leader, everyone agrees who it is, and it keeps the
// lease the whole time (a healthy leader is never deposed).
func TestOneLeaderAmongFive(t *testing.T) {
	for _, kind := range []string{rl.LeasesResourceLock, rl.EndpointsResourceLock, rl.ConfigMapsResourceLock} {
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := testapiserver.New(testapiserver.Options{})
				f := electiontest.NewFleet(t, srv, kind, 5, false)
				time.Sleep(10 * time.Minute)
				leader := f.SoleLeader(t)
				f.StopAll()
				f.Timeline.AssertNoOverlap(t)
				if n := len(f.Timeline.Intervals()); n != 1 {
					t.Errorf("%d leadership terms, want 1: %+v", n, f.Timeline.Intervals())
				}
				for _, c := range f.Candidates {
					if got := c.Elector().GetLeader(); got != leader {
						t.Errorf("%s sees leader %q, want %q", c.ID, got, leader)
					}
				}
			})
		})
	}
}

// TestFailoverWithoutRelease stops the leader without releasing the lock (as
// a crash would): another candidate takes over once the lease has expired by
// its own clock, and not before.
func TestFailoverWithoutRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		f := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 3, false)
		time.Sleep(time.Minute)
		old := f.Leader(t)
		stoppedAt := time.Now()
		old.Stop()

		next := f.WaitNewLeader(t, old.ID)
		took := f.Timeline.StartOf(next.ID).Sub(stoppedAt)
		// A polling follower sees the old leader's last renewal at its next
		// poll, up to RetryPeriod*(1+JitterFactor) later; it takes the lock
		// at its first poll after LeaseDuration from then.
		maxWait := electiontest.LeaseDuration + 2*time.Duration(float64(electiontest.RetryPeriod)*(1+election.JitterFactor))
		if took > maxWait {
			t.Errorf("failover took %v, want at most %v", took, maxWait)
		}
		// Followers watch the lock: they saw the last renewal when it was
		// made, and try when the lease expires, with at most 20ms of jitter.
		if watched := electiontest.LeaseDuration + electiontest.MaxHerdDelay; took > watched {
			t.Errorf("failover took %v; watching followers should take over within %v", took, watched)
		}
		if took < electiontest.LeaseDuration-electiontest.RetryPeriod {
			t.Errorf("failover took %v: a follower took a lease that had not expired (lease %v)", took, electiontest.LeaseDuration)
		}
		if term, leading := next.Elector().Term(); term != 1 || !leading {
			t.Errorf("new leader's Term() = %d, %v; want 1, true (one change of holder)", term, leading)
		}
		f.StopAll()
		f.Timeline.AssertNoOverlap(t)
	})
}

// TestHandoverWithRelease stops the leader with ReleaseOnCancel: the next
// leader takes over at its next retry, far sooner than a lease duration.
func TestHandoverWithRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		f := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 3, true)
		time.Sleep(time.Minute)
		old := f.Leader(t)
		stoppedAt := time.Now()
		old.Stop()

		next := f.WaitNewLeader(t, old.ID)
		took := f.Timeline.StartOf(next.ID).Sub(stoppedAt)
		// The followers see the release on their watch and take the lock
		// after their herd delay: at most s·ln(1024) ≈ 34.7ms with s = 5ms
		// (its floor), as the in-process server answers in no fake time.
		if took > electiontest.MaxHerdDelay {
			t.Errorf("handover after release took %v, want ≤ %v (taken as soon as seen, after the herd delay)", took, electiontest.MaxHerdDelay)
		}
		rec := electiontest.LeaseRecord(t, srv)
		if rec.HolderIdentity == "" || rec.HolderIdentity == old.ID {
			t.Errorf("lease holder after handover = %q", rec.HolderIdentity)
		}
		f.StopAll()
		f.Timeline.AssertNoOverlap(t)
	})
}

// TestFollowersDoNotPoll counts requests over five minutes of a steady
// election: the leader renews with one PUT per RetryPeriod and no read,
// and the followers, which watch the lock, send nothing but a new watch
// when the server ends one.
func TestFollowersDoNotPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		counts := electiontest.CountRequests(srv)
		f := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 3, false)
		time.Sleep(time.Minute + time.Second)
		counts()
		time.Sleep(5 * time.Minute)
		got := counts()
		f.SoleLeader(t)
		// 5 minutes / RetryPeriod; each candidate's watch (the leader
		// watches for deletions and foreign writes) is reopened once,
		// when the server ends it after WatchTimeout (at 5 minutes).
		want := map[string]int{"PUT": 150, "WATCH": 3}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("requests in five minutes (-want +got):\n%s", diff)
		}
	})
}

// TestPollingWhenWatchForbidden: with a Role that does not allow watch,
// followers fall back to polling and the election works as before.
func TestPollingWhenWatchForbidden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var allow []testapiserver.Permission
		for _, verb := range []string{"get", "create", "update"} {
			allow = append(allow, testapiserver.Permission{Verb: verb, Group: "coordination.k8s.io", Resource: "leases"})
		}
		srv := testapiserver.New(testapiserver.Options{Allow: allow})
		var gets atomic.Int32
		srv.SetHook(func(r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "" {
				gets.Add(1)
			}
		})
		f := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 3, true)
		time.Sleep(time.Minute)
		old := f.Leader(t)
		// Each follower polls at least every RetryPeriod*(1+JitterFactor).
		if n, least := gets.Load(), int32(2*time.Minute/time.Duration(float64(electiontest.RetryPeriod)*(1+election.JitterFactor))); n < least {
			t.Errorf("%d GETs in a minute from two polling followers, want at least %d", n, least)
		}
		old.Stop()
		f.WaitNewLeader(t, old.ID)
		f.StopAll()
		f.Timeline.AssertNoOverlap(t)
	})
}

// TestRecoveryAfterServerErrors injects a burst of 500s and then a burst of
// 409s: leadership may move, but there is never more than one leader, and
// there is a leader again once the server answers normally.
func TestRecoveryAfterServerErrors(t *testing.T) {
	for _, code := range []int{500, 409} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := testapiserver.New(testapiserver.Options{})
				f := electiontest.NewFleet(t, srv, rl.LeasesResourceLock, 3, false)
				time.Sleep(time.Minute)
				srv.FailNext(40, code)
				time.Sleep(2 * time.Minute)
				f.SoleLeader(t)
				f.StopAll()
				f.Timeline.AssertNoOverlap(t)
			})
		})
	}
}

// TestEndpointsLockKeepsForeignFields renews an Endpoints lock for ten fake
// minutes (hundreds of updates): the object's subsets, labels, owner
// references, other annotations and fields unknown to the library are all
// still there, unchanged.
func TestEndpointsLockKeepsForeignFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		seed := `{
		  "apiVersion": "v1", "kind": "Endpoints",
		  "metadata": {
		    "name": "` + electiontest.LockName + `", "namespace": "` + electiontest.Namespace + `",
		    "labels": {"app": "demo", "tier": "control"},
		    "annotations": {"example.com/owner": "team-a", "note": "keep me"},
		    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo", "uid": "1234", "controller": true}],
		    "finalizers": ["example.com/cleanup"]
		  },
		  "subsets": [{"addresses": [{"ip": "10.0.0.7", "nodeName": "node-a"}], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}],
		  "futureField": {"nested": [1, 2.50, "x"]}
		}`
		if err := srv.Put("", "endpoints", []byte(seed)); err != nil {
			t.Fatal(err)
		}
		before := foreignFields(t, electiontest.MustGet(t, srv, "", "endpoints"))

		f := electiontest.NewFleet(t, srv, rl.EndpointsResourceLock, 3, false)
		time.Sleep(10 * time.Minute)
		f.SoleLeader(t)
		f.StopAll()

		after := foreignFields(t, electiontest.MustGet(t, srv, "", "endpoints"))
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("fields not owned by the lock changed (-before +after):\n%s", diff)
		}
		if rec := electiontest.AnnotationRecord(t, srv); rec.HolderIdentity == "" {
			t.Errorf("no holder in the annotation after ten minutes: %+v", rec)
		}
	})
}

// foreignFields is the object without what the lock and the server change
// on every write.
func foreignFields(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	meta, _ := obj["metadata"].(map[string]any)
	delete(meta, "resourceVersion")
	delete(meta, "managedFields")
	if ann, ok := meta["annotations"].(map[string]any); ok {
		delete(ann, rl.LeaderElectionRecordAnnotationKey)
	}
	return obj
}
