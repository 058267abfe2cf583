package realapi

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

// The successor on a real kube-apiserver, in a fleet led first by client-go
// v0.37.2: this library's followers offer to succeed a client-go leader,
// whose renewals go on (its optimistic renewal conflicts once and reads the
// Lease again); after its release the follower named leads; the next term
// gets an offer of its own; a successor that is gone costs a takeover only
// a grace and a herd delay more.
func TestSuccessor(t *testing.T) {
	need(t)
	klog.SetLogger(logr.Discard())
	name := uniqueName(t)
	watcher, err := rl.New(rl.LeasesResourceLock, cluster.Namespace, name, inClusterClient(t, nil), rl.ResourceLockConfig{Identity: "watcher"})
	if err != nil {
		t.Fatal(err)
	}
	read := func() *rl.LeaderElectionRecord {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rec, _, err := watcher.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	// offered waits for an offer for the current term, and returns the
	// record that names it.
	offered := func(within time.Duration) *rl.LeaderElectionRecord {
		t.Helper()
		for from := time.Now(); time.Since(from) < within; time.Sleep(10 * time.Millisecond) {
			if rec := read(); rec.HolderIdentity != "" && rec.Successor != "" {
				return rec
			}
		}
		t.Fatalf("no successor named within %v: %+v", within, read())
		return nil
	}
	leads := func(m *member, within time.Duration) time.Duration {
		t.Helper()
		from := time.Now()
		for time.Since(from) < within {
			if at := m.startAt.Load(); at != nil && m.isLeader() {
				return at.Sub(from)
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("%s does not lead within %v", m.id, within)
		return 0
	}

	cg := clientGo(t, name, "client-go")
	leads(cg, 10*time.Second)
	members := map[string]*member{}
	for _, id := range []string{"k1", "k2", "k3", "k4"} {
		members[id] = ours(t, name, id)
	}
	defer func() {
		for _, m := range members {
			m.stop()
		}
	}()

	rec := offered(3 * time.Second)
	if rec.HolderIdentity != "client-go" || members[rec.Successor] == nil {
		t.Fatalf("record %+v: want client-go holding, one of ours named", rec)
	}
	// client-go renews on: its lease is renewed several times after the
	// offer, and it still leads.
	renewed := rec.RenewTime
	time.Sleep(4 * retry)
	if now := read(); now.HolderIdentity != "client-go" || !now.RenewTime.After(renewed.Time) || !cg.isLeader() || now.Successor != rec.Successor {
		t.Fatalf("after the offer: %+v, client-go leading %v; want client-go renewing, %s still named", now, cg.isLeader(), rec.Successor)
	}

	cg.stop() // releases
	next := members[rec.Successor]
	t.Logf("client-go → %s, the successor named, by release: %v", next.id, leads(next, 5*time.Second).Round(time.Millisecond))

	// The next term gets its own offer; the leader's release hands over to it.
	rec = offered(3 * time.Second)
	if rec.HolderIdentity != next.id || rec.Successor == next.id || members[rec.Successor] == nil {
		t.Fatalf("record %+v: want %s holding, another of ours named", rec, next.id)
	}
	time.Sleep(2 * retry) // a renewal after the offer
	old := next
	next = members[rec.Successor]
	old.stop()
	delete(members, old.id)
	took := leads(next, 5*time.Second)
	t.Logf("%s → %s, the successor named, by release: %v", old.id, next.id, took.Round(time.Millisecond))
	if took > 500*time.Millisecond {
		t.Errorf("handover to the successor named took %v", took)
	}

	// The successor gone: the last candidate takes over after a grace and
	// its herd delay, well within a lease.
	rec = offered(3 * time.Second)
	gone := members[rec.Successor]
	var last *member
	for id, m := range members {
		if id != rec.Successor && id != next.id {
			last = m
		}
	}
	gone.stop()
	delete(members, gone.id)
	next.stop()
	delete(members, next.id)
	took = leads(last, 5*time.Second)
	t.Logf("%s → %s, with %s (named) gone, by release: %v", next.id, last.id, gone.id, took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("handover with the successor gone took %v", took)
	}
}
