package fencing

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cgle "k8s.io/client-go/tools/leaderelection"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	fence "github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// The timings of every candidate of the package: short, so that a crash
// costs two seconds and two hundred leadership changes fit in minutes.
const (
	leaseDuration = 2 * time.Second
	renewDeadline = 1500 * time.Millisecond
	retryPeriod   = 300 * time.Millisecond
)

// The implementations a candidate can have.
const (
	implOurs    = "kubelect"         // an elector of this library in the test process
	implProcess = "kubelect-process" // fencecand, a process of its own
	implClient  = "client-go"        // a client-go v0.37.2 elector in the test process
)

// waitFor polls cond every 10ms until it holds; false if it did not
// within d. Every wait of the package is one of these.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adminClient is a cluster-admin client: the operator who deletes locks
// and requests transfers, and the watches that see every write.
func adminClient(t *testing.T) *k8sapi.Client {
	t.Helper()
	c, err := k8sapi.New(k8sapi.Config{Host: cluster.Host, CAFile: cluster.CAFile, BearerToken: cluster.AdminToken,
		WarningHandler: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// podClient is a client from the pod-like service-account directory, as a
// program in a pod makes one, whose network the test can cut.
func podClient(t *testing.T, cut *atomic.Bool) *k8sapi.Client {
	t.Helper()
	cfg, err := k8sapi.InClusterConfigFromDir(cluster.ServiceAccountDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, cut) }
	cfg.WarningHandler = func(string) {}
	c, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leadership is one leadership, as its candidate reported it when it
// began (OnStartedLeading).
type leadership struct {
	n     int    // its place in the ledger
	id    string // the leader
	impl  string // implOurs, implProcess or implClient
	lock  string // the lock kind (resourcelock.New's)
	token fence.Token
	term  int
	at    time.Time
	// kind is the change that began it, as the test's driver caused it
	// ("release", "transfer", ...); set by the driver.
	kind string
	// took is how long after the driver's action (a release, a transfer
	// request, a kill, a restart begun) the leadership began.
	took time.Duration
	// fromWatch is true when the token is the resourceVersion of the
	// acquiring write as the admin's watch saw it (client-go holders,
	// which have no FencingToken).
	fromWatch bool
}

// ledger is every leadership on the lock, in the order they began.
type ledger struct {
	mu sync.Mutex
	ls []*leadership // guarded by mu
}

// add appends a leadership that has begun.
func (l *ledger) add(ls *leadership) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls.n = len(l.ls)
	l.ls = append(l.ls, ls)
}

func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ls)
}

// get returns the n-th leadership, or nil.
func (l *ledger) get(n int) *leadership {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < len(l.ls) {
		return l.ls[n]
	}
	return nil
}

// all is a copy of the list.
func (l *ledger) all() []*leadership {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*leadership(nil), l.ls...)
}

// update runs f on the n-th leadership under the ledger's lock.
func (l *ledger) update(n int, f func(*leadership)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.ls[n])
}

// cand is one candidate: an elector of this library in the test process,
// a fencecand process, or a client-go elector in the test process.
type cand struct {
	id   string
	impl string
	lock string

	cut     atomic.Bool
	leading atomic.Bool
	done    chan struct{} // closed when the elector (or process) has ended

	// In the test process.
	le     *election.LeaderElector
	cg     *cgle.LeaderElector
	cancel context.CancelFunc
	runErr error // what RunContext returned; set before done closes

	// A process.
	proc *process
}

// alive reports whether the candidate still runs.
func (c *cand) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// holder is the holder of the lock as the candidate last saw it.
func (c *cand) holder() string {
	switch c.impl {
	case implOurs:
		return c.le.Status().Holder
	case implClient:
		return c.cg.GetLeader()
	default:
		return c.proc.lastHolder()
	}
}

// release stops the candidate as a planned shutdown: a leader releases
// the lock (ReleaseOnCancel; SIGTERM for a process).
func (c *cand) release() {
	if c.proc != nil {
		_ = c.proc.cmd.Process.Signal(syscall.SIGTERM)
		return
	}
	c.cancel()
}

// crash stops the candidate without a release: its network is cut before
// its context ends (an elector in the test process), or it is SIGKILLed
// (a process).
func (c *cand) crash() {
	if c.proc != nil {
		_ = c.proc.cmd.Process.Kill()
		return
	}
	c.cut.Store(true)
	c.cancel()
}

// wait waits up to d for the candidate to end.
func (c *cand) wait(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// startOurs starts an elector of this library in the test process on the
// lock of kind, recording its leadership in l. It runs RunContext: one
// leadership at most.
func startOurs(t *testing.T, l *ledger, kind, namespace, name, id string) *cand {
	t.Helper()
	c := &cand{id: id, impl: implOurs, lock: kind, done: make(chan struct{})}
	lock, err := rl.New(kind, namespace, name, podClient(t, &c.cut), rl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	c.le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReleaseOnCancel: true, Name: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				at := time.Now()
				token, terr := c.le.FencingToken()
				term, leading := c.le.Term()
				st := c.le.Status()
				switch {
				case terr != nil:
					t.Errorf("%s: FencingToken in OnStartedLeading: %v", id, terr)
				case !leading:
					t.Errorf("%s: Term in OnStartedLeading says it does not lead", id)
				case st.FencingToken != token || st.Term != term || !st.Leading:
					t.Errorf("%s: Status says token %d, term %d, leading %v; FencingToken %d, Term %d", id,
						st.FencingToken, st.Term, st.Leading, token, term)
				}
				l.add(&leadership{id: id, impl: implOurs, lock: kind, token: token, term: term, at: at})
				c.leading.Store(true)
				<-stop
				c.leading.Store(false)
				// Once stop is closed the leadership is over: no token, no term.
				if tok, err := c.le.FencingToken(); !errors.Is(err, election.ErrNotLeading) {
					t.Errorf("%s: FencingToken after the leadership ended: %d, %v; want ErrNotLeading", id, tok, err)
				}
				if term, leading := c.le.Term(); term != 0 || leading {
					t.Errorf("%s: Term after the leadership ended: %d, %v; want 0, false", id, term, leading)
				}
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		c.runErr = c.le.RunContext(ctx)
	}()
	return c
}

// startClientGo starts a client-go v0.37.2 elector on the Lease
// namespace/name, with ReleaseOnCancel. Its leadership goes into l without
// a token: client-go does not tell the resourceVersion of its writes, so
// the test takes it from the admin's watch.
func startClientGo(t *testing.T, l *ledger, namespace, name, id string) *cand {
	t.Helper()
	c := &cand{id: id, impl: implClient, lock: rl.LeasesResourceLock, done: make(chan struct{})}
	token, err := os.ReadFile(filepath.Join(cluster.ServiceAccountDir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: cluster.Host, BearerToken: string(token),
		TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.CAFile},
		WrapTransport:   func(rt http.RoundTripper) http.RoundTripper { return harness.Cuttable(rt, &c.cut) },
	})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := cgrl.New(cgrl.LeasesResourceLock, namespace, name, cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	c.cg, err = cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReleaseOnCancel: true, Name: id,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				l.add(&leadership{id: id, impl: implClient, lock: rl.LeasesResourceLock, at: time.Now(), fromWatch: true})
				c.leading.Store(true)
				<-ctx.Done() // client-go ends it when the leadership is lost
				c.leading.Store(false)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); c.cg.Run(ctx) }()
	return c
}

// procEvent is one line of fencecand's output.
type procEvent struct {
	Ev          string `json:"ev"`
	At          string `json:"at"`
	Holder      string `json:"holder"`
	Token       string `json:"token"`
	Term        int    `json:"term"`
	Leading     bool   `json:"leading"`
	StatusToken string `json:"statusToken"`
	StatusTerm  int    `json:"statusTerm"`
	Err         string `json:"err"`
	Seq         int    `json:"seq"`
	OK          bool   `json:"ok"`
	Stale       bool   `json:"stale"`
	Conflict    bool   `json:"conflict"`
	Highest     string `json:"highest"`
	RV          string `json:"rv"`
	Code        int    `json:"code"`
	Body        string `json:"body"`
}

// process is a running fencecand.
type process struct {
	id  string
	cmd *exec.Cmd
	log string // its standard error

	mu     sync.Mutex
	events []procEvent // guarded by mu
	holder string      // guarded by mu: the last OnNewLeader
}

func (p *process) lastHolder() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holder
}

// eventsSince is a copy of the events from the n-th on.
func (p *process) eventsSince(n int) []procEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n >= len(p.events) {
		return nil
	}
	return append([]procEvent(nil), p.events[n:]...)
}

// count is how many events the process has written.
func (p *process) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// startProcess starts fencecand with identity id on the lock of kind,
// with extra flags; a "lead" line goes into l (when l is not nil).
func startProcess(t *testing.T, l *ledger, kind, name, id string, extra ...string) *cand {
	t.Helper()
	c := &cand{id: id, impl: implProcess, lock: kind, done: make(chan struct{})}
	p := &process{id: id, log: filepath.Join(t.TempDir(), id+".log")}
	c.proc = p
	args := append([]string{"-sa-dir", cluster.ServiceAccountDir, "-lock", kind, "-name", name, "-id", id,
		"-lease", leaseDuration.String(), "-renew", renewDeadline.String(), "-retry", retryPeriod.String()}, extra...)
	p.cmd = exec.Command(candBin, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = logf
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev procEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("%s: unreadable line %q: %v", id, sc.Text(), err)
				continue
			}
			switch ev.Ev {
			case "lead":
				c.onLead(t, l, ev)
			case "stopped":
				c.leading.Store(false)
			}
			p.mu.Lock()
			p.events = append(p.events, ev)
			if ev.Ev == "newleader" {
				p.holder = ev.Holder
			}
			p.mu.Unlock()
		}
		_ = p.cmd.Wait()
		c.leading.Store(false)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT) // a paused one could not end
		_ = p.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// onLead records a process's leadership, checking what it said of it.
func (c *cand) onLead(t *testing.T, l *ledger, ev procEvent) {
	at, _ := time.Parse(time.RFC3339Nano, ev.At)
	token, err := fence.ParseToken(ev.Token)
	switch {
	case ev.Err != "" || err != nil:
		t.Errorf("%s: FencingToken in OnStartedLeading: %q, %s", c.id, ev.Token, ev.Err)
	case !ev.Leading:
		t.Errorf("%s: Term in OnStartedLeading says it does not lead", c.id)
	case ev.StatusToken != ev.Token || ev.StatusTerm != ev.Term:
		t.Errorf("%s: Status says token %s, term %d; FencingToken %s, Term %d", c.id, ev.StatusToken, ev.StatusTerm, ev.Token, ev.Term)
	}
	c.leading.Store(true)
	if l != nil {
		l.add(&leadership{id: c.id, impl: implProcess, lock: c.lock, token: token, term: ev.Term, at: at})
	}
}

// objEvent is one event of the admin's watch of a lock object.
type objEvent struct {
	typ         k8sapi.EventType
	rv          uint64
	holder      string
	transitions int
	record      bool // the object holds a record
	data        map[string]string
	fenceToken  string // the fencing.AnnotationKey annotation
}

// watcher follows one object with the admin's watch for the whole test,
// and keeps every event. A watch that has to start again from the
// current state (after 410 Gone: the server's watch cache does not reach
// back far enough, as after a kube-apiserver restart) may have missed
// events: such a gap is recorded.
type watcher struct {
	r        k8sapi.Resource
	ns, name string

	mu     sync.Mutex
	events []objEvent  // guarded by mu
	gaps   [][2]uint64 // guarded by mu: (after, before): events between may be missing
	lastRV uint64      // guarded by mu

	cancel context.CancelFunc
	done   chan struct{}
}

// watch starts a watcher of namespace/name of resource r; it stops with
// the test.
func watch(t *testing.T, client *k8sapi.Client, r k8sapi.Resource, namespace, name string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{r: r, ns: namespace, name: name, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx, client)
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

func (w *watcher) run(ctx context.Context, client *k8sapi.Client) {
	defer close(w.done)
	from := ""      // resume after this resourceVersion; "" for the current state first
	resync := false // the watch starts again from the current state after a 410
	for ctx.Err() == nil {
		s, err := client.Watch(ctx, w.r, w.ns, w.name, k8sapi.WatchOptions{ResourceVersion: from, AllowBookmarks: true})
		if err != nil {
			if k8sapi.IsGone(err) {
				from, resync = "", true
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for {
			ev, err := s.Next()
			if err != nil {
				s.Close()
				if k8sapi.IsGone(err) {
					from, resync = "", true
				}
				break
			}
			rv, perr := strconv.ParseUint(ev.Object.ResourceVersion(), 10, 64)
			if perr != nil {
				continue
			}
			w.mu.Lock()
			if resync {
				// The first event of a watch from the current state: what
				// happened since the last event seen may be lost.
				if rv > w.lastRV+1 {
					w.gaps = append(w.gaps, [2]uint64{w.lastRV, rv})
				}
				resync = false
			}
			w.lastRV = max(w.lastRV, rv)
			from = strconv.FormatUint(w.lastRV, 10)
			if ev.Type != k8sapi.Bookmark {
				w.events = append(w.events, decodeEvent(w.r, ev, rv))
			}
			w.mu.Unlock()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *watcher) last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastRV
}

// decodeEvent reads the record and the fenced data of an event's object.
func decodeEvent(r k8sapi.Resource, ev k8sapi.WatchEvent, rv uint64) objEvent {
	e := objEvent{typ: ev.Type, rv: rv}
	ann := ev.Object.Annotations()
	e.fenceToken = ann[fence.AnnotationKey]
	_, _ = ev.Object.DecodeField(&e.data, "data")
	if r == k8sapi.Leases {
		var spec struct {
			HolderIdentity   *string `json:"holderIdentity"`
			LeaseTransitions int     `json:"leaseTransitions"`
		}
		if ok, err := ev.Object.DecodeField(&spec, "spec"); ok && err == nil && spec.HolderIdentity != nil {
			e.record, e.holder, e.transitions = true, *spec.HolderIdentity, spec.LeaseTransitions
		}
		return e
	}
	if raw, ok := ann[rl.LeaderElectionRecordAnnotationKey]; ok {
		var rec rl.LeaderElectionRecord
		if json.Unmarshal([]byte(raw), &rec) == nil {
			e.record, e.holder, e.transitions = true, rec.HolderIdentity, rec.LeaderTransitions
		}
	}
	return e
}

// snapshot is a copy of the events and gaps.
func (w *watcher) snapshot() ([]objEvent, [][2]uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]objEvent(nil), w.events...), append([][2]uint64(nil), w.gaps...)
}

// inGap reports whether an event at rv may have been missed.
func inGap(gaps [][2]uint64, rv uint64) bool {
	for _, g := range gaps {
		if rv > g[0] && rv < g[1] {
			return true
		}
	}
	return false
}

// acquiredAt finds the write that began id's leadership after the
// resourceVersion after: the first event that names id as the holder. It
// says false when there is none yet, and an error when a gap of the
// watch could hide an earlier one.
func (w *watcher) acquiredAt(id string, after uint64) (objEvent, bool, error) {
	evs, gaps := w.snapshot()
	for _, e := range evs {
		if e.rv <= after || e.typ == k8sapi.Deleted || e.holder != id {
			continue
		}
		for _, g := range gaps {
			if g[1] > after && g[0] < e.rv {
				return e, true, fmt.Errorf("the watch of %s %s may have missed events between %d and %d", w.r.Kind, w.name, g[0], g[1])
			}
		}
		return e, true, nil
	}
	return objEvent{}, false, nil
}

// caughtUp waits up to d until the watcher has seen the object's current
// resourceVersion (or its absence, when it does not exist).
func (w *watcher) caughtUp(ctx context.Context, client *k8sapi.Client, d time.Duration) error {
	obj, err := client.Get(ctx, w.r, w.ns, w.name)
	if k8sapi.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	rv, err := strconv.ParseUint(obj.ResourceVersion(), 10, 64)
	if err != nil {
		return err
	}
	if !waitFor(d, func() bool { return w.last() >= rv }) {
		return fmt.Errorf("the watch of %s %s has not seen resourceVersion %d within %v (it is at %d)", w.r.Kind, w.name, rv, d, w.last())
	}
	return nil
}

// deleteObject deletes namespace/name of r as the admin; a missing object
// is fine.
func deleteObject(ctx context.Context, client *k8sapi.Client, r k8sapi.Resource, namespace, name string) error {
	err := client.Delete(ctx, r, namespace, name)
	if err != nil && !k8sapi.IsNotFound(err) {
		return err
	}
	return nil
}

// resourceOf is the object a lock kind keeps its token in: the Lease for
// Lease locks and MultiLocks (whose token is the Secondary's), the
// ConfigMap or Endpoints object for the annotation locks.
func resourceOf(kind string) k8sapi.Resource {
	switch kind {
	case rl.ConfigMapsResourceLock:
		return k8sapi.ConfigMaps
	case rl.EndpointsResourceLock:
		return k8sapi.Endpoints
	}
	return k8sapi.Leases
}

// tail is the end of the file path, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
