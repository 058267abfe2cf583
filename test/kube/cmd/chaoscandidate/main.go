// Command chaoscandidate is one leader-election candidate of the chaos
// campaign (package chaos), as a process of its own: it runs this library's
// elector or client-go v0.37.2's on one lock, through the API server URL it
// is given (the campaign's fault proxy), and writes timestamped events to
// a log. While it leads it writes to the campaign's fenced store about
// every 100ms, tagged with its term: this library's Term(), or for
// client-go the record's leaderTransitions as written when it acquired.
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cgle "k8s.io/client-go/tools/leaderelection"
	cgrl "k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
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
}

// post sends one request to the store and returns its status, 0 on error.
func (a *actor) post(path string, term int64) int {
	u := a.o.store + path + "?" + url.Values{"id": {a.o.id}, "term": {fmt.Sprint(term)}}.Encode()
	resp, err := a.http.Post(u, "text/plain", nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// lead runs while this candidate leads: it announces term, then writes
// tagged with term() every 100ms until stop closes; term reports false
// when the elector says it no longer leads.
func (a *actor) lead(stop <-chan struct{}, first int64, term func() (int64, bool)) {
	a.events.Write(time.Now(), chaos.EvLead, first, 0, "")
	a.post("/lead", first)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			a.events.Write(time.Now(), chaos.EvStop, 0, 0, "")
			a.post("/stop", 0)
			return
		default:
		}
		if t, ok := term(); ok {
			sent := time.Now()
			a.events.Write(sent, chaos.EvAct, t, a.post("/act", t), "")
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
	term := func() (int64, bool) {
		t, ok := le.Term()
		return int64(t), ok
	}
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.lease, RenewDeadline: o.renew, RetryPeriod: o.retry,
		RequestTimeout: o.requestTimeout, ReleaseOnCancel: true, Name: o.id,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				t, _ := term()
				a.lead(stop, t, term)
			},
			OnStoppedLeading: func() { a.events.Write(time.Now(), chaos.EvStopped, 0, 0, "") },
		},
	})
	if err != nil {
		return err
	}
	return le.RunContext(ctx)
}

// recordingLock is a client-go lock that remembers the last record it
// wrote, to read the term (leaderTransitions) that an acquisition wrote.
type recordingLock struct {
	cgrl.Interface
	last atomic.Pointer[cgrl.LeaderElectionRecord]
}

// Create creates the lock and remembers r if it succeeded.
func (l *recordingLock) Create(ctx context.Context, r cgrl.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, r)
	if err == nil {
		l.last.Store(&r)
	}
	return err
}

// Update updates the lock and remembers r if it succeeded.
func (l *recordingLock) Update(ctx context.Context, r cgrl.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, r)
	if err == nil {
		l.last.Store(&r)
	}
	return err
}

func runClientGo(ctx context.Context, o options, a *actor) error {
	logger := funcr.New(func(prefix, args string) { log.Println(prefix, args) }, funcr.Options{Verbosity: 4})
	klog.SetLogger(logr.Logger(logger))
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: o.server, BearerTokenFile: o.tokenFile})
	if err != nil {
		return err
	}
	inner, err := cgrl.New(o.lock, o.namespace, o.name, cs.CoreV1(), cs.CoordinationV1(), cgrl.ResourceLockConfig{Identity: o.id})
	if err != nil {
		return err
	}
	lock := &recordingLock{Interface: inner}
	// client-go has no term: the fencing token is the leaderTransitions
	// its acquiring write stored, kept for the whole leadership.
	le, err := cgle.NewLeaderElector(cgle.LeaderElectionConfig{
		Lock: lock, LeaseDuration: o.lease, RenewDeadline: o.renew, RetryPeriod: o.retry,
		ReleaseOnCancel: true, Name: o.id,
		Callbacks: cgle.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				var t int64 = -1
				if r := lock.last.Load(); r != nil {
					t = int64(r.LeaderTransitions)
				}
				a.lead(lctx.Done(), t, func() (int64, bool) { return t, true })
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
