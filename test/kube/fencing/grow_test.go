package fencing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	fence "github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
)

// The kinds of leadership change the driver makes. A kind names how the
// leadership before ended and who began the next.
const (
	kindFirst        = "first leader (creates the Lease)"
	kindRelease      = "release (ReleaseOnCancel / SIGTERM)"
	kindTransfer     = "transfer (RequestTransfer)"
	kindCrash        = "crash (context ended, network cut)"
	kindKill         = "crash (process SIGKILLed)"
	kindDelete       = "delete by admin after a crash, followers recreate"
	kindDeleteHeld   = "delete by admin, holder recreates, then release"
	kindDeleteFresh  = "delete by admin, new candidate creates"
	kindToOld        = "to the old lock (Lease deleted, old-lock-only fleet)"
	kindOldToMulti   = "old lock -> MultiLock"
	kindMultiToLease = "MultiLock -> Lease"
	kindToClientGo   = "to client-go (release)"
	kindFromCGRel    = "from client-go (its release)"
	kindFromCGCrash  = "from client-go (its crash)"
	kindAPIServer    = "kube-apiserver restart"
	kindAPIRelease   = "kube-apiserver restart, then release"
	kindEtcd         = "etcd restart"
	kindEtcdRelease  = "etcd restart, then release"
	kindUnplanned    = "unplanned (lost a renewal)"
)

// The steps of the plan; most make one change, "migrate" three and
// "client-go" two.
var plan = []struct {
	step string
	n    int
}{
	{"release", 75}, {"transfer", 50}, {"crash", 16}, {"kill", 6},
	{"delete", 4}, {"delete-held", 3}, {"delete-fresh", 8},
	{"migrate", 5}, {"client-go", 10}, {"apiserver", 3}, {"etcd", 3},
}

// Every leadership on one lock gets a higher fencing token than every one
// before it, across every kind of change: releases, transfers, crashes
// (a context ended without release, a process killed), deletions of the
// lock (recreated by followers that saw it, by its holder, or by a new
// candidate that never saw it), migrations from an Endpoints or ConfigMap
// lock through a MultiLock to a Lease, client-go v0.37.2 electors holding
// the lock in between, and restarts of kube-apiserver and of etcd. The
// token of this library's leaders is FencingToken (checked against the
// admin's watch of the lock: it is the resourceVersion of the write that
// named the leader, with its term); a client-go leader's is the
// resourceVersion of its acquiring write as that watch saw it. The terms
// grow too, except where the documentation says they cannot: a new
// candidate that creates a deleted lock starts at 0, and an old lock
// keeps its own count.
func TestTokenAlwaysGrows(t *testing.T) {
	need(t)
	klog.SetLogger(logr.Discard())
	began := time.Now()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KUBELECT_FENCING_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("KUBELECT_FENCING_SEED=%q: %v", s, err)
		}
	}
	t.Logf("kube-apiserver %s; seed %d (KUBELECT_FENCING_SEED=%d repeats the mix)", serverVersion, seed, seed)
	d := newDriver(t, seed)
	t.Cleanup(d.stopAll)

	var steps []string
	for _, p := range plan {
		for range p.n {
			steps = append(steps, p.step)
		}
	}
	d.rnd.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })

	d.first()
	for i, step := range steps {
		d.stepNo = i + 1
		d.run(step)
		if t.Failed() {
			t.Fatalf("step %d (%s) failed; leaderships so far:\n%s", i+1, step, d.history(12))
		}
	}
	d.labelUnplanned()
	d.check()
	d.summary(time.Since(began))
}

// driver makes the leadership changes of TestTokenAlwaysGrows.
type driver struct {
	t     *testing.T
	rnd   *rand.Rand
	ns    string
	name  string
	admin *k8sapi.Client
	led   *ledger
	// watches follow the lock's objects: the Lease, and the old locks of
	// the migrations.
	watches map[k8sapi.Resource]*watcher

	cands   []*cand  // the candidates started and not yet seen ended
	ids     int      // identities made
	dead    []string // identities of ended candidates, to use again
	reused  int      // identities used again
	stepNo  int
	labeled int // leaderships labelled with their kind
	// restarts are how long each kube-apiserver and etcd restart took.
	restarts map[string][]time.Duration
}

func newDriver(t *testing.T, seed uint64) *driver {
	d := &driver{
		t: t, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ns: cluster.Namespace, name: fmt.Sprintf("grow-%d", time.Now().UnixNano()%1e6),
		admin: adminClient(t), led: &ledger{}, watches: map[k8sapi.Resource]*watcher{},
		restarts: map[string][]time.Duration{},
	}
	for _, r := range []k8sapi.Resource{k8sapi.Leases, k8sapi.ConfigMaps, k8sapi.Endpoints} {
		d.watches[r] = watch(t, d.admin, r, d.ns, d.name)
	}
	return d
}

func (d *driver) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// newID is a fresh identity, or now and then the identity of an ended
// candidate (a restarted pod keeps its name).
func (d *driver) newID(prefix string, reuse bool) string {
	if reuse && len(d.dead) > 0 && d.rnd.IntN(4) == 0 {
		i := d.rnd.IntN(len(d.dead))
		id := d.dead[i]
		d.dead = slices.Delete(d.dead, i, i+1)
		d.reused++
		return id
	}
	d.ids++
	return fmt.Sprintf("%s-%d", prefix, d.ids)
}

// prune forgets the candidates that have ended.
func (d *driver) prune() {
	d.cands = slices.DeleteFunc(d.cands, func(c *cand) bool {
		if c.alive() {
			return false
		}
		if c.impl != implClient && !slices.Contains(d.dead, c.id) {
			d.dead = append(d.dead, c.id)
		}
		return true
	})
	// An identity in use is not to be used again.
	d.dead = slices.DeleteFunc(d.dead, func(id string) bool {
		return slices.ContainsFunc(d.cands, func(c *cand) bool { return c.id == id })
	})
}

// spawn starts a candidate of impl (implOurs or implProcess) on the lock
// of kind.
func (d *driver) spawn(impl, kind, id string) *cand {
	var c *cand
	if impl == implProcess {
		c = startProcess(d.t, d.led, kind, d.name, id)
	} else {
		c = startOurs(d.t, d.led, kind, d.ns, d.name, id)
	}
	d.cands = append(d.cands, c)
	return c
}

// followers are the live candidates that do not lead.
func (d *driver) followers() []*cand {
	var fs []*cand
	for _, c := range d.cands {
		if c.alive() && !c.leading.Load() {
			fs = append(fs, c)
		}
	}
	return fs
}

// leader waits for the one candidate that leads, which must be the last
// leadership of the ledger.
func (d *driver) leader() *cand {
	d.t.Helper()
	var found *cand
	ok := waitFor(10*time.Second, func() bool {
		found = nil
		n := 0
		for _, c := range d.cands {
			if c.alive() && c.leading.Load() {
				found, n = c, n+1
			}
		}
		last := d.led.get(d.led.len() - 1)
		return n == 1 && last != nil && last.id == found.id
	})
	if !ok {
		d.t.Fatalf("step %d: no single leader that is the last to have begun leading; candidates: %s\nleaderships:\n%s",
			d.stepNo, d.describe(), d.history(6))
	}
	return found
}

// topUp starts followers on the lock of kind until there are two of this
// library in the test process and one process, and waits until every
// follower has seen the leader.
func (d *driver) topUp(kind string) {
	d.t.Helper()
	d.prune()
	count := func(impl string) int {
		n := 0
		for _, c := range d.followers() {
			if c.impl == impl && c.lock == kind {
				n++
			}
		}
		return n
	}
	for count(implOurs) < 2 {
		d.spawn(implOurs, kind, d.newID("k", true))
	}
	for count(implProcess) < 1 {
		d.spawn(implProcess, kind, d.newID("p", true))
	}
	d.waitObserved(d.leader())
}

// waitObserved waits until every follower names l as the holder, so that
// the next change starts from a fleet that has seen the current record.
func (d *driver) waitObserved(l *cand) {
	d.t.Helper()
	if !waitFor(10*time.Second, func() bool {
		for _, c := range d.followers() {
			if c.holder() != l.id {
				return false
			}
		}
		return true
	}) {
		d.t.Fatalf("step %d: the followers have not all seen %s lead within 10s: %s", d.stepNo, l.id, d.describe())
	}
}

// stopFollowers stops the followers for which which is true (every
// follower when which is nil) and waits for them.
func (d *driver) stopFollowers(which func(*cand) bool) {
	d.t.Helper()
	var fs []*cand
	for _, c := range d.followers() {
		if which == nil || which(c) {
			fs = append(fs, c)
		}
	}
	for _, c := range fs {
		c.release()
	}
	for _, c := range fs {
		if !c.wait(10 * time.Second) {
			d.t.Fatalf("step %d: follower %s did not stop within 10s", d.stepNo, c.id)
		}
	}
	d.prune()
}

// labelUnplanned labels leaderships that began without a change of the
// driver (a leader that lost a renewal on its own).
func (d *driver) labelUnplanned() {
	for n := d.labeled; n < d.led.len(); n++ {
		d.led.update(n, func(l *leadership) {
			if l.kind == "" {
				l.kind = kindUnplanned
				d.t.Logf("step %d: unplanned leadership #%d of %s (%s)", d.stepNo, n, l.id, l.impl)
			}
		})
		d.resolve(n)
	}
	d.labeled = d.led.len()
}

// expect waits up to within for the leadership that the change of kind
// begins: the first after the from-th, which must satisfy ok. It is
// labelled kind; a client-go leader's token is read from the watch.
func (d *driver) expect(from int, kind string, since time.Time, within time.Duration, ok func(*leadership) bool) *leadership {
	d.t.Helper()
	if !waitFor(within, func() bool { return d.led.len() > from }) {
		d.t.Fatalf("step %d (%s): no new leadership within %v; candidates: %s\nleaderships:\n%s",
			d.stepNo, kind, within, d.describe(), d.history(6))
	}
	d.led.update(from, func(l *leadership) { l.kind, l.took = kind, l.at.Sub(since) })
	d.resolve(from)
	l := d.led.get(from)
	if !ok(l) {
		d.t.Errorf("step %d (%s): %s (%s) began leading, not a candidate the change was for", d.stepNo, kind, l.id, l.impl)
	}
	d.labeled = max(d.labeled, from+1)
	return l
}

// resolve reads the token and term of the n-th leadership from the watch
// when its leader is client-go's.
func (d *driver) resolve(n int) {
	d.t.Helper()
	l := d.led.get(n)
	if !l.fromWatch || l.token != 0 {
		return
	}
	var after uint64
	if n > 0 {
		after = uint64(d.led.get(n - 1).token)
	}
	w := d.watches[k8sapi.Leases]
	var ev objEvent
	var err error
	if !waitFor(5*time.Second, func() bool {
		var found bool
		ev, found, err = w.acquiredAt(l.id, after)
		return found
	}) {
		d.t.Fatalf("step %d: the watch shows no write naming client-go's %s after resourceVersion %d", d.stepNo, l.id, after)
	}
	if err != nil {
		d.t.Errorf("step %d: %s's token: %v", d.stepNo, l.id, err)
	}
	d.led.update(n, func(l *leadership) { l.token, l.term = tokenOf(ev.rv), ev.transitions })
}

// run makes the changes of one step of the plan.
func (d *driver) run(step string) {
	d.t.Helper()
	d.labelUnplanned()
	d.topUp(rl.LeasesResourceLock)
	switch step {
	case "release":
		d.release()
	case "transfer":
		d.transfer(nil)
	case "crash":
		if l := d.leader(); l.impl != implOurs {
			d.transfer(d.pick(implOurs))
		}
		d.crash()
	case "kill":
		if l := d.leader(); l.impl != implProcess {
			d.transfer(d.pick(implProcess))
		}
		d.crash()
	case "delete":
		d.deleteAfterCrash()
	case "delete-held":
		d.deleteHeld()
	case "delete-fresh":
		d.deleteFresh()
	case "migrate":
		d.migrate()
	case "client-go":
		d.clientGo()
	case "apiserver", "etcd":
		d.restart(step)
	default:
		d.t.Fatalf("unknown step %q", step)
	}
}

// first starts the fleet; one of it creates the Lease.
func (d *driver) first() {
	d.t.Helper()
	began := time.Now()
	d.spawn(implOurs, rl.LeasesResourceLock, d.newID("k", false))
	d.spawn(implOurs, rl.LeasesResourceLock, d.newID("k", false))
	d.spawn(implProcess, rl.LeasesResourceLock, d.newID("p", false))
	d.expect(0, kindFirst, began, 15*time.Second, func(*leadership) bool { return true })
}

// pick is a random follower of impl (any of this library's when impl is
// empty).
func (d *driver) pick(impl string) *cand {
	d.t.Helper()
	var fs []*cand
	for _, c := range d.followers() {
		if (impl == "" && c.impl != implClient) || c.impl == impl {
			fs = append(fs, c)
		}
	}
	if len(fs) == 0 {
		d.t.Fatalf("step %d: no follower of %q: %s", d.stepNo, impl, d.describe())
	}
	return fs[d.rnd.IntN(len(fs))]
}

func (d *driver) release() {
	d.t.Helper()
	l := d.leader()
	from, began := d.led.len(), time.Now()
	l.release()
	d.expect(from, kindRelease, began, 10*time.Second, func(n *leadership) bool { return n.id != l.id })
}

// transfer asks the leader to hand over to to (a random follower when
// nil), as a transfer tool does.
func (d *driver) transfer(to *cand) {
	d.t.Helper()
	l := d.leader()
	if to == nil {
		to = d.pick("")
	}
	from, began := d.led.len(), time.Now()
	ctx, cancel := d.ctx()
	defer cancel()
	if err := rl.RequestTransfer(ctx, d.admin, d.ns, d.name, to.id); err != nil {
		d.t.Fatalf("step %d: transfer to %s: %v", d.stepNo, to.id, err)
	}
	d.expect(from, kindTransfer, began, 10*time.Second, func(n *leadership) bool { return n.id == to.id })
	if l.impl == implOurs {
		if !l.wait(10 * time.Second) {
			d.t.Fatalf("step %d: %s still runs 10s after it handed over", d.stepNo, l.id)
		}
		if !errors.Is(l.runErr, election.ErrHandedOver) {
			d.t.Errorf("step %d: %s's RunContext after a transfer: %v; want ErrHandedOver", d.stepNo, l.id, l.runErr)
		}
	}
}

func (d *driver) crash() {
	d.t.Helper()
	l := d.leader()
	kind := kindCrash
	if l.impl == implProcess {
		kind = kindKill
	}
	from, began := d.led.len(), time.Now()
	l.crash()
	d.expect(from, kind, began, 15*time.Second, func(n *leadership) bool { return n.id != l.id })
}

// deleteAfterCrash crashes the leader and deletes the Lease: the
// followers, which saw the lock, wait a lease, recreate it as the last
// holder's, wait a lease again and take it.
func (d *driver) deleteAfterCrash() {
	d.t.Helper()
	l := d.leader()
	from, began := d.led.len(), time.Now()
	l.crash()
	ctx, cancel := d.ctx()
	defer cancel()
	if err := deleteObject(ctx, d.admin, k8sapi.Leases, d.ns, d.name); err != nil {
		d.t.Fatal(err)
	}
	d.expect(from, kindDelete, began, 20*time.Second, func(n *leadership) bool { return n.id != l.id })
}

// deleteHeld deletes the Lease under a live leader: it recreates it in its
// own leadership (same token, still the highest), and then releases.
func (d *driver) deleteHeld() {
	d.t.Helper()
	l := d.leader()
	from := d.led.len()
	token := d.led.get(from - 1).token
	w := d.watches[k8sapi.Leases]
	ctx, cancel := d.ctx()
	defer cancel()
	if err := w.caughtUp(ctx, d.admin, 5*time.Second); err != nil {
		d.t.Fatal(err)
	}
	seen, began := len(eventsOf(w)), time.Now()
	if err := deleteObject(ctx, d.admin, k8sapi.Leases, d.ns, d.name); err != nil {
		d.t.Fatal(err)
	}
	// The watch shows the deletion, then the Lease again with l's record.
	if !waitFor(10*time.Second, func() bool {
		evs := eventsOf(w)[seen:]
		i := slices.IndexFunc(evs, func(e objEvent) bool { return e.typ == k8sapi.Deleted })
		return i >= 0 && slices.ContainsFunc(evs[i:], func(e objEvent) bool { return e.typ == k8sapi.Added && e.holder == l.id })
	}) {
		d.t.Fatalf("step %d: %s did not recreate its deleted Lease within 10s", d.stepNo, l.id)
	}
	if d.led.len() != from || !l.leading.Load() {
		d.t.Fatalf("step %d: %s stopped leading when its Lease was deleted and recreated", d.stepNo, l.id)
	}
	if l.impl == implOurs {
		if got, err := l.le.FencingToken(); err != nil || got != token {
			d.t.Errorf("step %d: %s's FencingToken after it recreated the Lease: %d, %v; want %d as before", d.stepNo, l.id, got, err, token)
		}
	}
	l.release()
	d.expect(from, kindDeleteHeld, began, 10*time.Second, func(n *leadership) bool { return n.id != l.id })
}

// releaseAndDelete stops the followers, has the leader release and stop,
// and deletes the Lease: where the next step starts, and when.
func (d *driver) releaseAndDelete() (from int, began time.Time) {
	d.t.Helper()
	l := d.leader()
	d.stopFollowers(nil)
	from, began = d.led.len(), time.Now()
	l.release()
	if !l.wait(10 * time.Second) {
		d.t.Fatalf("step %d: %s did not stop within 10s", d.stepNo, l.id)
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := deleteObject(ctx, d.admin, k8sapi.Leases, d.ns, d.name); err != nil {
		d.t.Fatal(err)
	}
	return from, began
}

// deleteFresh stops the fleet, deletes the Lease and starts a candidate
// that never saw it: it creates the Lease at once, in term 0.
func (d *driver) deleteFresh() {
	d.t.Helper()
	from, began := d.releaseAndDelete()
	impl := []string{implOurs, implProcess}[d.rnd.IntN(2)]
	fresh := d.spawn(impl, rl.LeasesResourceLock, d.newID("fresh", false))
	n := d.expect(from, kindDeleteFresh, began, 10*time.Second, func(n *leadership) bool { return n.id == fresh.id })
	if n.term != 0 {
		d.t.Errorf("step %d: %s created the deleted Lease in term %d; a candidate that never saw the lock starts at 0", d.stepNo, fresh.id, n.term)
	}
}

// migrate rolls the fleet back to an old lock (the Lease deleted, an
// Endpoints or ConfigMap lock alone), then migrates it as the docs say:
// a MultiLock fleet, then a Lease-only one. Each step is a release to a
// candidate of the next kind.
func (d *driver) migrate() {
	d.t.Helper()
	old, multi := rl.ConfigMapsResourceLock, rl.ConfigMapsLeasesResourceLock
	if d.rnd.IntN(2) == 0 {
		old, multi = rl.EndpointsResourceLock, rl.EndpointsLeasesResourceLock
	}
	from, began := d.releaseAndDelete()
	d.spawn(implOurs, old, d.newID("old", false))
	d.spawn(implProcess, old, d.newID("old", false))
	d.expect(from, kindToOld, began, 10*time.Second, func(n *leadership) bool { return n.lock == old })
	oc := d.leader()

	d.spawn(implOurs, multi, d.newID("multi", false))
	d.spawn(implProcess, multi, d.newID("multi", false))
	d.waitObserved(oc)
	d.stopFollowers(func(c *cand) bool { return c.lock == old })
	from, began = d.led.len(), time.Now()
	oc.release()
	d.expect(from, kindOldToMulti, began, 10*time.Second, func(n *leadership) bool { return n.lock == multi })
	mc := d.leader()

	d.topUp(rl.LeasesResourceLock)
	d.stopFollowers(func(c *cand) bool { return c.lock == multi })
	from, began = d.led.len(), time.Now()
	mc.release()
	d.expect(from, kindMultiToLease, began, 10*time.Second, func(n *leadership) bool { return n.lock == rl.LeasesResourceLock })
}

// clientGo hands the lock to a client-go elector and back to this
// library's: by its release or after its crash.
func (d *driver) clientGo() {
	d.t.Helper()
	l := d.leader()
	d.ids++
	g := startClientGo(d.t, d.led, d.ns, d.name, fmt.Sprintf("cg-%d", d.ids))
	d.cands = append(d.cands, g)
	d.waitObserved(l)
	ctx, cancel := d.ctx()
	defer cancel()
	// The watch must see the acquiring write: it is the token.
	if err := d.watches[k8sapi.Leases].caughtUp(ctx, d.admin, 5*time.Second); err != nil {
		d.t.Fatal(err)
	}
	d.stopFollowers(func(c *cand) bool { return c != g })
	from, began := d.led.len(), time.Now()
	l.release()
	d.expect(from, kindToClientGo, began, 10*time.Second, func(n *leadership) bool { return n.id == g.id })

	d.topUp(rl.LeasesResourceLock)
	from, began = d.led.len(), time.Now()
	kind := kindFromCGRel
	if d.rnd.IntN(2) == 0 {
		kind = kindFromCGCrash
		g.crash()
	} else {
		g.release()
	}
	d.expect(from, kind, began, 15*time.Second, func(n *leadership) bool { return n.impl != implClient })
}

// restart restarts kube-apiserver or etcd under a leader. A restart that
// takes longer than RenewDeadline ends the leadership; otherwise the
// leader releases once the server is back.
func (d *driver) restart(what string) {
	d.t.Helper()
	l := d.leader()
	from := d.led.len()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	var err error
	kind, then := kindAPIServer, kindAPIRelease
	if what == "etcd" {
		kind, then = kindEtcd, kindEtcdRelease
		err = cluster.RestartEtcd(ctx)
	} else {
		// RestartAPIServer, in two steps to see how long each takes.
		cluster.StopAPIServer()
		d.restarts["apiserver stop"] = append(d.restarts["apiserver stop"], time.Since(began).Round(time.Millisecond))
		err = cluster.StartAPIServer(ctx)
	}
	if err != nil {
		d.t.Fatalf("step %d: restart %s: %v", d.stepNo, what, err)
	}
	d.restarts[what] = append(d.restarts[what], time.Since(began).Round(time.Millisecond))
	if d.led.len() == from && l.leading.Load() {
		kind = then
		l.release()
	}
	d.expect(from, kind, began, 30*time.Second, func(*leadership) bool { return true })
}

// eventsOf is what the watcher has seen.
func eventsOf(w *watcher) []objEvent {
	evs, _ := w.snapshot()
	return evs
}

// describe lists the live candidates, for failure messages.
func (d *driver) describe() string {
	var b strings.Builder
	for _, c := range d.cands {
		fmt.Fprintf(&b, "\n\t%s (%s, %s): alive %v, leading %v, sees %q", c.id, c.impl, c.lock, c.alive(), c.leading.Load(), c.holder())
		if c.proc != nil && !c.alive() {
			fmt.Fprintf(&b, "; log: %s", tail(c.proc.log, 500))
		}
	}
	return b.String()
}

// history is the last n leaderships, for failure messages.
func (d *driver) history(n int) string {
	ls := d.led.all()
	var b strings.Builder
	for _, l := range ls[max(0, len(ls)-n):] {
		fmt.Fprintf(&b, "\t#%d %s (%s, %s): token %d, term %d, %s\n", l.n, l.id, l.impl, l.lock, l.token, l.term, l.kind)
	}
	return b.String()
}

// check asserts the token and term rules over every leadership, and that
// each token of this library's leaders is the resourceVersion of a write
// that named the leader in its term, as the admin's watch saw it.
func (d *driver) check() {
	t := d.t
	ls := d.led.all()
	if changes := len(ls) - 1; changes < 200 {
		t.Errorf("%d leadership changes; want at least 200", changes)
	}
	for i, l := range ls {
		if l.token == 0 {
			t.Errorf("#%d %s (%s): no token", i, l.id, l.kind)
		}
		if i == 0 {
			continue
		}
		prev := ls[i-1]
		if l.token <= prev.token {
			t.Errorf("#%d %s (%s): token %d after #%d %s's %d: the token must grow with every leadership",
				i, l.id, l.kind, l.token, i-1, prev.id, prev.token)
		}
		switch l.kind {
		case kindDeleteFresh, kindToOld:
			// A lock created anew, or another object: its own count.
		default:
			if l.term <= prev.term {
				t.Errorf("#%d %s (%s): term %d after #%d %s's term %d: a candidate that saw the lock takes a higher term",
					i, l.id, l.kind, l.term, i-1, prev.id, prev.term)
			}
		}
	}
	kinds := map[string]bool{}
	for _, l := range ls {
		kinds[l.kind] = true
	}
	for _, k := range []string{kindRelease, kindTransfer, kindCrash, kindKill, kindDelete, kindDeleteHeld, kindDeleteFresh,
		kindToOld, kindOldToMulti, kindMultiToLease, kindToClientGo} {
		if !kinds[k] {
			t.Errorf("no change of kind %q", k)
		}
	}
	if !kinds[kindFromCGRel] && !kinds[kindFromCGCrash] {
		t.Errorf("no change from client-go")
	}
	if !kinds[kindAPIServer] && !kinds[kindAPIRelease] {
		t.Errorf("no change across a kube-apiserver restart")
	}
	if !kinds[kindEtcd] && !kinds[kindEtcdRelease] {
		t.Errorf("no change across an etcd restart")
	}

	// The tokens against the watch.
	var checked, hidden int
	for _, l := range ls {
		if l.fromWatch {
			continue
		}
		evs, gaps := d.watches[resourceOf(l.lock)].snapshot()
		i := slices.IndexFunc(evs, func(e objEvent) bool { return e.rv == uint64(l.token) && e.typ != k8sapi.Deleted })
		switch {
		case i >= 0:
			checked++
			if e := evs[i]; e.holder != l.id || e.transitions != l.term {
				t.Errorf("#%d %s (%s): the write at its token %d names %q in term %d; it took the lock in term %d",
					l.n, l.id, l.kind, l.token, e.holder, e.transitions, l.term)
			}
		case inGap(gaps, uint64(l.token)):
			hidden++
		default:
			t.Errorf("#%d %s (%s): the watch of %s saw no write at its token %d", l.n, l.id, l.kind, resourceOf(l.lock).Kind, l.token)
		}
	}
	t.Logf("tokens of this library's leaders checked against the admin's watch: %d; in a gap of the watch (after a restart): %d", checked, hidden)
}

// summary prints the changes by kind, with the token and term deltas of
// each.
func (d *driver) summary(wall time.Duration) {
	ls := d.led.all()
	type row struct {
		n                  int
		dTokMin, dTokMax   int64
		dTermMin, dTermMax int
		impls              map[string]int
		term0              int
		took               []time.Duration
	}
	rows := map[string]*row{}
	var order []string
	for i, l := range ls {
		if i == 0 {
			continue
		}
		r := rows[l.kind]
		if r == nil {
			r = &row{dTokMin: 1 << 62, dTokMax: -1 << 62, dTermMin: 1 << 30, dTermMax: -1 << 30, impls: map[string]int{}}
			rows[l.kind] = r
			order = append(order, l.kind)
		}
		dt := int64(l.token) - int64(ls[i-1].token)
		dterm := l.term - ls[i-1].term
		r.n++
		r.dTokMin, r.dTokMax = min(r.dTokMin, dt), max(r.dTokMax, dt)
		r.dTermMin, r.dTermMax = min(r.dTermMin, dterm), max(r.dTermMax, dterm)
		r.impls[l.impl]++
		r.took = append(r.took, l.took)
		if l.term == 0 {
			r.term0++
		}
	}
	slices.Sort(order)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "change\tcount\ttoken delta min\tmax\tterm delta min\tmax\tterm 0\tnew leader ours/process/client-go\tnew leader after p50/max\t")
	total := 0
	for _, k := range order {
		r := rows[k]
		total += r.n
		slices.Sort(r.took)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d/%d\t%v/%v\t\n", k, r.n, r.dTokMin, r.dTokMax, r.dTermMin, r.dTermMax, r.term0,
			r.impls[implOurs], r.impls[implProcess], r.impls[implClient],
			r.took[len(r.took)/2].Round(time.Millisecond), r.took[len(r.took)-1].Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "total\t%d\t\t\t\t\t\t\t\t\n", total)
	tw.Flush()
	var downs []string
	for i := 1; i < len(ls); i++ {
		if ls[i].term < ls[i-1].term {
			downs = append(downs, fmt.Sprintf("%s %d->%d (token %d->%d)", ls[i].kind, ls[i-1].term, ls[i].term, ls[i-1].token, ls[i].token))
		}
	}
	d.t.Logf("kube-apiserver %s: %d leaderships (%d candidates, %d of them with the identity of an ended one), first token %d, last %d; wall time %v\n%s",
		serverVersion, len(ls), d.ids+d.reused, d.reused, ls[0].token, ls[len(ls)-1].token, wall.Round(time.Second), b.String())
	d.t.Logf("the term went down %d times while the token grew: %s", len(downs), strings.Join(firstN(downs, 8), "; "))
	d.t.Logf("restarts: kube-apiserver %v (of which stopping %v), etcd %v (until kube-apiserver is ready again)",
		d.restarts["apiserver"], d.restarts["apiserver stop"], d.restarts["etcd"])
}

// firstN is the first n of ss, and how many more there are.
func firstN(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], fmt.Sprintf("... (%d more)", len(ss)-n))
	}
	return ss
}

// stopAll stops every candidate at the end of the test.
func (d *driver) stopAll() {
	for _, c := range d.cands {
		c.release()
	}
	for _, c := range d.cands {
		if !c.wait(15 * time.Second) {
			c.crash()
			c.wait(5 * time.Second)
		}
	}
}

// tokenOf is a resourceVersion as a token.
func tokenOf(rv uint64) fence.Token { return fence.Token(rv) }
