// Command fencecand is one candidate of this library as a process of its
// own, for the fencing tests: a process can be SIGKILLed (a crash) or
// SIGSTOPped (a pause longer than its lease), which an elector in the test
// process cannot. It loads the in-cluster config from -sa-dir as a pod
// would (with KUBERNETES_SERVICE_HOST/PORT), stands once (RunContext),
// releases on SIGTERM, and tells the test what happens as JSON lines on
// standard output:
//
//	{"ev":"newleader","holder":"..."}              OnNewLeader
//	{"ev":"lead","token":"123","term":4,...}       OnStartedLeading, with FencingToken, Term and Status
//	{"ev":"stopped"}                               the leadership's stop channel closed
//	{"ev":"write","seq":1,"ok":true,...}           a fenced update of -configmap
//	{"ev":"check","seq":1,"code":200,...}          a request to the -checker service
//	{"ev":"exit","err":"..."}                      RunContext returned
//
// With -write-every, the leader writes every interval with the token of
// its leadership: a fenced update of the ConfigMap -configmap
// (fencing.UpdateObject) and a POST to -checker (a service guarded by a
// fencing.Checker). The writer goes on after the leadership ends (and the
// process with it, until a signal), as the code of a process paused
// between its check of the leadership and its write would: only the fence
// can refuse those writes.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"

	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
)

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// emit writes one event line.
func emit(ev map[string]any) {
	ev["at"] = time.Now().Format(time.RFC3339Nano)
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(ev)
}

func main() {
	saDir := flag.String("sa-dir", "", "service-account directory (token, ca.crt, namespace)")
	kind := flag.String("lock", rl.LeasesResourceLock, "lock kind, as resourcelock.New takes it")
	name := flag.String("name", "", "lock name")
	id := flag.String("id", "", "identity")
	lease := flag.Duration("lease", 2*time.Second, "LeaseDuration")
	renew := flag.Duration("renew", 1500*time.Millisecond, "RenewDeadline")
	retry := flag.Duration("retry", 300*time.Millisecond, "RetryPeriod")
	configMap := flag.String("configmap", "", "ConfigMap the leader updates with fenced writes")
	checker := flag.String("checker", "", "URL of the service guarded by a fencing.Checker")
	every := flag.Duration("write-every", 0, "interval of the leader's writes (0: none)")
	flag.Parse()
	log.SetFlags(log.Lmicroseconds)
	log.SetPrefix(*id + " ")

	cfg, err := k8sapi.InClusterConfigFromDir(*saDir)
	if err != nil {
		log.Fatal(err)
	}
	cfg.WarningHandler = func(string) {}
	client, err := k8sapi.New(*cfg)
	if err != nil {
		log.Fatal(err)
	}
	lock, err := rl.New(*kind, cfg.Namespace, *name, client, rl.ResourceLockConfig{Identity: *id})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	w := &writer{client: client, namespace: cfg.Namespace, configMap: *configMap, checker: *checker, id: *id}
	var le *election.LeaderElector
	le, err = election.NewLeaderElector(election.LeaderElectionConfig{
		Lock: lock, LeaseDuration: *lease, RenewDeadline: *renew, RetryPeriod: *retry,
		ReleaseOnCancel: true, Name: *id,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				token, terr := le.FencingToken()
				term, leading := le.Term()
				st := le.Status()
				ev := map[string]any{"ev": "lead", "token": token.String(), "term": term, "leading": leading,
					"statusToken": st.FencingToken.String(), "statusTerm": st.Term}
				if terr != nil {
					ev["err"] = terr.Error()
				}
				emit(ev)
				if terr == nil && *every > 0 {
					w.started.Store(true)
					go w.run(token, *every)
				}
				<-stop
				emit(map[string]any{"ev": "stopped"})
			},
			OnStoppedLeading: func() {},
			OnNewLeader:      func(holder string) { emit(map[string]any{"ev": "newleader", "holder": holder}) },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = le.RunContext(ctx)
	ev := map[string]any{"ev": "exit"}
	if err != nil {
		ev["err"] = err.Error()
	}
	emit(ev)
	if w.started.Load() {
		<-ctx.Done() // the writer goes on until the process is stopped
	}
}

// writer makes the leader's fenced writes.
type writer struct {
	client             *k8sapi.Client
	namespace          string
	configMap, checker string
	id                 string
	started            atomic.Bool // run was called
}

// run writes every interval with token, until the process ends: it does
// not look at the leadership (see the package comment).
func (w *writer) run(token fencing.Token, every time.Duration) {
	for seq := 1; ; seq++ {
		if w.configMap != "" {
			w.update(token, seq)
		}
		if w.checker != "" {
			w.check(token, seq)
		}
		time.Sleep(every)
	}
}

// update makes one fenced update of the ConfigMap: its data say who wrote
// with which token.
func (w *writer) update(token fencing.Token, seq int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	obj, err := fencing.UpdateObject(ctx, w.client, k8sapi.ConfigMaps, w.namespace, w.configMap, token, func(o *k8sapi.Object) error {
		return o.SetFields(map[string]any{"writer": w.id, "token": token.String(), "seq": strconv.Itoa(seq)}, "data")
	})
	ev := map[string]any{"ev": "write", "seq": seq, "token": token.String(), "ok": err == nil}
	if err != nil {
		ev["err"] = err.Error()
		var stale *fencing.StaleError
		if errors.As(err, &stale) {
			ev["stale"] = true
			ev["highest"] = stale.Highest.String()
		}
		ev["conflict"] = k8sapi.IsConflict(err)
	} else {
		ev["rv"] = obj.ResourceVersion()
	}
	emit(ev)
}

// check sends one request to the service guarded by a fencing.Checker.
func (w *writer) check(token fencing.Token, seq int) {
	body, _ := json.Marshal(map[string]any{"writer": w.id, "token": token, "seq": seq})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.checker, bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	ev := map[string]any{"ev": "check", "seq": seq, "token": token.String()}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ev["err"] = err.Error()
	} else {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		ev["code"], ev["body"] = resp.StatusCode, string(bytes.TrimSpace(b))
	}
	emit(ev)
}
