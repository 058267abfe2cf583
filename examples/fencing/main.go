// Command fencing shows what a fencing token adds to a lease. Two
// replicas, a and b, elect a leader on the in-process API server
// (k8sapi/testapiserver) and record orders in a ConfigMap with fenced
// updates (fencing.UpdateObject). Replica a leads first; then its process
// freezes for longer than its lease, as in a stop-the-world pause or a
// stopped virtual machine (simulated here: its requests stall and its
// work waits). Replica b takes over and writes. When a wakes up, its next
// write still carries its old token, and the API server refuses it.
//
//	go run ./examples/fencing
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The timings: short, so the demonstration takes seconds.
const (
	lease  = 2 * time.Second
	renew  = 1 * time.Second
	retry  = 200 * time.Millisecond
	freeze = 2 * lease // how long replica a's process is frozen
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fencing:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := testapiserver.New(testapiserver.Options{})
	admin := srv.Client()
	if _, err := admin.Create(ctx, k8sapi.ConfigMaps, k8sapi.NewObject(k8sapi.ConfigMaps, "demo", "orders")); err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	// Replica a: leads, writes once, freezes, wakes and writes again.
	aFrozen := newFreezer()
	aLeads := make(chan struct{})
	aDone := make(chan error, 1)
	a, err := newReplica(srv, "a", aFrozen, func(le *election.LeaderElector) {
		token, err := le.FencingToken()
		if err != nil {
			aDone <- err
			return
		}
		say("a leads with token %d", token)
		if err := record(ctx, admin, token, "a", "order 1"); err != nil {
			aDone <- err
			return
		}
		say("a: order 1 recorded")
		close(aLeads)
		aFrozen.freezeFor(freeze) // the process stops: nothing of it runs
		say("a wakes up after %v, unaware that its lease ran out", freeze)
		err = record(ctx, admin, token, "a", "order 2")
		var stale *fencing.StaleError
		if errors.As(err, &stale) {
			say("a: order 2 refused: %v", err)
			err = nil
		} else if err == nil {
			err = errors.New("a's late write was accepted")
		}
		aDone <- err
	})
	if err != nil {
		return err
	}
	go func() { _ = a.RunContext(ctx) }()
	<-aLeads

	// Replica b: takes over once a's lease has run out, and writes.
	bDone := make(chan error, 1)
	b, err := newReplica(srv, "b", nil, func(le *election.LeaderElector) {
		token, err := le.FencingToken()
		if err == nil {
			say("b leads with token %d", token)
			err = record(ctx, admin, token, "b", "order 3")
		}
		if err == nil {
			say("b: order 3 recorded")
		}
		bDone <- err
	})
	if err != nil {
		return err
	}
	go func() { _ = b.RunContext(ctx) }()
	if err := <-bDone; err != nil {
		return err
	}
	if err := <-aDone; err != nil {
		return err
	}
	obj, err := admin.Get(ctx, k8sapi.ConfigMaps, "demo", "orders")
	if err != nil {
		return err
	}
	var last string
	if _, err := obj.DecodeField(&last, "data", "last"); err != nil {
		return err
	}
	say("the ConfigMap's last order: %s (token %s)", last, obj.Annotations()[fencing.AnnotationKey])
	return nil
}

// record writes an order into the ConfigMap with a fenced update: the
// API server refuses it when a later leadership has written since.
func record(ctx context.Context, c *k8sapi.Client, token fencing.Token, who, order string) error {
	_, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "demo", "orders", token, func(o *k8sapi.Object) error {
		return o.SetField(order+" by "+who, "data", "last")
	})
	return err
}

// newReplica makes an elector for identity id on a Lease; its requests go
// through f (nil: never frozen), and work runs when it leads.
func newReplica(srv *testapiserver.Server, id string, f *freezer, work func(*election.LeaderElector)) (*election.LeaderElector, error) {
	cfg := srv.Config()
	if f != nil {
		cfg.WrapTransport = f.wrap
	}
	c, err := k8sapi.New(cfg)
	if err != nil {
		return nil, err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, "demo", "orders-leader", c, resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, err
	}
	var le *election.LeaderElector
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(<-chan struct{}) { work(le) },
			OnStoppedLeading: func() {},
		},
	})
	return le, err
}

// freezer stalls a replica's requests while its process is "frozen".
type freezer struct {
	mu     sync.Mutex
	thawed chan struct{} // closed when not frozen
}

func newFreezer() *freezer {
	f := &freezer{thawed: make(chan struct{})}
	close(f.thawed)
	return f
}

// freezeFor stalls every request of the replica, and the caller, for d.
func (f *freezer) freezeFor(d time.Duration) {
	f.mu.Lock()
	f.thawed = make(chan struct{})
	thaw := f.thawed
	f.mu.Unlock()
	time.Sleep(d)
	close(thaw)
}

func (f *freezer) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		f.mu.Lock()
		thawed := f.thawed
		f.mu.Unlock()
		select {
		case <-thawed:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
