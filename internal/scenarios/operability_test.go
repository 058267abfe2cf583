//go:build go1.25

package scenarios_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/electiontest"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// leaseLock is a Lease lock on srv for id.
func leaseLock(t *testing.T, srv *testapiserver.Server, id string) rl.Interface {
	t.Helper()
	lock, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, srv.Client(), rl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

// serve returns the code and body h answers a GET with.
func serve(h http.Handler) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	return w.Code, w.Body.String()
}

// TestReadinessWhenForbidden: a candidate whose Role lets it read the lock
// but not create it can never lead. It stays ready for the tolerance, then
// CheckReady says why, with the 403 as its cause; liveness is not
// concerned.
func TestReadinessWhenForbidden(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{Allow: []testapiserver.Permission{
			{Verb: "get", Group: "coordination.k8s.io", Resource: "leases"},
			{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases"},
		}})
		le := elect(t, electiontest.NewTimeline(), leaseLock(t, srv, "a"), nil)
		synctest.Wait()
		if err := le.CheckReady(time.Minute); err != nil {
			t.Errorf("CheckReady within the tolerance: %v", err)
		}
		time.Sleep(time.Minute + time.Second)
		err := le.CheckReady(time.Minute)
		if !errors.Is(err, election.ErrNoAPIAccess) || !k8sapi.IsForbidden(err) {
			t.Fatalf("CheckReady = %v, want ErrNoAPIAccess wrapping a 403", err)
		}
		st := le.Status()
		if !st.FailingSince.Equal(electiontest.BubbleStart) || st.Failures < 10 || !k8sapi.IsForbidden(st.LastError) || st.Leading || !st.Running {
			t.Errorf("Status = %+v", st)
		}
		// The reads were answered (404: no lock yet).
		if !st.LastContact.After(electiontest.BubbleStart) {
			t.Errorf("LastContact = %v, want the last read's time", st.LastContact)
		}
		if err := le.CheckLive(0); err != nil {
			t.Errorf("CheckLive = %v: a follower that cannot write is not stuck", err)
		}
		if code, body := serve(le.ReadinessHandler(time.Minute)); code != http.StatusServiceUnavailable || !strings.Contains(body, "403") {
			t.Errorf("readiness handler: %d %q", code, body)
		}
		if code, body := serve(le.LivenessHandler(0)); code != http.StatusOK || body != "ok\n" {
			t.Errorf("liveness handler: %d %q", code, body)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got["lastErrorKind"] != string(election.KindForbidden) || !strings.Contains(got["lastError"].(string), "403") || got["leading"] != false {
			t.Errorf("Status as JSON: %s", b)
		}
		if _, ok := got["leadingUntil"]; ok {
			t.Errorf("Status as JSON has an end of leadership for a follower: %s", b)
		}
	})
}

// TestReadinessRecovers: readiness fails while the API server answers 500s
// and recovers at the first try that goes through; a follower that finds
// the lock held is ready.
func TestReadinessRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		a := elect(t, tl, leaseLock(t, srv, "a"), nil)
		synctest.Wait()
		var fail sync.Mutex
		failing := true
		client := clientVia(t, srv, func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				fail.Lock()
				f := failing
				fail.Unlock()
				if f {
					return nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
				}
				return next.RoundTrip(r)
			})
		})
		lock, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, client, rl.ResourceLockConfig{Identity: "b"})
		if err != nil {
			t.Fatal(err)
		}
		b := elect(t, tl, lock, nil)
		time.Sleep(30 * time.Second)
		if err := b.CheckReady(20 * time.Second); !errors.Is(err, election.ErrNoAPIAccess) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("CheckReady while the connection is refused = %v", err)
		}
		if err := a.CheckReady(20 * time.Second); err != nil {
			t.Errorf("the leader's CheckReady = %v", err)
		}
		fail.Lock()
		failing = false
		fail.Unlock()
		time.Sleep(5 * time.Second) // the next poll goes through
		if err := b.CheckReady(20 * time.Second); err != nil {
			t.Errorf("CheckReady after the API came back = %v", err)
		}
		if st := b.Status(); st.Holder != "a" || st.Leading || st.Failures != 0 || !st.FailingSince.IsZero() || st.LastError == nil {
			t.Errorf("follower Status = %+v", st)
		}
	})
}

// TestLivenessHungRenewal: a renewal that hangs holds up the renew loop;
// CheckLive says so once it is late by more than the tolerance, and is
// healthy again when the request is cut at its timeout. The leadership
// still ends at the renew deadline.
func TestLivenessHungRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		le := elect(t, electiontest.NewTimeline(), leaseLock(t, srv, "a"), nil)
		// Between two renewals (they come every RetryPeriod from 0), so
		// that none is under way when the server starts hanging.
		time.Sleep(30*time.Second + electiontest.RetryPeriod/2)
		synctest.Wait()
		if err := le.CheckLive(time.Second); err != nil {
			t.Fatalf("CheckLive of a healthy leader: %v", err)
		}
		srv.SetHang(true)
		last := le.Status().LastRenewal
		// The next renewal is due at last+RetryPeriod and hangs.
		time.Sleep(time.Until(last.Add(electiontest.RetryPeriod + time.Second - time.Millisecond)))
		if err := le.CheckLive(time.Second); err != nil {
			t.Errorf("CheckLive within the tolerance: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
		if err := le.CheckLive(time.Second); !errors.Is(err, election.ErrRenewalStuck) {
			t.Errorf("CheckLive of a renewal hung past the tolerance = %v, want ErrRenewalStuck", err)
		}
		if code, _ := serve(le.LivenessHandler(time.Second)); code != http.StatusServiceUnavailable {
			t.Errorf("liveness handler: %d", code)
		}
		if !le.IsLeader() {
			t.Error("the leader stepped down before its deadline")
		}
		// The request is cut after RequestTimeout (RenewDeadline/2).
		time.Sleep(time.Until(last.Add(electiontest.RetryPeriod + electiontest.RenewDeadline/2 + time.Millisecond)))
		if err := le.CheckLive(time.Second); err != nil {
			t.Errorf("CheckLive after the hung request was cut: %v", err)
		}
		time.Sleep(time.Until(last.Add(electiontest.RenewDeadline)))
		synctest.Wait()
		if le.IsLeader() {
			t.Error("still leading after the renew deadline")
		}
		if err := le.CheckLive(0); err != nil {
			t.Errorf("CheckLive after stepping down: %v", err)
		}
		srv.SetHang(false)
	})
}

// TestLivenessCallbackIgnoresStop: OnStartedLeading that does not return
// after its stop was closed makes CheckLive fail after the tolerance, and
// healthy again once it returns.
func TestLivenessCallbackIgnoresStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		release := make(chan struct{})
		stopped := make(chan time.Time, 1)
		le := elect(t, electiontest.NewTimeline(), leaseLock(t, srv, "a"), func(c *election.LeaderElectionConfig) {
			c.Callbacks.OnStartedLeading = func(stop <-chan struct{}) {
				<-stop
				stopped <- time.Now()
				<-release
			}
		})
		time.Sleep(30 * time.Second)
		srv.SetHang(true)
		at := <-stopped
		time.Sleep(5 * time.Second)
		if err := le.CheckLive(5 * time.Second); err != nil {
			t.Errorf("CheckLive within the tolerance: %v", err)
		}
		time.Sleep(time.Millisecond)
		err := le.CheckLive(5 * time.Second)
		if !errors.Is(err, election.ErrCallbackStuck) {
			t.Errorf("CheckLive %v after stop = %v, want ErrCallbackStuck", time.Since(at), err)
		}
		close(release)
		synctest.Wait()
		if err := le.CheckLive(5 * time.Second); err != nil {
			t.Errorf("CheckLive after the callback returned: %v", err)
		}
		srv.SetHang(false)
	})
}

// TestLivenessBlockingMetricsHook: a Metrics hook that blocks holds the
// renew loop: CheckLive reports it; the watchdog still ends the leadership at
// the deadline.
func TestLivenessBlockingMetricsHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		unblock := make(chan struct{})
		var renewals int
		tl := electiontest.NewTimeline()
		le := elect(t, tl, leaseLock(t, srv, "a"), func(c *election.LeaderElectionConfig) {
			c.Metrics = &election.Metrics{Renewal: func(time.Duration, error) {
				if renewals++; renewals == 3 {
					<-unblock
				}
			}}
		})
		synctest.Wait()
		start := time.Now()
		time.Sleep(3*electiontest.RetryPeriod + electiontest.RetryPeriod + 2*time.Second + time.Millisecond)
		if err := le.CheckLive(2 * time.Second); !errors.Is(err, election.ErrRenewalStuck) {
			t.Errorf("CheckLive with a blocked hook = %v, want ErrRenewalStuck", err)
		}
		time.Sleep(time.Until(start.Add(3*electiontest.RetryPeriod + electiontest.RenewDeadline)))
		synctest.Wait()
		if open := tl.Open(); le.IsLeader() || len(open) != 0 {
			t.Errorf("IsLeader %v, open terms %v after the deadline", le.IsLeader(), open)
		}
		close(unblock)
		synctest.Wait()
		if err := le.CheckLive(0); err != nil {
			t.Errorf("CheckLive after the hook returned: %v", err)
		}
	})
}

// TestStatusOfLeaderAndFollower checks every field of Status on a leader
// and a follower.
func TestStatusOfLeaderAndFollower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		a := elect(t, tl, leaseLock(t, srv, "a"), nil)
		synctest.Wait()
		b := elect(t, tl, leaseLock(t, srv, "b"), nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		now := time.Now()
		sa, sb := a.Status(), b.Status()
		if !sa.Running || !sa.Leading || sa.Term != 0 || sa.Holder != "a" || !sa.LockExists || sa.Identity != "a" ||
			!sa.LeadingUntil.Equal(sa.LastRenewal.Add(electiontest.RenewDeadline)) || now.Sub(sa.LastRenewal) > electiontest.RetryPeriod ||
			!sa.FailingSince.IsZero() || sa.LastError != nil {
			t.Errorf("leader Status = %+v", sa)
		}
		if b, err := json.Marshal(sa); err != nil || !strings.Contains(string(b), `"leadingUntil":"`) {
			t.Errorf("leader Status as JSON has no end of leadership: %s (%v)", b, err)
		}
		if !sb.Running || sb.Leading || sb.Holder != "a" || !sb.LockExists || !sb.Watching || !sb.LastRenewal.IsZero() ||
			!sb.LeaseExpiry.Equal(sb.ObservedAt.Add(electiontest.LeaseDuration)) || now.Sub(sb.ObservedAt) > electiontest.RetryPeriod ||
			!sb.FailingSince.IsZero() || sb.Failures != 0 {
			t.Errorf("follower Status = %+v", sb)
		}
		if code, body := serve(a.LeaderHandler()); code != http.StatusOK || body != "leading\n" {
			t.Errorf("leader handler on the leader: %d %q", code, body)
		}
		if code, _ := serve(b.LeaderHandler()); code != http.StatusServiceUnavailable {
			t.Errorf("leader handler on a follower: %d", code)
		}
	})
}

// TestStandAgain: Stand keeps a candidate standing: after it loses the
// lock it stands again, leads in a new term with a fresh stop channel, and
// never calls OnStartedLeading while an earlier call still runs.
func TestStandAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		var mu sync.Mutex
		var running, starts, stops int
		var stopChans []<-chan struct{}
		finish := make(chan struct{}) // lets the first term's callback return
		cfg := election.LeaderElectionConfig{
			Lock:          leaseLock(t, srv, "a"),
			LeaseDuration: electiontest.LeaseDuration,
			RenewDeadline: electiontest.RenewDeadline,
			RetryPeriod:   electiontest.RetryPeriod,
			Logger:        electiontest.Logger(t),
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) {
					mu.Lock()
					running++
					starts++
					n := starts
					if running > 1 {
						t.Errorf("OnStartedLeading called while another call runs")
					}
					stopChans = append(stopChans, stop)
					mu.Unlock()
					<-stop
					if n == 1 {
						<-finish // a slow shutdown
					}
					mu.Lock()
					running--
					mu.Unlock()
				},
				OnStoppedLeading: func() { mu.Lock(); stops++; mu.Unlock() },
			},
		}
		le, err := election.NewLeaderElector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- le.Stand(ctx) }()
		time.Sleep(10 * time.Second)
		term0, _ := le.Term()
		srv.SetHang(true)
		time.Sleep(electiontest.RenewDeadline)
		srv.SetHang(false)
		synctest.Wait()
		mu.Lock()
		if starts != 1 || stops != 1 {
			t.Errorf("after the loss: %d starts, %d stops; want 1, 1", starts, stops)
		}
		mu.Unlock()
		// The first callback still runs: no second term yet, however long.
		time.Sleep(time.Minute)
		mu.Lock()
		if starts != 1 {
			t.Errorf("a second term started while the first callback ran")
		}
		mu.Unlock()
		if err := le.CheckLive(time.Second); !errors.Is(err, election.ErrCallbackStuck) {
			t.Errorf("CheckLive with the first callback running = %v", err)
		}
		close(finish)
		time.Sleep(2 * (electiontest.RetryPeriod + time.Duration(election.JitterFactor*float64(electiontest.RetryPeriod))))
		term1, leading := le.Term()
		mu.Lock()
		if !leading || term1 <= term0 || starts != 2 || len(stopChans) != 2 || stopChans[0] == stopChans[1] {
			t.Errorf("after standing again: leading %v, term %d (was %d), %d starts", leading, term1, term0, starts)
		}
		select {
		case <-stopChans[len(stopChans)-1]:
			t.Error("the new term's stop channel is closed")
		default:
		}
		mu.Unlock()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Stand = %v, want context.Canceled", err)
		}
		if err := le.Stand(context.Background()); !errors.Is(err, election.ErrAlreadyRun) {
			t.Errorf("second Stand = %v, want ErrAlreadyRun", err)
		}
		synctest.Wait()
		mu.Lock()
		if stops != 2 || running != 0 {
			t.Errorf("at the end: %d stops, %d callbacks running", stops, running)
		}
		mu.Unlock()
	})
}

// TestStandAgainAfterAnotherLeads: a standing candidate that loses the
// lock to another (its API access broke) follows it once the access is
// back, and leads again in a higher term when the other releases.
func TestStandAgainAfterAnotherLeads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		var mu sync.Mutex
		broken := false
		client := clientVia(t, srv, func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				b := broken
				mu.Unlock()
				if b {
					return nil, errors.New("connection refused")
				}
				return next.RoundTrip(r)
			})
		})
		lockA, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, client, rl.ResourceLockConfig{Identity: "a"})
		if err != nil {
			t.Fatal(err)
		}
		config := func(lock rl.Interface) election.LeaderElectionConfig {
			c := electiontest.Config(t, lock, tl)
			c.ReleaseOnCancel = true
			return c
		}
		a, err := election.NewLeaderElector(config(lockA))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Stand(ctx) }()
		synctest.Wait()
		b, err := election.NewLeaderElector(config(leaseLock(t, srv, "b")))
		if err != nil {
			t.Fatal(err)
		}
		bctx, bcancel := context.WithCancel(context.Background())
		bdone := make(chan struct{})
		go func() { defer close(bdone); b.RunContext(bctx) }()
		time.Sleep(10 * time.Second)
		mu.Lock()
		broken = true
		mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		bterm, ok := b.Term()
		if a.IsLeader() || !ok {
			t.Fatalf("a leads %v, b leads %v: want b to have taken over", a.IsLeader(), ok)
		}
		mu.Lock()
		broken = false
		mu.Unlock()
		time.Sleep(time.Minute)
		synctest.Wait()
		if a.IsLeader() || !b.IsLeader() || a.Status().Holder != "b" {
			t.Fatalf("a leads %v, b leads %v, a sees %q: want a to follow b", a.IsLeader(), b.IsLeader(), a.Status().Holder)
		}
		bcancel()
		<-bdone
		time.Sleep(time.Second)
		synctest.Wait()
		if term, ok := a.Term(); !ok || term <= bterm {
			t.Errorf("a after b released: leading %v, term %d (b's %d)", ok, term, bterm)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Stand = %v", err)
		}
		tl.AssertNoOverlap(t)
	})
}

// recordingMetrics counts what the Metrics hooks report.
type recordingMetrics struct {
	mu       sync.Mutex
	leading  []string
	acquire  map[election.AcquireOutcome]int
	requests map[string]int
	errors   map[string]int
	renewals int
	failed   int
	watches  int
}

func (m *recordingMetrics) hooks() *election.Metrics {
	m.acquire, m.requests, m.errors = map[election.AcquireOutcome]int{}, map[string]int{}, map[string]int{}
	return &election.Metrics{
		Leading: func(on bool, term int) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.leading = append(m.leading, fmt.Sprintf("%v %d", on, term))
		},
		Request: func(op string, d time.Duration, err error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.requests[op]++
			if err != nil {
				m.errors[op+" "+string(election.ErrorKind(err))]++
			}
		},
		Acquire: func(outcome election.AcquireOutcome) { m.mu.Lock(); m.acquire[outcome]++; m.mu.Unlock() },
		Renewal: func(d time.Duration, err error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.renewals++
			if err != nil {
				m.failed++
			}
		},
		WatchRestart: func(error) { m.mu.Lock(); m.watches++; m.mu.Unlock() },
	}
}

// TestMetricsHooks: a leader and a follower for a minute, then a handover:
// the hooks see each leadership, every renewal, the follower's tries and
// requests, and the server ending the follower's watch.
func TestMetricsHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		var ma, mb recordingMetrics
		tl := electiontest.NewTimeline()
		actx, acancel := context.WithCancel(context.Background())
		adone := make(chan struct{})
		cfg := electiontest.Config(t, leaseLock(t, srv, "a"), tl)
		cfg.ReleaseOnCancel, cfg.Metrics = true, ma.hooks()
		a, err := election.NewLeaderElector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		go func() { defer close(adone); a.RunContext(actx) }()
		synctest.Wait()
		elect(t, tl, leaseLock(t, srv, "b"), func(c *election.LeaderElectionConfig) { c.Metrics = mb.hooks() })
		time.Sleep(time.Minute)
		synctest.Wait()
		ma.mu.Lock()
		// One renewal per RetryPeriod: 30 in the minute, give or take one.
		if ma.renewals < 29 || ma.renewals > 31 || ma.failed != 0 || ma.acquire[election.AcquireAcquired] != 1 ||
			fmt.Sprint(ma.leading) != "[true 0]" || ma.requests["update"] != ma.renewals {
			t.Errorf("leader metrics: renewals %d (%d failed), acquire %v, leading %v, requests %v",
				ma.renewals, ma.failed, ma.acquire, ma.leading, ma.requests)
		}
		ma.mu.Unlock()
		mb.mu.Lock()
		if mb.acquire[election.AcquireHeld] != 1 || mb.requests["get"] != 1 || len(mb.leading) != 0 || mb.renewals != 0 {
			t.Errorf("follower metrics: acquire %v, requests %v, leading %v", mb.acquire, mb.requests, mb.leading)
		}
		mb.mu.Unlock()
		acancel()
		<-adone
		// b takes the released lock after its herd delay.
		time.Sleep(electiontest.MaxHerdDelay)
		synctest.Wait()
		ma.mu.Lock()
		if fmt.Sprint(ma.leading) != "[true 0 false 0]" {
			t.Errorf("leader's Leading calls: %v", ma.leading)
		}
		ma.mu.Unlock()
		mb.mu.Lock()
		if mb.acquire[election.AcquireAcquired] != 1 || fmt.Sprint(mb.leading) != "[true 1]" {
			t.Errorf("follower after the handover: acquire %v, leading %v", mb.acquire, mb.leading)
		}
		mb.mu.Unlock()
		// The server ends every watch after its timeout (5 minutes).
		time.Sleep(6 * time.Minute)
		synctest.Wait()
		ma.mu.Lock()
		defer ma.mu.Unlock()
		if ma.watches != 0 {
			t.Errorf("a stopped: %d watch restarts", ma.watches)
		}
		mb.mu.Lock()
		defer mb.mu.Unlock()
		if mb.watches < 1 {
			t.Errorf("b's watch restarts: %d, want at least 1 in 6 minutes", mb.watches)
		}
	})
}

// TestPlannedTransfer: a transfer request names c as the preferred holder
// of the Lease. The leader a steps down at once, releases for c once its
// callback returns, and c takes over at once; b, also watching, does not
// take the release. The request is cleared by c's acquisition, and a,
// standing again, follows c.
func TestPlannedTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		a, err := election.NewLeaderElector(electiontest.Config(t, leaseLock(t, srv, "a"), tl))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		adone := make(chan error, 1)
		go func() { adone <- a.RunContext(ctx) }()
		synctest.Wait()
		b := elect(t, tl, leaseLock(t, srv, "b"), nil)
		c := elect(t, tl, leaseLock(t, srv, "c"), nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		aterm, _ := a.Term()

		asked := time.Now()
		if err := rl.RequestTransfer(ctx, srv.Client(), electiontest.Namespace, electiontest.LockName, "c"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		err = <-adone
		if !errors.Is(err, election.ErrHandedOver) || !errors.Is(err, election.ErrLeadershipLost) {
			t.Errorf("a's RunContext = %v, want ErrHandedOver", err)
		}
		cterm, ok := c.Term()
		if !ok || cterm <= aterm || b.IsLeader() || a.IsLeader() {
			t.Fatalf("after the transfer: c leads %v (term %d, a's %d), b leads %v, a leads %v", ok, cterm, aterm, b.IsLeader(), a.IsLeader())
		}
		if took := tl.StartOf("c").Sub(asked); took != 0 {
			t.Errorf("c took over %v after the request, want at once", took)
		}
		obj := electiontest.MustGet(t, srv, "coordination.k8s.io", "leases")
		meta, _ := obj["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if _, ok := ann[rl.PreferredHolderAnnotationKey]; ok {
			t.Errorf("the request is still on the Lease after c took over: %v", ann)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !c.IsLeader() || b.IsLeader() {
			t.Errorf("a minute later: c leads %v, b leads %v", c.IsLeader(), b.IsLeader())
		}
		tl.AssertNoOverlap(t)
	})
}

// TestTransferToAbsentCandidate: a request names a candidate that does not
// run. The leader hands over; the release is reserved for that candidate
// for a lease, and then another candidate takes the lock and clears the
// request, so that no later leader steps down for it.
func TestTransferToAbsentCandidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		var les []*election.LeaderElector
		for _, id := range []string{"a", "b"} {
			les = append(les, elect(t, tl, leaseLock(t, srv, id), nil))
			synctest.Wait()
		}
		time.Sleep(time.Minute)
		asked := time.Now()
		if err := rl.RequestTransfer(context.Background(), srv.Client(), electiontest.Namespace, electiontest.LockName, "nobody"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := leaders(les...); n != 0 {
			t.Errorf("%d leaders right after the handover to an absent candidate", n)
		}
		time.Sleep(electiontest.LeaseDuration - time.Millisecond)
		if n := leaders(les...); n != 0 {
			t.Errorf("%d leaders within the reserved lease", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !les[1].IsLeader() {
			t.Errorf("b does not lead after the reservation ran out (a's elector returned)")
		}
		if took := tl.StartOf("b").Sub(asked); took < electiontest.LeaseDuration || took > electiontest.LeaseDuration+time.Second {
			t.Errorf("b took over %v after the request, want one lease", took)
		}
		if holder := rlHolderPreferred(t, srv); holder != "" {
			t.Errorf("preferred holder %q still on the Lease", holder)
		}
		time.Sleep(time.Minute)
		if !les[1].IsLeader() {
			t.Error("b stepped down again")
		}
		tl.AssertNoOverlap(t)
	})
}

// rlHolderPreferred is the preferred holder the Lease on srv names.
func rlHolderPreferred(t *testing.T, srv *testapiserver.Server) string {
	t.Helper()
	obj := electiontest.MustGet(t, srv, "coordination.k8s.io", "leases")
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	s, _ := ann[rl.PreferredHolderAnnotationKey].(string)
	return s
}

// TestLostLeadershipErrorWrapsCause: when renewals fail until the deadline,
// RunContext's error wraps the last real failure (here a 500 or a 403),
// not only "the deadline passed".
func TestLostLeadershipErrorWrapsCause(t *testing.T) {
	for _, code := range []int{500, 403} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := testapiserver.New(testapiserver.Options{})
				le, err := election.NewLeaderElector(electiontest.Config(t, leaseLock(t, srv, "a"), electiontest.NewTimeline()))
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- le.RunContext(context.Background()) }()
				synctest.Wait()
				srv.FailNext(1000, code)
				err = <-done
				var se *k8sapi.StatusError
				if !errors.Is(err, election.ErrLeadershipLost) || !errors.As(err, &se) || se.Code != code {
					t.Errorf("RunContext = %v, want ErrLeadershipLost wrapping the %d", err, code)
				}
				srv.FailNext(0, 0)
			})
		})
	}
}

// TestTransferRedirected: a handover release reserved for an absent
// candidate is redirected by a second request, which changes only the
// annotation: the newly named candidate, watching, takes it at once.
func TestTransferRedirected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		elect(t, tl, leaseLock(t, srv, "a"), nil)
		synctest.Wait()
		b := elect(t, tl, leaseLock(t, srv, "b"), nil)
		c := elect(t, tl, leaseLock(t, srv, "c"), nil)
		time.Sleep(time.Minute)
		client := srv.Client()
		if err := rl.RequestTransfer(context.Background(), client, electiontest.Namespace, electiontest.LockName, "nobody"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if b.IsLeader() || c.IsLeader() {
			t.Fatal("a candidate took a release reserved for another")
		}
		asked := time.Now()
		if err := rl.RequestTransfer(context.Background(), client, electiontest.Namespace, electiontest.LockName, "c"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !c.IsLeader() || b.IsLeader() {
			t.Errorf("after the redirect: c leads %v, b leads %v", c.IsLeader(), b.IsLeader())
		}
		if took := tl.StartOf("c").Sub(asked); took != 0 {
			t.Errorf("c took over %v after the redirect, want at once", took)
		}
		tl.AssertNoOverlap(t)
	})
}

// TestStaleReadAfterWatchedRelease: a candidate's first read is answered
// with the leader's record, but the answer arrives after its watch showed
// the leader's release. The stale answer must not put the old record back
// (which would make the candidate wait a whole lease): it takes the lock
// at once.
func TestStaleReadAfterWatchedRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		tl := electiontest.NewTimeline()
		cfg := electiontest.Config(t, leaseLock(t, srv, "a"), tl)
		cfg.ReleaseOnCancel = true
		a, err := election.NewLeaderElector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		actx, acancel := context.WithCancel(context.Background())
		adone := make(chan struct{})
		go func() { defer close(adone); a.RunContext(actx) }()
		synctest.Wait()

		released := make(chan struct{})
		var held atomic.Bool
		client := clientVia(t, srv, func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := next.RoundTrip(r)
				if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "" && held.CompareAndSwap(false, true) {
					<-released // the answer (a's record) arrives after the release
				}
				return resp, err
			})
		})
		lock, err := rl.New(rl.LeasesResourceLock, electiontest.Namespace, electiontest.LockName, client, rl.ResourceLockConfig{Identity: "b"})
		if err != nil {
			t.Fatal(err)
		}
		b := elect(t, tl, lock, nil)
		synctest.Wait() // b's watch shows a's record; its read is held
		acancel()
		<-adone
		synctest.Wait() // b's watch shows the release
		releasedAt := time.Now()
		close(released)
		synctest.Wait()
		time.Sleep(electiontest.RetryPeriod)
		if !b.IsLeader() {
			t.Fatalf("b does not lead %v after a released", time.Since(releasedAt))
		}
		if took := tl.StartOf("b").Sub(releasedAt); took > time.Millisecond {
			t.Errorf("b led %v after the release, want at once", took)
		}
	})
}
