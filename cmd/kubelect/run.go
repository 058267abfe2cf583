package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
)

// Exit codes of "kubelect run" besides CMD's own.
const (
	exitCannotExec = 126 // CMD was found but could not be started
	exitNotFound   = 127 // CMD was not found
)

// optDuration is a duration flag whose default is computed later.
type optDuration struct{ d *time.Duration }

func (o *optDuration) String() string {
	if o == nil || o.d == nil {
		return "auto"
	}
	return o.d.String()
}

func (o *optDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration")
	}
	o.d = &d
	return nil
}

var runCommand = &command{
	name:    "run",
	summary: "the wrapper: run a command only while this candidate leads",
	help:    runHelp(),
	run:     (*app).runCmd,
	hup:     true,
}

// runHelp is the text of "kubelect help run", with the default kill time
// computed from the library's default timings.
func runHelp() string {
	return strings.NewReplacer("DEFAULT_KILL_AFTER", defaultKillAfter(election.DefaultLeaseDuration, election.DefaultRenewDeadline).String()).Replace(
		`Usage: kubelect run --name NAME [-n NAMESPACE] [--kill-after D] [--on-exit exit|restand] [--listen ADDR] [--label-pod] [flags] -- CMD ARGS...

Stand for the lock as --identity (default $POD_NAME) and run CMD while this
candidate leads. CMD runs in its own process group, with standard input,
output and error of kubelect, and in its environment:

  KUBELECT_FENCING_TOKEN  the leadership's fencing token: the
                          resourceVersion of the write that began it. Every
                          later leadership of the lock, by any candidate,
                          begins with a higher one (Kubernetes 1.35+
                          promises that resourceVersions compare as
                          integers; kube-apiserver on etcd has always
                          numbered them so). Fence with it: pass it with
                          each write that must not come from two leaders to
                          a store that refuses a token lower than the
                          highest it has seen, and a paused ex-leader's late
                          writes are refused. Unset (and the reason logged
                          once) when the server's resourceVersion is not an
                          integer.
  KUBELECT_TERM           the leadership's term (leaderTransitions). No
                          fencing token: it can go backwards (anyone who
                          writes the lock can set it lower, and a lock
                          deleted and created again starts it at 0).
  KUBELECT_IDENTITY       this candidate's identity
  KUBELECT_LOCK           the lock, as NAMESPACE/NAME

When leadership ends (lost, handed over to a preferred holder by "kubelect
transfer", or kubelect is asked to stop) kubelect sends SIGTERM to CMD's
process group and, if CMD has not exited --kill-after later, SIGKILL. When
CMD has exited, the rest of its group gets SIGKILL too. (A process that
leaves the group, with setsid or by daemonizing, is out of reach: run CMD
in the foreground.)

The kill time: a leader stops leading at the latest --renew-deadline after
it sent its last successful renewal, and another candidate can take the
lock no sooner than --lease-duration after it saw that renewal. So CMD must
be dead within lease-duration − renew-deadline of leadership ending, less a
margin for clock rate skew between the machines (1%) and 250ms for SIGKILL
to take effect:

  kill-after ≤ lease-duration × 0.99/1.01 − renew-deadline − 250ms

--kill-after defaults to half of that (DEFAULT_KILL_AFTER with the default timings), and
a longer value is refused.

Whatever happens to kubelect: CMD is not kubelect's child but that of a
small guard process, "kubelect guard" (the same program), which holds
CMD's deadline on the machine's monotonic clock. kubelect tells the guard
the new deadline after each renewal; when the deadline passes without one
(kubelect frozen by SIGSTOP, a debugger or a cgroup freeze, or cut off from
the API server), or at once when kubelect dies (SIGKILL, a panic, the OOM
killer), the guard sends SIGTERM to CMD's group and SIGKILL --kill-after
later, just as kubelect would. kubelect still stops CMD itself: two
enforcers, each enough. If the guard dies, the kernel kills CMD (Linux's
parent-death signal); if the guard is frozen, kubelect kills CMD and the
guard. What no wrapper can cover: kubelect and the guard both frozen while
CMD runs (nothing is left to act; a cgroup freeze of the whole container
freezes CMD too, which is safe until it thaws: then both enforcers act at
once), and a process in uninterruptible sleep (a hung NFS mount), which
even SIGKILL cannot end until the kernel lets go of it. On systems other
than Linux the guard reads the wall clock and there is no parent-death
signal.

After a lost or handed-over leadership kubelect stands again. When CMD
exits while leading, --on-exit=exit (the default) makes kubelect release the
lock and exit with CMD's exit code; --on-exit=restand releases the lock and
stands again after --retry-period. When the guard had to stop CMD (kubelect
was frozen), kubelect releases the lock, if it still holds it, and stands
again.

` + podLabelHelp + `

With --listen, it serves for probes and monitoring:

  GET /healthz  liveness: 503 when the renew loop is stuck, or CMD still
                runs --kill-after + 250ms + 3 × --retry-period after its
                leadership ended
  GET /readyz   readiness: 503 when every try to reach the lock has failed
                for a minute
  GET /metrics  the kubelect_* metrics in the Prometheus text format

As a container's PID 1, kubelect inherits the processes that CMD leaves
behind and reaps them when they exit (--reap, on by default as PID 1).

Signals: SIGTERM and SIGINT make kubelect pass the signal to CMD's group
(SIGKILL after --kill-after), release the lock once CMD has exited, and
exit with CMD's exit code. SIGHUP is passed to CMD's group.

Exit codes:
  CMD's exit code, or 128+N when CMD was killed by signal N, when kubelect
      exits because CMD exited or after stopping CMD on SIGTERM/SIGINT
  0   stopped by SIGTERM or SIGINT while not leading
  1   runtime error
  2   usage error: bad flags, no CMD, timings that leave no time to stop CMD,
      an unsafe --kill-after
  126 CMD could not be started
  127 CMD was not found

Examples:
  kubelect run --name my-cron -- /usr/local/bin/my-job --flag
  kubelect run --name legacy --lease-duration 30s --renew-deadline 20s --kill-after 5s -- ./daemon
`)
}

// fencingTokenEnv is the variable that tells CMD its leadership's fencing
// token.
const fencingTokenEnv = "KUBELECT_FENCING_TOKEN"

// withoutVar is env without the variable name: a token kubelect inherited
// (from a kubelect it runs under) is no token of CMD's leadership, and must
// not reach CMD when kubelect has none to give.
func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// runner runs CMD in the leaderships of "kubelect run".
type runner struct {
	a         *app
	log       *slog.Logger
	clock     election.Clock
	guardArgs []string // "kubelect guard" and its flags, before CMD
	argv      []string
	env       []string // CMD's environment, but the term and the token
	killAfter time.Duration
	restand   bool
	reap      *reaper            // nil unless kubelect reaps orphans
	stopAll   context.CancelFunc // asks kubelect to stop
	renewed   chan struct{}      // a renewal stored since the last look
	noToken   sync.Once          // logs, once, why CMD gets no fencing token

	mu   sync.Mutex
	pid  int  // guarded by mu: CMD's process (and group) id while it runs
	code *int // guarded by mu: the exit code kubelect is to exit with
	wg   sync.WaitGroup
}

func (r *runner) signal(sig syscall.Signal) {
	r.mu.Lock()
	pid := r.pid
	r.mu.Unlock()
	if pid > 0 {
		signalGroup(pid, sig)
	}
}

func (r *runner) setPid(pid int) {
	r.mu.Lock()
	r.pid = pid
	r.mu.Unlock()
}

func (r *runner) setExit(code int) {
	r.mu.Lock()
	r.code = &code
	r.mu.Unlock()
}

// lead runs CMD for one leadership, and returns once it is dead.
func (r *runner) lead(ctx context.Context, le *election.LeaderElector, stop <-chan struct{}, endTerm context.CancelFunc) {
	term, _ := le.Term()
	deadline := func() time.Duration { return sharedDeadline(r.clock, le.Status().LeadingUntil) }
	env := append(append([]string(nil), r.env...), "KUBELECT_TERM="+strconv.Itoa(term))
	token := "-"
	switch tok, err := le.FencingToken(); {
	case err == nil:
		token = tok.String()
		env = append(env, fencingTokenEnv+"="+token)
	case errors.Is(err, election.ErrNotLeading):
		// The leadership is over already: CMD does not start.
	default:
		r.noToken.Do(func() {
			r.log.Warn("no fencing token for CMD: "+fencingTokenEnv+" is not set", "err", err)
		})
	}
	g, err := r.startGuarded(env, deadline(), stop)
	var se *startError
	switch {
	case errors.Is(err, errLeadershipOver):
		r.log.Warn("leadership ended before CMD started", "term", term)
		<-stop
		return
	case errors.As(err, &se):
		r.log.Error("cannot start CMD", "err", err, "term", term)
		if r.restand {
			endTerm()
		} else {
			r.setExit(se.code)
			r.stopAll()
		}
		return
	case err != nil:
		r.log.Error("cannot start CMD's guard", "err", err, "term", term)
		endTerm()
		return
	}
	r.setPid(g.pid)
	r.log.Info("CMD started", "pid", g.pid, "guard", g.guardPid, "term", term, "fencingToken", token)
	go g.heartbeat(r.renewed, deadline)
	finish := func() int {
		g.kill(syscall.SIGKILL) // what is left of its group
		r.setPid(0)
		r.log.Info("CMD exited", "pid", g.pid, "code", g.code, "term", term)
		return g.code
	}
	select {
	case <-g.done:
		code := finish()
		switch {
		case g.stopped:
			r.log.Warn("the guard stopped CMD: kubelect missed CMD's deadline; ending the leadership", "code", code)
			endTerm()
		case r.restand:
			r.log.Info("CMD exited while leading: releasing the lock and standing again", "code", code)
			endTerm()
		default:
			r.log.Info("CMD exited while leading: releasing the lock and exiting", "code", code)
			r.setExit(code)
			r.stopAll()
		}
		return
	case <-stop:
	}
	// Whether kubelect was asked to stop is decided now, when the
	// leadership ended, not once CMD is dead (a stop asked meanwhile is
	// no reason to take this CMD's code as kubelect's).
	asked := ctx.Err() != nil
	sig := syscall.SIGTERM
	var ss *stopSignal
	if asked && errors.As(context.Cause(ctx), &ss) {
		sig = ss.sig
	}
	killAfter := r.killAfter
	if !g.stopSeen.IsZero() { // the kill time runs since then
		killAfter = max(0, killAfter-r.clock.Now().Sub(g.stopSeen))
	}
	r.log.Info("leadership ended: stopping CMD", "pid", g.pid, "signal", sig.String(), "killAfter", killAfter)
	if stopCMD(r.clock, g.kill, sig, killAfter, g.done) {
		r.log.Warn("CMD has not exited: SIGKILL", "pid", g.pid, "after", killAfter)
		<-g.done
	}
	code := finish()
	if asked {
		r.setExit(code)
	}
}

func (a *app) runCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var c commonFlags
	c.register(fs)
	var killAfter optDuration
	fs.Var(&killAfter, "kill-after", "the `duration` from SIGTERM to SIGKILL for CMD once leadership ends; at most lease-duration × 0.99/1.01 − renew-deadline − 250ms (default: half that; "+
		defaultKillAfter(election.DefaultLeaseDuration, election.DefaultRenewDeadline).String()+" with the default timings)")
	reap := fs.Bool("reap", reapByDefault(), "reap the zombies of the processes CMD leaves behind, as a container's init must (default: on when kubelect runs as PID 1)")
	listen := fs.String("listen", "", "serve /healthz, /readyz and /metrics on this `address` (default: no HTTP server)")
	onExit := fs.String("on-exit", "exit", "when CMD exits while leading: exit (release the lock and exit with CMD's code) or restand (release and stand again)")
	var label podLabelFlags
	label.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlagParse
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return usagef("no command: kubelect run [flags] -- CMD ARGS...")
	}
	if *onExit != "exit" && *onExit != "restand" {
		return usagef("--on-exit %q is not exit or restand", *onExit)
	}
	if err := c.check(); err != nil {
		return err
	}
	ka, err := checkKillAfter(killAfter.d, c.leaseDuration, c.renewDeadline)
	if err != nil {
		return err
	}
	e, err := a.setup(&c)
	if err != nil {
		return err
	}
	labeler, err := a.podLabeler(e, &c, &label)
	if err != nil {
		return err
	}

	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	clock := a.clock
	if clock == nil {
		clock = election.RealClock()
	}
	r := &runner{
		a: a, log: e.log, clock: clock, argv: argv, killAfter: ka, restand: *onExit == "restand",
		guardArgs: []string{guardCommand, "--kill-after", ka.String(), "--log-format", c.logFormat},
		stopAll:   stopAll,
		renewed:   make(chan struct{}, 1),
		env:       append(withoutVar(a.environ(), fencingTokenEnv), "KUBELECT_IDENTITY="+e.identity, "KUBELECT_LOCK="+e.namespace+"/"+c.name),
	}
	go func() {
		for {
			select {
			case <-a.hups:
				r.signal(syscall.SIGHUP)
			case <-ctx.Done():
				return
			}
		}
	}()
	if *reap {
		r.reap = startReaper(ctx)
	}
	var cur atomic.Pointer[election.LeaderElector]
	metrics := newPromMetrics(e.namespace + "/" + c.name)
	hooks := metrics.hooks()
	promRenewal := hooks.Renewal
	hooks.Renewal = func(d time.Duration, err error) {
		promRenewal(d, err)
		if err == nil {
			select { // the guard learns the new deadline
			case r.renewed <- struct{}{}:
			default:
			}
		}
	}
	if *listen != "" {
		mux := http.NewServeMux()
		// The leading callback runs until CMD is dead: up to killAfter
		// and the reap margin after its stop closed.
		electorRoutes(mux, &cur, metrics, ka+killReapMargin+3*c.retryPeriod)
		wait, err := a.serveHTTP(ctx, e.log, *listen, mux, func(err error) {
			e.log.Error("HTTP server failed", "err", err)
		})
		if err != nil {
			return err
		}
		defer wait()
		defer stopAll()
	}
	e.log.Info("standing", "lock", e.lockDesc, "identity", e.identity, "killAfter", ka, "onExit", *onExit)
	for {
		lock, err := e.lock(&c)
		if err != nil {
			return err
		}
		if a.wrapLock != nil {
			lock = a.wrapLock(lock)
		}
		termCtx, endTerm := context.WithCancel(ctx)
		var le *election.LeaderElector
		le, err = election.NewLeaderElector(election.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: c.leaseDuration,
			RenewDeadline: c.renewDeadline,
			RetryPeriod:   c.retryPeriod,
			Callbacks: election.LeaderCallbacks{
				OnStartedLeading: func(stop <-chan struct{}) {
					r.wg.Add(1)
					defer r.wg.Done()
					// The label comes off when stop closes, while CMD is
					// stopped; the lock is released after that.
					defer labeler.lead(le, stop)()
					r.lead(ctx, le, stop, endTerm)
				},
				OnStoppedLeading: func() {},
				OnNewLeader:      labeler.onNewLeader(),
			},
			ReleaseOnCancel: true,
			Metrics:         hooks,
			// CMD is dead within killAfter + killReapMargin of stop closing.
			ReleaseGrace: ka + killReapMargin + c.retryPeriod,
			Name:         c.name,
			Logger:       e.log,
			Clock:        a.clock,
		})
		if err != nil {
			endTerm()
			return usagef("%v", err)
		}
		cur.Store(le)
		_ = le.Stand(termCtx)
		endTerm()
		r.wg.Wait() // CMD is dead
		r.mu.Lock()
		code := r.code
		r.mu.Unlock()
		if code != nil {
			if *code == exitOK {
				return nil
			}
			return &codedError{code: *code, err: fmt.Errorf("CMD exited with code %d", *code)}
		}
		if ctx.Err() != nil {
			return nil
		}
		// --on-exit=restand: CMD exited and the lock is released; give
		// the others a chance first.
		t := clock.NewTimer(c.retryPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}
