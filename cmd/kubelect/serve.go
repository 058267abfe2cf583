package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/election"
	"github.com/kubelect/kubelect/fencing"
)

// longPollLimit bounds a "GET /?wait=1" that sees no change.
const longPollLimit = 30 * time.Second

var serveCommand = &command{
	name:    "serve",
	summary: "the sidecar: stand for a lock and answer who leads over HTTP",
	help: `Usage: kubelect serve --name NAME [-n NAMESPACE] [--listen ADDR] [--observe-only] [flags]

Stand for the lock as --identity (default $POD_NAME) for as long as it runs,
standing again after each leadership ends, and serve over HTTP:

  GET /         the lock as JSON, compatible with the old leader-elector
                sidecar: {"name": HOLDER, "term": N, "acquired": ...,
                "renewed": ..., "leaseExpiry": ..., "version": N,
                "fencingToken": "T", ...} ("leaseExpiry" by this machine's
                clock). With ?wait=1&version=N it answers when the version
                is not N, at the next change, or after 30s unchanged (long
                polling).
  GET /healthz  liveness: 503 when the renew loop or the leading callback is
                stuck
  GET /readyz   readiness: 503 when every try to reach the lock has failed
                for a minute
  GET /metrics  the kubelect_* metrics in the Prometheus text format

"fencingToken" is the holder's fencing token (the resourceVersion of the
write that began its leadership; see "kubelect help run"): this candidate's
own while it leads, else the one its observer saw when it watched that
write happen. It is absent when not known: the token is not stored in the
lock, so a leadership that began before kubelect watched the lock, or
while its watch missed writes (one that starts over after 410 Gone), has
none here. Fence with the token, not the term, which can go backwards.

With --observe-only it never writes to the lock (needs only get and watch):
/healthz always answers 200, /readyz 503 until the lock has been read and
while reads fail, and /metrics has no election metrics.

` + podLabelHelp + `

On SIGTERM or SIGINT it releases the lock if it leads, so that another
candidate takes over at once, and stops.

Examples:
  kubelect serve --name my-app --listen :4040
  curl -s 'localhost:4040/?wait=1&version=3'
  POD_NAME=my-app-7c9f8d6b5-x2x4q kubelect serve --name my-app --label-pod
`,
	run: (*app).serve,
}

// leaderJSON is the answer of "GET /".
type leaderJSON struct {
	Name                 string     `json:"name"`
	Term                 int        `json:"term"`
	Acquired             *time.Time `json:"acquired,omitempty"`
	Renewed              *time.Time `json:"renewed,omitempty"`
	LeaseDurationSeconds float64    `json:"leaseDurationSeconds"`
	LeaseExpiry          *time.Time `json:"leaseExpiry,omitempty"`
	State                string     `json:"state"`
	Version              uint64     `json:"version"`
	// FencingToken is the holder's fencing token when known.
	FencingToken string `json:"fencingToken,omitempty"`
}

// holderToken is the fencing token of ob's holder: le's own while le
// leads in the observed leadership (the observer may not have seen it
// yet), else the one the observer saw begin; 0 when neither knows it.
func holderToken(ob election.Observation, le *election.LeaderElector) fencing.Token {
	if le != nil {
		if s := le.Status(); s.Leading && s.FencingToken != 0 && s.Identity == ob.Holder && s.Term == ob.Term {
			return s.FencingToken
		}
	}
	return ob.FencingToken
}

func (a *app) serve(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var c commonFlags
	c.register(fs)
	listen := fs.String("listen", ":8080", "the address to serve HTTP on")
	observeOnly := fs.Bool("observe-only", false, "only observe the lock; never stand for it")
	var label podLabelFlags
	label.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *observeOnly && label.on {
		return usagef("--label-pod labels the leader's pod: an observer never leads (not with --observe-only)")
	}
	e, err := a.setup(&c)
	if err != nil {
		return err
	}
	labeler, err := a.podLabeler(e, &c, &label)
	if err != nil {
		return err
	}
	obs, err := e.observer(&c, nil)
	if err != nil {
		return err
	}
	var le *election.LeaderElector // set before the server starts; nil with --observe-only
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ob := obs.Current()
		if r.URL.Query().Get("wait") != "" {
			known, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
			if err != nil && r.URL.Query().Get("version") != "" {
				http.Error(w, "version: not a number", http.StatusBadRequest)
				return
			}
			wctx, cancel := context.WithTimeout(r.Context(), longPollLimit)
			ob, _ = obs.Wait(wctx, known)
			cancel()
		}
		v := leaderJSON{Name: ob.Holder, Term: ob.Term, Acquired: timePtr(ob.AcquireTime), Renewed: timePtr(ob.RenewTime),
			LeaseDurationSeconds: ob.LeaseDuration.Seconds(), State: observationState(ob), Version: ob.Version}
		if t := holderToken(ob, le); t != 0 {
			v.FencingToken = t.String()
		}
		if ob.Holder != "" {
			v.LeaseExpiry = timePtr(ob.Expiry)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
	metrics := newPromMetrics(e.namespace + "/" + c.name)
	if *observeOnly {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
			ob := obs.Current()
			switch {
			case ob.LastError != nil:
				http.Error(w, ob.LastError.Error(), http.StatusServiceUnavailable)
			case ob.Version == 0:
				http.Error(w, "the lock has not been read yet", http.StatusServiceUnavailable)
			default:
				fmt.Fprintln(w, "ok")
			}
		})
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		})
	} else {
		lock, err := e.lock(&c)
		if err != nil {
			return err
		}
		le, err = election.NewLeaderElector(election.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: c.leaseDuration,
			RenewDeadline: c.renewDeadline,
			RetryPeriod:   c.retryPeriod,
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) {
					// The label comes off before the lock is released.
					defer labeler.lead(le, stop)()
					if s := le.Status(); s.Leading {
						e.log.Info("leading", "term", s.Term, "fencingToken", tokenText(s.FencingToken))
					}
					<-stop
				},
				OnStoppedLeading: func() {},
				OnNewLeader:      labeler.onNewLeader(),
			},
			ReleaseOnCancel: true,
			Metrics:         metrics.hooks(),
			Name:            c.name,
			Logger:          e.log,
		})
		if err != nil {
			return usagef("%v", err)
		}
		var cur atomic.Pointer[election.LeaderElector]
		cur.Store(le)
		electorRoutes(mux, &cur, metrics, 3*c.retryPeriod)
	}

	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wait, err := a.serveHTTP(ctx, e.log, *listen, mux, cancel)
	if err != nil {
		return err
	}
	done := make(chan error, 3)
	go func() { done <- obs.Run(ctx) }()
	running := 1
	if le != nil {
		running++
		go func() { done <- le.Stand(ctx) }()
	}
	e.log.Info("serving", "lock", e.lockDesc, "identity", e.identity, "observeOnly", *observeOnly, "labelPod", label.on)
	<-ctx.Done()
	err = nil // asked to stop
	if parent.Err() == nil {
		err = context.Cause(ctx) // the HTTP server failed
	}
	cancel(nil)
	wait()
	for ; running > 0; running-- {
		<-done // Stand returns once it has released the lock
	}
	return err
}
