package realapi

import (
	"context"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// Three candidates from in-cluster config on each kind of lock: one
// leads; a planned handover (release) takes one follower poll; a crash
// (the leader's network cut) takes a lease duration plus polling; never two
// leaders at once.
func TestElection(t *testing.T) {
	need(t)
	for _, kind := range []string{rl.LeasesResourceLock, rl.EndpointsResourceLock, rl.ConfigMapsResourceLock, rl.EndpointsLeasesResourceLock} {
		t.Run(kind, func(t *testing.T) {
			f := newFleet(t, kind, uniqueName(t), 3)
			first, _ := f.waitLeader("", 10*time.Second)

			stopped := time.Now()
			first.cancel()
			<-first.done
			second, at := f.waitLeader(first.id, 10*time.Second)
			handover := at.Sub(stopped)
			if handover > poll+time.Second {
				t.Errorf("handover took %v, want at most %v", handover, poll+time.Second)
			}

			second.cut.Store(true)
			cutAt := time.Now()
			third, at := f.waitLeader(second.id, 3*lease)
			failover := at.Sub(cutAt)
			// The annotation locks' record has whole seconds: renewals
			// within one second look alike, so a follower's view of the
			// last renewal may be up to a second old (the leader's renew
			// deadline counts from the same first renewal).
			if least := lease - retry - time.Second; failover < least || failover > lease+2*poll+time.Second {
				t.Errorf("failover took %v, want within [%v, %v]", failover, least, lease+2*poll+time.Second)
			}
			t.Logf("%s: handover %v, failover %v (%s -> %s -> %s)", kind, handover.Round(time.Millisecond),
				failover.Round(time.Millisecond), first.id, second.id, third.id)
		})
	}
}

// kube-apiserver, then etcd, restarted under a running election: there is
// never more than one leader, and there is one again afterwards.
func TestRestarts(t *testing.T) {
	c := need(t)
	f := newFleet(t, rl.LeasesResourceLock, uniqueName(t), 3)
	f.waitLeader("", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := c.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitLeader("", 3*lease)
	if err := c.RestartEtcd(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitLeader("", 3*lease)
	time.Sleep(2 * lease) // let the fleet run on the restarted servers; the monitor checks every 10ms
	n := 0
	for _, cand := range f.cands {
		if cand.le.IsLeader() {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d leaders after the restarts, want 1", n)
	}
}
