package realapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// strategy is the one spec.strategy kube-apiserver 1.37 accepts.
const strategy = "OldestEmulationVersion"

// coordinatedArgs turn on coordinated leader election in kube-apiserver
// 1.37. The gate alone is not enough: the server's LeaseCandidate informer
// then never syncs (coordination.k8s.io/v1beta1 is off by default) and
// /readyz stays at "informer-sync failed".
var coordinatedArgs = []string{
	"--feature-gates=CoordinatedLeaderElection=true",
	"--runtime-config=coordination.k8s.io/v1beta1=true",
}

// A planned transfer on a kube-apiserver with the default feature gates,
// where spec.preferredHolder and spec.strategy do not survive a write: the
// request lives in the annotation, and the transfer works all the same.
func TestPlannedTransfer(t *testing.T) {
	c := need(t)
	transferTrial(t, c, false)
}

// A planned transfer on a kube-apiserver with the CoordinatedLeaderElection
// gate on, which keeps spec.strategy and spec.preferredHolder; and what
// client-go v0.37.2 does as the holder of such a Lease.
func TestPlannedTransferCoordinated(t *testing.T) {
	need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := harness.Start(ctx, harness.Options{APIServerArgs: coordinatedArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	t.Logf("kube-apiserver with %v ready in %v", coordinatedArgs, time.Since(start).Round(time.Millisecond))
	// The gate is on: the LeaseCandidate API it needs is served.
	if code, body, err := c.AdminDo(ctx, http.MethodGet, "/apis/coordination.k8s.io/v1beta1", nil); err != nil || code != http.StatusOK {
		t.Fatalf("coordination.k8s.io/v1beta1: %d %s %v", code, body, err)
	}

	t.Run("kubelect", func(t *testing.T) { transferTrial(t, c, true) })
	t.Run("client-go holder", func(t *testing.T) { clientGoHolder(t, c) })
	t.Run("client-go coordinated holder", func(t *testing.T) { clientGoCoordinatedHolder(t, c) })
}

// transferTrial runs three candidates (separate clients, as separate pods
// would have) on a Lease made with a spec.strategy: a leader running
// RunContext is asked to hand over to one follower, then that one, running
// Stand, to the other. gated tells whether c keeps spec.strategy and
// spec.preferredHolder.
func transferTrial(t *testing.T, c *harness.Cluster, gated bool) {
	ctx := context.Background()
	ns, name := c.Namespace, uniqueName(t)
	admin := adminOf(t, c)

	// The Lease as a manifest would make it, asking for coordinated leader
	// election; on the default server the preferred holder is asked for
	// too, to show that the server drops it.
	spec := map[string]any{"strategy": strategy}
	if !gated {
		spec["preferredHolder"] = "nobody"
	}
	created := createLease(t, admin, ns, name, spec)
	if s, ok := field(created, "spec", "strategy"); gated != ok || (gated && s != strategy) {
		t.Errorf("spec.strategy as created: %q (present %v), want it kept only with the gate on", s, ok)
	}
	if _, ok := field(created, "spec", "preferredHolder"); ok {
		t.Errorf("spec.preferredHolder kept at create on a server without the gate")
	}
	if gated {
		// With the gate on, a preferred holder needs a strategy: this is
		// why RequestTransfer writes spec.preferredHolder only beside one.
		_, err := admin.Create(ctx, k8sapi.Leases, leaseObject(t, ns, name+"-nostrategy", map[string]any{"preferredHolder": "x"}))
		var se *k8sapi.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusUnprocessableEntity || se.Details == nil ||
			len(se.Details.Causes) != 1 || se.Details.Causes[0].Field != "spec.preferredHolder" {
			t.Errorf("a preferredHolder without a strategy: %v, want 422 on spec.preferredHolder", err)
		}
	}
	versions := watchVersions(t, admin, k8sapi.Leases, ns, name, created.ResourceVersion())

	l := &ledger{}
	a := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, name+"-a", l, false, rl.ResourceLockConfig{})
	l.waitLeads(t, a.id, time.Time{}, 10*time.Second)
	b := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, name+"-b", l, true, rl.ResourceLockConfig{})
	cc := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, name+"-c", l, true, rl.ResourceLockConfig{})
	following := func(r *runner, holder string) func() bool {
		return func() bool { s := r.le.Status(); return s.Holder == holder && s.Watching }
	}
	if !waitFor(5*time.Second, following(b, a.id)) || !waitFor(5*time.Second, following(cc, a.id)) {
		t.Fatalf("the followers do not watch %s's lease: %+v, %+v", a.id, b.le.Status(), cc.le.Status())
	}

	// a (RunContext) hands over to c; b waits.
	tool := clientOf(t, c) // a transfer tool of its own
	req := time.Now()
	if err := rl.RequestTransfer(ctx, tool, ns, name, cc.id); err != nil {
		t.Fatal(err)
	}
	tc := l.waitLeads(t, cc.id, req, 3*time.Second)
	err := a.returned(t, 3*time.Second)
	if !errors.Is(err, election.ErrHandedOver) || !errors.Is(err, election.ErrLeadershipLost) {
		t.Errorf("%s's RunContext returned %v, want an error wrapping ErrHandedOver and ErrLeadershipLost", a.id, err)
	}
	first := tc.start.Sub(req)
	if first > retry {
		t.Errorf("%s led %v after the request, want at once (well under RetryPeriod %v)", cc.id, first, retry)
	}
	stored := getLease(t, admin, ns, name)
	checkCleared(t, stored, cc.id, gated)

	// c (Stand) hands over to b, and stands again.
	req2 := time.Now()
	if err := rl.RequestTransfer(ctx, tool, ns, name, b.id); err != nil {
		t.Fatal(err)
	}
	tb := l.waitLeads(t, b.id, req2, 3*time.Second)
	second := tb.start.Sub(req2)
	if second > retry {
		t.Errorf("%s led %v after the request, want at once (well under RetryPeriod %v)", b.id, second, retry)
	}
	if !waitFor(3*time.Second, following(cc, b.id)) {
		t.Errorf("%s does not follow %s after handing over: %+v", cc.id, b.id, cc.le.Status())
	}
	select {
	case <-cc.done:
		t.Errorf("%s's Stand returned after handing over: %v", cc.id, cc.err)
	default:
	}
	checkCleared(t, getLease(t, admin, ns, name), b.id, gated)

	// Let b renew a few times, then end the run.
	if !waitFor(5*time.Second, func() bool {
		return versions.count(func(o *k8sapi.Object) bool { h, _ := field(o, "spec", "holderIdentity"); return h == b.id }) >= 4
	}) {
		t.Errorf("%s made fewer than 3 renewals in 5s", b.id)
	}
	b.stop()
	cc.stop()
	last := getLease(t, admin, ns, name)
	seen := versions.upTo(t, last.ResourceVersion(), 5*time.Second)

	if got, want := l.leaders(), []string{a.id, cc.id, b.id}; !slices.Equal(got, want) {
		t.Errorf("leaders in order %v, want %v: only the named candidate takes over", got, want)
	}
	l.checkOneAtATime(t)

	// Every version the server stored: the request and a's release for c,
	// the strategy kept (with the gate) or dropped (without).
	var request, release *k8sapi.Object
	for i, o := range seen {
		holder, _ := field(o, "spec", "holderIdentity")
		pref := o.Annotations()[rl.PreferredHolderAnnotationKey]
		specPref, hasSpecPref := field(o, "spec", "preferredHolder")
		s, hasStrategy := field(o, "spec", "strategy")
		if gated && s != strategy {
			t.Errorf("version %d (%s, holder %q): spec.strategy %q, want %q kept by every write", i, o.ResourceVersion(), holder, s, strategy)
		}
		if !gated && (hasStrategy || hasSpecPref) {
			t.Errorf("version %d: spec.strategy %q, spec.preferredHolder %q stored by a server without the gate", i, s, specPref)
		}
		if gated && specPref != pref {
			t.Errorf("version %d: spec.preferredHolder %q, annotation %q: want the two alike beside a strategy", i, specPref, pref)
		}
		switch {
		case request == nil && pref == cc.id && holder == a.id:
			request = o
		case request != nil && release == nil && holder == "":
			release = o
			if pref != cc.id {
				t.Errorf("%s's release names %q as preferred holder, want %q", a.id, pref, cc.id)
			}
		}
	}
	if request == nil || release == nil {
		t.Errorf("no stored request for %s on %s's record followed by %s's release, in %d versions", cc.id, a.id, a.id, len(seen))
	}
	t.Logf("handover on request: %s -> %s in %v, %s -> %s in %v; %d versions stored, strategy %s",
		a.id, cc.id, first.Round(time.Millisecond), cc.id, b.id, second.Round(time.Millisecond), len(seen),
		map[bool]string{true: "kept by each", false: "never stored"}[gated])
}

// checkCleared checks a Lease just taken by holder on request: no request
// left, spec.strategy as the server keeps it.
func checkCleared(t *testing.T, obj *k8sapi.Object, holder string, gated bool) {
	t.Helper()
	if h, _ := field(obj, "spec", "holderIdentity"); h != holder {
		t.Errorf("holder %q, want %q", h, holder)
	}
	if p, ok := obj.Annotations()[rl.PreferredHolderAnnotationKey]; ok {
		t.Errorf("annotation %s=%q left after %s took over", rl.PreferredHolderAnnotationKey, p, holder)
	}
	if p, ok := field(obj, "spec", "preferredHolder"); ok {
		t.Errorf("spec.preferredHolder %q left after %s took over", p, holder)
	}
	if s, _ := field(obj, "spec", "strategy"); gated && s != strategy {
		t.Errorf("spec.strategy %q after %s took over, want %q", s, holder, strategy)
	}
}

// client-go v0.37.2 (as configured by default, without Coordinated) as the
// holder of a Lease that names a preferred holder: its acquisition drops
// spec.strategy; with both put back, it keeps leading and its next renewal
// drops spec.strategy and spec.preferredHolder, keeping this library's
// annotation. Its release on exit then goes at once to the candidate the
// annotation names.
func clientGoHolder(t *testing.T, c *harness.Cluster) {
	klog.SetLogger(logr.Discard())
	ns, name := c.Namespace, uniqueName(t)
	admin := adminOf(t, c)
	createLease(t, admin, ns, name, map[string]any{"strategy": strategy})
	cg := clientGoOn(t, c, name, "client-go-a", false)
	defer cg.stop()
	if !waitFor(10*time.Second, func() bool { return cg.startAt.Load() != nil }) {
		t.Fatal("client-go does not lead")
	}
	if s, ok := field(getLease(t, admin, ns, name), "spec", "strategy"); ok {
		t.Errorf("client-go's acquisition kept spec.strategy %q; client-go v0.37.2 was seen to drop it", s)
	}
	l := &ledger{}
	kb := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, "kubelect-b", l, false, rl.ResourceLockConfig{})
	if !waitFor(5*time.Second, func() bool { return kb.le.Status().Holder == cg.id }) {
		t.Fatalf("kubelect-b does not see client-go lead: %+v", kb.le.Status())
	}

	// What RequestTransfer writes on a Lease with a strategy.
	req := foreignUpdate(t, admin, k8sapi.Leases, ns, name, func(obj map[string]any) {
		spec := obj["spec"].(map[string]any)
		spec["strategy"], spec["preferredHolder"] = strategy, kb.id
		meta := obj["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann[rl.PreferredHolderAnnotationKey] = kb.id
		meta["annotations"] = ann
	})
	if p, _ := field(req, "spec", "preferredHolder"); p != kb.id {
		t.Fatalf("the request was not stored: spec.preferredHolder %q", p)
	}
	var renewed *k8sapi.Object
	if !waitFor(3*time.Second, func() bool {
		renewed = getLease(t, admin, ns, name)
		return renewed.ResourceVersion() != req.ResourceVersion()
	}) {
		t.Fatal("client-go did not renew after the request")
	}
	if h, _ := field(renewed, "spec", "holderIdentity"); h != cg.id || !cg.isLeader() || cg.stopAt.Load() != nil {
		t.Errorf("after the request: holder %q, client-go leading %v; client-go v0.37.2 was seen to keep leading", h, cg.isLeader())
	}
	_, hasStrategy := field(renewed, "spec", "strategy")
	_, hasPref := field(renewed, "spec", "preferredHolder")
	if hasStrategy || hasPref {
		t.Errorf("client-go's renewal kept spec.strategy (%v) or spec.preferredHolder (%v); client-go v0.37.2 was seen to drop both", hasStrategy, hasPref)
	}
	if p := renewed.Annotations()[rl.PreferredHolderAnnotationKey]; p != kb.id {
		t.Errorf("client-go's renewal left the annotation %q, want %q kept", p, kb.id)
	}
	if got := l.leaders(); len(got) != 0 {
		t.Errorf("%v led while client-go held the lease", got)
	}

	stopped := time.Now()
	cg.stop() // ReleaseOnCancel: client-go releases
	tb := l.waitLeads(t, kb.id, time.Time{}, 3*time.Second)
	if d := tb.start.Sub(stopped); d > retry {
		t.Errorf("%s took client-go's release %v after it stopped, want at once", kb.id, d)
	}
	checkCleared(t, getLease(t, admin, ns, name), kb.id, false)
	t.Logf("client-go (default) ignores spec.preferredHolder and drops it and spec.strategy on renewal; %s took its release in %v",
		kb.id, tb.start.Sub(stopped).Round(time.Millisecond))
}

// client-go v0.37.2 with Coordinated set, holding a Lease with a strategy:
// named away through spec.preferredHolder (as kube-apiserver's coordinated
// leader election controller names a candidate), it stops renewing and
// leads on until its RenewDeadline; then, with ReleaseOnCancel, it releases
// (client-go releases after every end of its renew loop), and the release
// drops spec.strategy and spec.preferredHolder. This library's candidate
// takes the release at once.
func clientGoCoordinatedHolder(t *testing.T, c *harness.Cluster) {
	klog.SetLogger(logr.Discard())
	ns, name := c.Namespace, uniqueName(t)
	admin := adminOf(t, c)
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	// Coordinated client-go never takes a lease: it renews one that
	// names it, as the server's controller would have written.
	created := createLease(t, admin, ns, name, map[string]any{"strategy": strategy, "holderIdentity": "client-go-c",
		"leaseDurationSeconds": int(lease / time.Second), "acquireTime": now, "renewTime": now, "leaseTransitions": 0})
	versions := watchVersions(t, admin, k8sapi.Leases, ns, name, created.ResourceVersion())
	cg := clientGoOn(t, c, name, "client-go-c", true)
	defer cg.stop()
	if !waitFor(5*time.Second, func() bool { return cg.startAt.Load() != nil }) {
		t.Fatal("coordinated client-go does not lead")
	}
	l := &ledger{}
	kd := run(t, clientOf(t, c), rl.LeasesResourceLock, ns, name, "kubelect-d", l, false, rl.ResourceLockConfig{})
	if !waitFor(5*time.Second, func() bool { return kd.le.Status().Holder == cg.id }) {
		t.Fatalf("kubelect-d does not see client-go lead: %+v", kd.le.Status())
	}
	if s, _ := field(getLease(t, admin, ns, name), "spec", "strategy"); s != strategy {
		t.Errorf("coordinated client-go's renewals left spec.strategy %q; it was seen to keep %q", s, strategy)
	}

	req := time.Now()
	foreignUpdate(t, admin, k8sapi.Leases, ns, name, func(obj map[string]any) {
		obj["spec"].(map[string]any)["preferredHolder"] = kd.id
	})
	if !waitFor(renew+3*retry+time.Second, func() bool { return cg.stopAt.Load() != nil }) {
		t.Fatal("coordinated client-go keeps leading after the request")
	}
	cgStopAt := *cg.stopAt.Load()
	cgStop := cgStopAt.Sub(req)
	if cgStop < renew-retry {
		t.Errorf("coordinated client-go stopped leading %v after the request; it was seen to wait out its RenewDeadline (%v)", cgStop, renew)
	}
	td := l.waitLeads(t, kd.id, time.Time{}, lease+2*poll+2*time.Second)
	if td.start.Before(cgStopAt) {
		t.Errorf("%s led at %s, before client-go stopped at %s", kd.id, td.start.Format("15:04:05.000"), cgStopAt.Format("15:04:05.000"))
	}
	if d := td.start.Sub(cgStopAt); d > retry {
		t.Errorf("%s led %v after client-go stopped; client-go was seen to release at once", kd.id, d)
	}
	last := getLease(t, admin, ns, name)
	checkCleared(t, last, kd.id, false)
	// The release, as stored: client-go's, without the strategy.
	var release *k8sapi.Object
	for _, o := range versions.upTo(t, last.ResourceVersion(), 5*time.Second) {
		if h, _ := field(o, "spec", "holderIdentity"); h == "" {
			release = o
			break
		}
	}
	if release == nil {
		t.Fatal("no release stored before kubelect-d took over")
	}
	_, hasStrategy := field(release, "spec", "strategy")
	_, hasPref := field(release, "spec", "preferredHolder")
	if hasStrategy || hasPref {
		t.Errorf("client-go's release kept spec.strategy (%v) or spec.preferredHolder (%v); it was seen to drop both", hasStrategy, hasPref)
	}
	t.Logf("coordinated client-go stopped leading %v after spec.preferredHolder named %s, then released (dropping spec.strategy); %s led %v after the request",
		cgStop.Round(time.Millisecond), kd.id, kd.id, td.start.Sub(req).Round(time.Millisecond))
}

// leaseObject is a Lease namespace/name with spec.
func leaseObject(t *testing.T, namespace, name string, spec map[string]any) *k8sapi.Object {
	t.Helper()
	obj := k8sapi.NewObject(k8sapi.Leases, namespace, name)
	if err := obj.SetField(spec, "spec"); err != nil {
		t.Fatal(err)
	}
	return obj
}

// createLease creates a Lease with spec through client and returns what
// the server stored.
func createLease(t *testing.T, client *k8sapi.Client, namespace, name string, spec map[string]any) *k8sapi.Object {
	t.Helper()
	stored, err := client.Create(context.Background(), k8sapi.Leases, leaseObject(t, namespace, name, spec))
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func getLease(t *testing.T, client *k8sapi.Client, namespace, name string) *k8sapi.Object {
	t.Helper()
	obj, err := client.Get(context.Background(), k8sapi.Leases, namespace, name)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// versions are the versions of one object that a watch delivered: every
// write the server stored, in order.
type versions struct {
	mu   sync.Mutex
	objs []*k8sapi.Object // guarded by mu
	err  error            // guarded by mu: why the watch ended
}

// watchVersions watches namespace/name from resourceVersion on, until the
// test ends.
func watchVersions(t *testing.T, client *k8sapi.Client, r k8sapi.Resource, namespace, name, resourceVersion string) *versions {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.Watch(ctx, r, namespace, name, k8sapi.WatchOptions{ResourceVersion: resourceVersion})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	v := &versions{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := w.Next()
			v.mu.Lock()
			if err != nil {
				v.err = err
				v.mu.Unlock()
				return
			}
			if ev.Type == k8sapi.Added || ev.Type == k8sapi.Modified {
				v.objs = append(v.objs, ev.Object)
			}
			v.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Close(); <-done })
	return v
}

// count is the number of versions for which match holds.
func (v *versions) count(match func(*k8sapi.Object) bool) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, o := range v.objs {
		if match(o) {
			n++
		}
	}
	return n
}

// upTo waits up to d for the version resourceVersion and returns every
// version up to it.
func (v *versions) upTo(t *testing.T, resourceVersion string, d time.Duration) []*k8sapi.Object {
	t.Helper()
	var got []*k8sapi.Object
	if !waitFor(d, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for i, o := range v.objs {
			if o.ResourceVersion() == resourceVersion {
				got = slices.Clone(v.objs[:i+1])
				return true
			}
		}
		return false
	}) {
		v.mu.Lock()
		defer v.mu.Unlock()
		t.Fatalf("the watch did not deliver version %s (%d versions, ended: %v)", resourceVersion, len(v.objs), v.err)
	}
	return got
}
