package realapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// CheckReady on a real server: a candidate whose Role lacks create (the
// lock is missing) or update (the lock is free) on leases is ready until
// the tolerance has passed and not ready after, with the 403 as the cause;
// candidates with the full Role, the leader and a follower, stay ready.
func TestReadiness(t *testing.T) {
	c := need(t)
	const tolerance = time.Second
	ns := c.Namespace
	for _, tc := range []struct {
		name   string
		verbs  []string
		exists bool // the lock exists, free, so that the candidate updates it
	}{
		{"no create", []string{"get", "update", "watch"}, false},
		{"no update", []string{"get", "create", "watch"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := uniqueName(t)
			client, _ := serviceAccountClient(t, "ready-"+name, []harness.Rule{
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: tc.verbs},
			})
			if tc.exists {
				createLease(t, adminOf(t, c), ns, name, map[string]any{})
			}
			l := &ledger{}
			start := time.Now()
			r := run(t, client, rl.LeasesResourceLock, ns, name, "denied", l, false, rl.ResourceLockConfig{})
			var err error
			var at time.Time
			if !waitFor(tolerance+5*time.Second, func() bool {
				err, at = r.le.CheckReady(tolerance), time.Now()
				return err != nil
			}) {
				t.Fatalf("CheckReady(%v) still nil %v after the start: %+v", tolerance, time.Since(start), r.le.Status())
			}
			if early := at.Sub(start); early < tolerance {
				t.Errorf("not ready %v after the start, before the tolerance (%v) passed: %v", early, tolerance, err)
			}
			if !errors.Is(err, election.ErrNoAPIAccess) || !k8sapi.IsForbidden(err) || election.ErrorKind(err) != election.KindForbidden {
				t.Errorf("CheckReady = %v, want an error wrapping ErrNoAPIAccess and a 403", err)
			}
			st := r.le.Status()
			if !k8sapi.IsForbidden(st.LastError) || st.Failures == 0 || st.FailingSince.IsZero() || st.Leading {
				t.Errorf("Status: last error %v, %d failures since %v, leading %v; want the 403, failures, not leading",
					st.LastError, st.Failures, st.FailingSince, st.Leading)
			}
			if got := l.leaders(); len(got) != 0 {
				t.Errorf("%v led without the right to write the lock", got)
			}
			t.Logf("not ready %v after the start: %v", at.Sub(start).Round(time.Millisecond), err)
		})
	}

	t.Run("full Role", func(t *testing.T) {
		name := uniqueName(t)
		l := &ledger{}
		leader := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, "leader", l, false, rl.ResourceLockConfig{})
		l.waitLeads(t, "leader", time.Time{}, 10*time.Second)
		follower := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, "follower", l, false, rl.ResourceLockConfig{})
		if !waitFor(5*time.Second, func() bool { return follower.le.Status().Holder == "leader" }) {
			t.Fatalf("the follower does not see the leader: %+v", follower.le.Status())
		}
		// Sampled past the tolerance: ready all along.
		until := time.Now().Add(tolerance + 2*retry)
		for time.Now().Before(until) {
			for _, r := range []*runner{leader, follower} {
				if err := r.le.CheckReady(tolerance); err != nil {
					t.Fatalf("%s: CheckReady(%v) = %v with the full Role", r.id, tolerance, err)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := leader.le.Status(); !st.Leading || st.LastError != nil || st.LastContact.IsZero() {
			t.Errorf("leader's Status: leading %v, last error %v, last contact %v", st.Leading, st.LastError, st.LastContact)
		}
	})
}

// A leader whose kube-apiserver stops: it stops leading by its deadline
// (RenewDeadline after it sent its last successful renewal), and
// RunContext's error wraps the failure that ended it, a connection error or
// a timeout, not only "leadership lost".
func TestAPIServerStopped(t *testing.T) {
	c := need(t)
	ns, name := c.Namespace, uniqueName(t)
	l := &ledger{}
	r := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, "leader", l, false, rl.ResourceLockConfig{})
	tm := l.waitLeads(t, "leader", time.Time{}, 10*time.Second)
	if !waitFor(5*time.Second, func() bool { return r.le.Status().LastRenewal.After(tm.start) }) {
		t.Fatal("no renewal after the acquisition")
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatalf("kube-apiserver does not start again: %v", err)
		}
		// The tests after this one find the server as before.
		if _, err := clientOf(t, c).Get(ctx, k8sapi.Leases, ns, name); err != nil {
			t.Errorf("after the restart: %v", err)
		}
	})
	stopping := time.Now()
	c.StopAPIServer()
	stopped := time.Now()

	err := r.returned(t, renew+30*time.Second)
	last := r.le.Status().LastRenewal
	end := l.end("leader", tm.start)
	if end.IsZero() {
		t.Fatal("RunContext returned, but OnStartedLeading did not")
	}
	// stop closes at the deadline; the callback notes it a moment later.
	const slack = 100 * time.Millisecond
	if d := end.Sub(last); d > renew+slack {
		t.Errorf("stopped leading %v after the last successful renewal was sent, want at most RenewDeadline %v (+%v)", d, renew, slack)
	}
	kind := election.ErrorKind(err)
	if !errors.Is(err, election.ErrLeadershipLost) || errors.Is(err, election.ErrHandedOver) ||
		(kind != election.KindNetwork && kind != election.KindTimeout) {
		t.Errorf("RunContext = %v (kind %q), want ErrLeadershipLost wrapping a network error or a timeout", err, kind)
	}
	t.Logf("kube-apiserver stopped in %v; the leader stopped %v after its last renewal, %v after the stop began: %v",
		stopped.Sub(stopping).Round(time.Millisecond), end.Sub(last).Round(time.Millisecond), end.Sub(stopping).Round(time.Millisecond), err)
}
