// Command chaoscandidate is one leader-election candidate of the chaos
// campaign (package chaos), as a process of its own: it runs this library's
// elector or client-go v0.37.2's on one lock, through the API server URL it
// is given (the campaign's fault proxy), and writes timestamped events to
// a log. While it leads it writes to the campaign's fenced store about
// every 100ms, each write carrying the fencing token it read when the
// leadership began: this library's FencingToken() (the resourceVersion of
// the write that began it), or for client-go, which has none, the
// resourceVersion of its acquiring write as its Lease client saw it. The
// writes also carry the term (this library's Term(); client-go: the
// leaderTransitions its acquiring write stored), for the report.
//
//	chaoscandidate -impl kubelect -server http://127.0.0.1:PORT -token-file TOKEN \
//	  -namespace NS -lock leases -name LOCK -id ID -store http://127.0.0.1:PORT -events FILE
//
// When the elector returns (leadership lost), the candidate stands again
// with a new elector and the same identity, as a restarted pod would.
// SIGTERM makes it stop (releasing the lock) and exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	cgle "k8s.io/client-go/tools/leaderelection"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/test/kube/chaos"
)

// options are the flags.
type options struct {
	impl, server, tokenFile, namespace, lock, name, id, store, events string
	lease, renew, retry, requestTimeout                               time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.impl, "impl", "kubelect", "elector: kubelect or client-go")
	flag.StringVar(&o.server, "server", "", "API server URL (the fault proxy, plain http on loopback)")
	flag.StringVar(&o.tokenFile, "token-file", "", "bearer token file")
	flag.StringVar(&o.namespace, "namespace", "", "namespace of the lock")
	flag.StringVar(&o.lock, "lock", "leases", "lock kind: leases, endpoints or configmaps (client-go: leases)")
	flag.StringVar(&o.name, "name", "", "lock object name")
	flag.StringVar(&o.id, "id", "", "candidate identity")
	flag.StringVar(&o.store, "store", "", "fenced store base URL")
	flag.StringVar(&o.events, "events", "", "event log file (appended)")
	flag.DurationVar(&o.lease, "lease", 4*time.Second, "LeaseDuration")
	flag.DurationVar(&o.renew, "renew", 2*time.Second, "RenewDeadline")
	flag.DurationVar(&o.retry, "retry", 500*time.Millisecond, "RetryPeriod")
	flag.DurationVar(&o.requestTimeout, "request-timeout", 0, "RequestTimeout (kubelect; 0: its default)")
	flag.Parse()
	if o.server == "" || o.tokenFile == "" || o.namespace == "" || o.name == "" || o.id == "" || o.store == "" || o.events == "" {
		flag.Usage()
		os.Exit(2)
	}
	events, err := chaos.OpenEventLog(o.events, o.id)
	if err != nil {
		log.Fatal(err)
	}
	events.Write(time.Now(), chaos.EvRun, 0, os.Getpid(), o.impl+" "+o.lock)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// A process that does not stop within 15s of the signal exits anyway.
	go func() {
		<-ctx.Done()
		time.Sleep(15 * time.Second)
		events.Write(time.Now(), chaos.EvError, 0, 0, "no exit within 15s of the signal")
		os.Exit(3)
	}()
	a := &actor{o: o, events: events, http: &http.Client{Timeout: 500 * time.Millisecond}}
	run := map[string]func(context.Context, options, *actor) error{"kubelect": runKubelect, "client-go": runClientGo}[o.impl]
	if run == nil {
		log.Fatalf("unknown -impl %q", o.impl)
	}
	// An elector returns when its leadership is lost; like a restarted
	// pod, the candidate then stands again with the same identity.
	for i := 0; i < 1000 && ctx.Err() == nil; i++ {
		err := run(ctx, o, a)
		if ctx.Err() != nil {
			break
		}
		msg := "elector returned"
		if err != nil {
			msg += ": " + err.Error()
		}
		events.Write(time.Now(), chaos.EvEnded, 0, 0, msg)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	events.Write(time.Now(), chaos.EvExit, 0, 0, "")
	events.Close()
}

// actor does what a leader does: it writes to the fenced store.
type actor struct {
	o      options
	events *chaos.EventLog
	http   *http.Client
	leads  atomic.Int64 // leaderships begun by this process
}

// post sends one request to the store for the leadership key and returns
// its status, 0 on error.
func (a *actor) post(path, key string, token fencing.Token, term int64) int {
	u := a.o.store + path + "?" + url.Values{"id": {a.o.id}, "lead": {key},
		"token": {token.String()}, "term": {strconv.FormatInt(term, 10)}}.Encode()
	resp, err := a.http.Post(u, "text/plain", nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// lead runs while this candidate leads, from OnStartedLeading: it
// announces the leadership with the fencing token and term it read when
// it began, then writes carrying them every 100ms until stop closes, as
// long as leading (the elector's word) says it still leads.
func (a *actor) lead(stop <-chan struct{}, token fencing.Token, term int64, leading func() bool) {
	key := fmt.Sprintf("%d.%d", os.Getpid(), a.leads.Add(1))
	a.events.WriteEvent(time.Now(), chaos.Event{Kind: chaos.EvLead, Token: token, Term: term})
	a.post("/lead", key, token, term)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			a.events.Write(time.Now(), chaos.EvStop, 0, 0, "")
			a.post("/stop", key, 0, 0)
			return
		default:
		}
		if leading() {
			sent := time.Now()
			code := a.post("/act", key, token, term)
			a.events.WriteEvent(sent, chaos.Event{Kind: chaos.EvAct, Token: token, Term: term, Code: code})
		}
		select {
		case <-stop:
		case <-tick.C:
		}
	}
}

func runKubelect(ctx context.Context, o options, a *actor) error {
	client, err := k8sapi.New(k8sapi.Config{
		Host: o.server, BearerTokenFile: o.tokenFile, Namespace: o.namespace,
		WarningHandler: func(string) {},
	})
	if err != nil {
		return err
	}
	lock, err := rl.New(o.lock, o.namespace, o.name, client, rl.ResourceLockConfig{Identity: o.id})
	if err != nil {
		return err
	}
	var le *election.LeaderElector
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.lease, RenewDeadline: o.renew, RetryPeriod: o.retry,
		RequestTimeout: o.requestTimeout, ReleaseOnCancel: true, Name: o.id,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				// Read once, at the start of the leadership, as a program
				// would; every write of the leadership carries it.
				token, err := le.FencingToken()
				if err != nil {
					a.events.Write(time.Now(), chaos.EvError, 0, 0, "FencingToken() in OnStartedLeading: "+err.Error())
				}
				term, _ := le.Term()
				a.lead(stop, token, int64(term), func() bool {
					_, ok := le.Term()
					if now, err := le.FencingToken(); ok && err == nil && now != token {
						a.events.Write(time.Now(), chaos.EvError, 0, 0, fmt.Sprintf("FencingToken() = %d while leading; the leadership began with %d", now, token))
					}
					return ok
				})
			},
			OnStoppedLeading: func() { a.events.Write(time.Now(), chaos.EvStopped, 0, 0, "") },
		},
	})
	if err != nil {
		return err
	}
	return le.RunContext(ctx)
}

// written is a record a client-go lock wrote, and the resourceVersion
// the server gave the write.
type written struct {
	record cgrl.LeaderElectionRecord
	rv     string
}

// recordingLock is a client-go Lease lock that remembers the last record
// it wrote and the resourceVersion of that write: the term
// (leaderTransitions) and the fencing token of an acquisition.
type recordingLock struct {
	cgrl.Interface
	leases *rvLeases
	last   atomic.Pointer[written]
}

// Create creates the lock and remembers r if it succeeded.
func (l *recordingLock) Create(ctx context.Context, r cgrl.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, r)
	if err == nil {
		l.last.Store(&written{record: r, rv: l.leases.rv()})
	}
	return err
}

// Update updates the lock and remembers r if it succeeded.
func (l *recordingLock) Update(ctx context.Context, r cgrl.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, r)
	if err == nil {
		l.last.Store(&written{record: r, rv: l.leases.rv()})
	}
	return err
}

// rvLeases is a Lease client that remembers the resourceVersion of the
// last Lease it created or updated.
type rvLeases struct {
	coordv1client.LeasesGetter
	last atomic.Pointer[string]
}

func (g *rvLeases) rv() string {
	if p := g.last.Load(); p != nil {
		return *p
	}
	return ""
}

// Leases wraps the namespace's Lease client.
func (g *rvLeases) Leases(namespace string) coordv1client.LeaseInterface {
	return rvLease{LeaseInterface: g.LeasesGetter.Leases(namespace), g: g}
}

type rvLease struct {
	coordv1client.LeaseInterface
	g *rvLeases
}

// Create creates the Lease and remembers its resourceVersion.
func (l rvLease) Create(ctx context.Context, lease *coordv1.Lease, opts metav1.CreateOptions) (*coordv1.Lease, error) {
	out, err := l.LeaseInterface.Create(ctx, lease, opts)
	if err == nil {
		l.g.last.Store(&out.ResourceVersion)
	}
	return out, err
}

// Update updates the Lease and remembers its resourceVersion.
func (l rvLease) Update(ctx context.Context, lease *coordv1.Lease, opts metav1.UpdateOptions) (*coordv1.Lease, error) {
	out, err := l.LeaseInterface.Update(ctx, lease, opts)
	if err == nil {
		l.g.last.Store(&out.ResourceVersion)
	}
	return out, err
}

func runClientGo(ctx context.Context, o options, a *actor) error {
	logger := funcr.New(func(prefix, args string) { log.Println(prefix, args) }, funcr.Options{Verbosity: 4})
	klog.SetLogger(logr.Logger(logger))
	if o.lock != "leases" {
		return fmt.Errorf("client-go candidates use the Lease lock only, not %q", o.lock)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: o.server, BearerTokenFile: o.tokenFile})
	if err != nil {
		return err
	}
	leases := &rvLeases{LeasesGetter: cs.CoordinationV1()}
	// What cgrl.New builds for "leases", with the Lease client wrapped.
	inner := &cgrl.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.namespace, Name: o.name},
		Client:     leases,
		LockConfig: cgrl.ResourceLockConfig{Identity: o.id},
	}
	lock := &recordingLock{Interface: inner, leases: leases}
	// client-go has no fencing token: the candidate carries the
	// resourceVersion of its acquiring write (the last write of its lock
	// before OnStartedLeading), and the leaderTransitions it stored as the
	// term, both kept for the whole leadership. It writes until its
	// context ends, as a client-go program would.
	le, err := cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.lease, RenewDeadline: o.renew, RetryPeriod: o.retry,
		ReleaseOnCancel: true, Name: o.id,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				var token fencing.Token
				var term int64 = -1
				if w := lock.last.Load(); w != nil {
					term = int64(w.record.LeaderTransitions)
					var err error
					if token, err = fencing.ParseToken(w.rv); err != nil {
						a.events.Write(time.Now(), chaos.EvError, 0, 0, "the acquiring write's resourceVersion: "+err.Error())
					}
				} else {
					a.events.Write(time.Now(), chaos.EvError, 0, 0, "leading without a write of the lock")
				}
				a.lead(lctx.Done(), token, term, func() bool { return true })
			},
			OnStoppedLeading: func() { a.events.Write(time.Now(), chaos.EvStopped, 0, 0, "") },
		},
	})
	if err != nil {
		return err
	}
	le.Run(ctx)
	return nil
}
