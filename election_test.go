//go:build go1.25

//go:debug asynctimerchan=0

// End-to-end tests of the public API: several candidates, each with its own
// REST client, elect a leader through one lock object on the in-process API
// server. Every test runs in a testing/synctest bubble, so lease durations
// of seconds pass in fake time and the assertions about time are exact.
package kubelect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

const (
	namespace = "default"
	lockName  = "e2e-lock"

	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second

	// maxHerdDelay bounds a watching follower's herd delay against the
	// in-process server, which answers in no fake time: s·ln 1024 with s
	// at its floor of 5ms is 34.7ms (election/acquire.go).
	maxHerdDelay = 35 * time.Millisecond
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
			EndpointsMeta: rl.ObjectMeta{Namespace: namespace, Name: lockName},
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
		slog.SetDefault(testLogger(t))
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
		if ran := hungAt.Sub(bubbleStart); ran < time.Minute || ran > time.Minute+election.DefaultRenewDeadline {
			t.Errorf("RunOrDie returned %v after start, want within [1m, 1m+%v]", ran, election.DefaultRenewDeadline)
		}
		if got := annotationRecord(t, srv).HolderIdentity; got != "seed-candidate" {
			t.Errorf("lock holder = %q, want seed-candidate", got)
		}
	})
}

// bubbleStart is the fake clock's first instant in every synctest bubble.
var bubbleStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// TestOneLeaderAmongFive runs five candidates for ten fake minutes: there
// is always at most one leader, everyone agrees who it is, and it keeps the
// lease the whole time (a healthy leader is never deposed).
func TestOneLeaderAmongFive(t *testing.T) {
	for _, kind := range []string{rl.LeasesResourceLock, rl.EndpointsResourceLock, rl.ConfigMapsResourceLock} {
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := testapiserver.New(testapiserver.Options{})
				f := newFleet(t, srv, kind, 5, false)
				time.Sleep(10 * time.Minute)
				leader := f.soleLeader(t)
				f.stopAll()
				f.tl.assertNoOverlap(t)
				if n := len(f.tl.intervals); n != 1 {
					t.Errorf("%d leadership terms, want 1: %+v", n, f.tl.intervals)
				}
				for _, c := range f.candidates {
					if got := c.elector().GetLeader(); got != leader {
						t.Errorf("%s sees leader %q, want %q", c.id, got, leader)
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
		f := newFleet(t, srv, rl.LeasesResourceLock, 3, false)
		time.Sleep(time.Minute)
		old := f.leader(t)
		stoppedAt := time.Now()
		old.stop()

		next := f.waitNewLeader(t, old.id)
		took := f.tl.startOf(next.id).Sub(stoppedAt)
		// A polling follower sees the old leader's last renewal at its next
		// poll, up to RetryPeriod*(1+JitterFactor) later; it takes the lock
		// at its first poll after LeaseDuration from then.
		maxWait := leaseDuration + 2*time.Duration(float64(retryPeriod)*(1+election.JitterFactor))
		if took > maxWait {
			t.Errorf("failover took %v, want at most %v", took, maxWait)
		}
		// Followers watch the lock: they saw the last renewal when it was
		// made, and try when the lease expires, with at most 20ms of jitter.
		if watched := leaseDuration + maxHerdDelay; took > watched {
			t.Errorf("failover took %v; watching followers should take over within %v", took, watched)
		}
		if took < leaseDuration-retryPeriod {
			t.Errorf("failover took %v: a follower took a lease that had not expired (lease %v)", took, leaseDuration)
		}
		if term, leading := next.elector().Term(); term != 1 || !leading {
			t.Errorf("new leader's Term() = %d, %v; want 1, true (one change of holder)", term, leading)
		}
		f.stopAll()
		f.tl.assertNoOverlap(t)
	})
}

// TestHandoverWithRelease stops the leader with ReleaseOnCancel: the next
// leader takes over at its next retry, far sooner than a lease duration.
func TestHandoverWithRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		f := newFleet(t, srv, rl.LeasesResourceLock, 3, true)
		time.Sleep(time.Minute)
		old := f.leader(t)
		stoppedAt := time.Now()
		old.stop()

		next := f.waitNewLeader(t, old.id)
		took := f.tl.startOf(next.id).Sub(stoppedAt)
		// The followers see the release on their watch and take the lock
		// after their herd delay: at most s·ln(1024) ≈ 34.7ms with s = 5ms
		// (its floor), as the in-process server answers in no fake time.
		if took > maxHerdDelay {
			t.Errorf("handover after release took %v, want ≤ %v (taken as soon as seen, after the herd delay)", took, maxHerdDelay)
		}
		rec := leaseRecord(t, srv)
		if rec.HolderIdentity == "" || rec.HolderIdentity == old.id {
			t.Errorf("lease holder after handover = %q", rec.HolderIdentity)
		}
		f.stopAll()
		f.tl.assertNoOverlap(t)
	})
}

// TestFollowersDoNotPoll counts requests over five minutes of a steady
// election: the leader renews with one PUT per RetryPeriod and no read,
// and the followers, which watch the lock, send nothing but a new watch
// when the server ends one.
func TestFollowersDoNotPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		counts := countRequests(srv)
		f := newFleet(t, srv, rl.LeasesResourceLock, 3, false)
		time.Sleep(time.Minute + time.Second)
		counts()
		time.Sleep(5 * time.Minute)
		got := counts()
		f.soleLeader(t)
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
		f := newFleet(t, srv, rl.LeasesResourceLock, 3, true)
		time.Sleep(time.Minute)
		old := f.leader(t)
		// Each follower polls at least every RetryPeriod*(1+JitterFactor).
		if n, least := gets.Load(), int32(2*time.Minute/time.Duration(float64(retryPeriod)*(1+election.JitterFactor))); n < least {
			t.Errorf("%d GETs in a minute from two polling followers, want at least %d", n, least)
		}
		old.stop()
		f.waitNewLeader(t, old.id)
		f.stopAll()
		f.tl.assertNoOverlap(t)
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
				f := newFleet(t, srv, rl.LeasesResourceLock, 3, false)
				time.Sleep(time.Minute)
				srv.FailNext(40, code)
				time.Sleep(2 * time.Minute)
				f.soleLeader(t)
				f.stopAll()
				f.tl.assertNoOverlap(t)
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
		    "name": "` + lockName + `", "namespace": "` + namespace + `",
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
		before := foreignFields(t, mustGet(t, srv, "", "endpoints"))

		f := newFleet(t, srv, rl.EndpointsResourceLock, 3, false)
		time.Sleep(10 * time.Minute)
		f.soleLeader(t)
		f.stopAll()

		after := foreignFields(t, mustGet(t, srv, "", "endpoints"))
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("fields not owned by the lock changed (-before +after):\n%s", diff)
		}
		if rec := annotationRecord(t, srv); rec.HolderIdentity == "" {
			t.Errorf("no holder in the annotation after ten minutes: %+v", rec)
		}
	})
}

// fleet is a set of candidates on one lock, and the timeline of their
// leadership terms.
type fleet struct {
	candidates []*candidate
	tl         *timeline
}

type candidate struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	le *election.LeaderElector // guarded by mu; replaced when the candidate stands again
}

func (c *candidate) elector() *election.LeaderElector {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.le
}

func (c *candidate) stop() {
	c.cancel()
	<-c.done
}

// newFleet starts n candidates on one lock of the given kind. A candidate
// whose elector ends (leadership lost) stands again with a new elector, as
// a restarted replica would.
func newFleet(t *testing.T, srv *testapiserver.Server, kind string, n int, release bool) *fleet {
	t.Helper()
	f := &fleet{tl: &timeline{open: map[string]time.Time{}}}
	for i := range n {
		id := fmt.Sprintf("candidate-%d", i)
		lock, err := rl.New(kind, namespace, lockName, srv.Client(), rl.ResourceLockConfig{Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		c := &candidate{id: id, cancel: cancel, done: make(chan struct{})}
		c.le = f.newElector(t, lock, id, release)
		go func() {
			defer close(c.done)
			for {
				err := c.elector().RunContext(ctx)
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, election.ErrLeadershipLost) {
					t.Errorf("%s: RunContext: %v", id, err)
					return
				}
				c.mu.Lock()
				c.le = f.newElector(t, lock, id, release)
				c.mu.Unlock()
			}
		}()
		f.candidates = append(f.candidates, c)
	}
	t.Cleanup(f.stopAll)
	return f
}

func (f *fleet) newElector(t *testing.T, lock rl.Interface, id string, release bool) *election.LeaderElector {
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: release,
		Name:            id,
		Logger:          testLogger(t),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				f.tl.start(id)
				<-stop
				f.tl.end(id)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Error(err)
	}
	return le
}

func (f *fleet) stopAll() {
	for _, c := range f.candidates {
		c.stop()
	}
	synctest.Wait()
}

// leader returns the one candidate that says it leads.
func (f *fleet) leader(t *testing.T) *candidate {
	t.Helper()
	var leaders []*candidate
	for _, c := range f.candidates {
		if c.elector().IsLeader() {
			leaders = append(leaders, c)
		}
	}
	if len(leaders) != 1 {
		t.Fatalf("%d candidates lead, want 1", len(leaders))
	}
	return leaders[0]
}

func (f *fleet) soleLeader(t *testing.T) string {
	t.Helper()
	return f.leader(t).id
}

// waitNewLeader waits, in fake time, until a candidate other than old leads.
func (f *fleet) waitNewLeader(t *testing.T, old string) *candidate {
	t.Helper()
	for deadline := time.Now().Add(5 * leaseDuration); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		for _, c := range f.candidates {
			if c.id != old && c.elector().IsLeader() {
				return c
			}
		}
	}
	t.Fatalf("no new leader within %v", 5*leaseDuration)
	return nil
}

// timeline records each leadership term: from OnStartedLeading to the
// closing of its stop channel.
type timeline struct {
	mu        sync.Mutex
	open      map[string]time.Time // guarded by mu
	intervals []interval           // guarded by mu
}

type interval struct {
	id         string
	start, end time.Time
}

func (tl *timeline) start(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.open[id] = time.Now()
}

// startOf is when the open term of id started.
func (tl *timeline) startOf(id string) time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.open[id]
}

func (tl *timeline) end(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.intervals = append(tl.intervals, interval{id: id, start: tl.open[id], end: time.Now()})
	delete(tl.open, id)
}

// assertNoOverlap fails if two terms overlap: a new leader started before
// the previous one's stop channel was closed.
func (tl *timeline) assertNoOverlap(t *testing.T) {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	terms := append([]interval(nil), tl.intervals...)
	sort.Slice(terms, func(i, j int) bool { return terms[i].start.Before(terms[j].start) })
	for i := 1; i < len(terms); i++ {
		if terms[i].start.Before(terms[i-1].end) {
			t.Errorf("two leaders at once: %s led %v–%v and %s from %v",
				terms[i-1].id, terms[i-1].start.Format(time.TimeOnly), terms[i-1].end.Format(time.TimeOnly),
				terms[i].id, terms[i].start.Format(time.TimeOnly))
		}
	}
}

func newClient(t *testing.T, srv *testapiserver.Server) *k8sapi.Client {
	t.Helper()
	c := srv.Client()
	return c
}

func mustGet(t *testing.T, srv *testapiserver.Server, group, resource string) map[string]any {
	t.Helper()
	raw, ok := srv.Get(group, resource, namespace, lockName)
	if !ok {
		t.Fatalf("%s %s/%s not found", resource, namespace, lockName)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
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

func annotationRecord(t *testing.T, srv *testapiserver.Server) rl.LeaderElectionRecord {
	t.Helper()
	obj := mustGet(t, srv, "", "endpoints")
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	s, _ := ann[rl.LeaderElectionRecordAnnotationKey].(string)
	var rec rl.LeaderElectionRecord
	if err := json.Unmarshal([]byte(s), &rec); err != nil {
		t.Fatalf("annotation %q: %v", s, err)
	}
	return rec
}

func leaseRecord(t *testing.T, srv *testapiserver.Server) rl.LeaderElectionRecord {
	t.Helper()
	obj := mustGet(t, srv, "coordination.k8s.io", "leases")
	spec, _ := obj["spec"].(map[string]any)
	holder, _ := spec["holderIdentity"].(string)
	return rl.LeaderElectionRecord{HolderIdentity: holder}
}

// testLogger logs through t.Log, so that a failing test shows what the
// electors did and a passing one stays quiet.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
