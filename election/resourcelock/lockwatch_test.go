package resourcelock_test

import (
	"context"
	"testing"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// The single locks tell package election, through lockwatch, the watch
// they can share and the record they last saw; a lock that embeds one
// does too, and the other locks do not.
func TestLockwatchHooks(t *testing.T) {
	ctx := context.Background()
	srv := testapiserver.New(testapiserver.Options{})
	hooks := lockwatch.Get[*rl.LeaderElectionRecord]()
	for kind, res := range map[string]k8sapi.Resource{
		rl.LeasesResourceLock: k8sapi.Leases, rl.EndpointsResourceLock: k8sapi.Endpoints,
		rl.ConfigMapsResourceLock: k8sapi.ConfigMaps,
	} {
		l := newLock(t, srv, kind, "a")
		if _, _, ok := hooks.Cached(l); ok {
			t.Errorf("%s: a cached record before any request", kind)
		}
		if err := l.Create(ctx, rl.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 10}); err != nil {
			t.Fatal(err)
		}
		if rec, raw, ok := hooks.Cached(l); !ok || rec.HolderIdentity != "a" || len(raw) == 0 {
			t.Errorf("%s: Cached = %v, %q, %v; want the record written", kind, rec, raw, ok)
		}
		// A wrapper that embeds only Interface hides them, as it did the
		// exported methods they replace.
		if _, _, ok := hooks.Cached(struct{ rl.Interface }{l}); ok {
			t.Errorf("%s: a struct embedding Interface has a cached record", kind)
		}
		target, decode, ok := hooks.Shared(l)
		if !ok || decode == nil {
			t.Fatalf("%s: not shared", kind)
		}
		if target.Client == nil || target.Resource != res || target.Namespace != ns || target.Name != "lock" {
			t.Errorf("%s: target %+v", kind, target)
		}
	}
	// An embedded single lock keeps its methods, the unexported ones too.
	lease := newLock(t, srv, rl.LeasesResourceLock, "b").(*rl.LeaseLock)
	if _, _, ok := hooks.Shared(struct{ *rl.LeaseLock }{lease}); !ok {
		t.Error("a struct embedding *LeaseLock is not shared")
	}
	if _, _, err := lease.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _, ok := hooks.Cached(struct{ *rl.LeaseLock }{lease}); !ok || rec.HolderIdentity != "a" {
		t.Errorf("a struct embedding *LeaseLock: Cached = %v, %v; want the record read", rec, ok)
	}
	// A lock that cannot be used, and a MultiLock, are not.
	if _, _, ok := hooks.Shared(&rl.LeaseLock{}); ok {
		t.Error("a LeaseLock without a client is shared")
	}
	multi := newLock(t, srv, rl.EndpointsLeasesResourceLock, "a")
	if _, _, ok := hooks.Shared(multi); ok {
		t.Error("a MultiLock is shared")
	}
	if _, _, ok := hooks.Cached(multi); ok {
		t.Error("a MultiLock has a cached record")
	}
}
