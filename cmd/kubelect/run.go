package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
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

// The assumptions behind the kill bound.
const (
	// maxClockRateSkew is the largest difference in clock rate between
	// two candidates that the kill bound allows for (1%: far more than
	// NTP-disciplined clocks drift).
	maxClockRateSkew = 0.01
	// killReapMargin is left for SIGKILL to take effect and for CMD's
	// exit to be reaped.
	killReapMargin = 250 * time.Millisecond
)

// maxKillAfter is the longest a leader may wait, on its own clock, between
// its stop closing and SIGKILL, so that CMD is dead before another
// candidate can take the lock.
//
// The leader's stop closes at the latest renewDeadline after it sent its
// last successful renewal; another candidate takes the lock no sooner than
// leaseDuration after it saw that renewal, which is after it was sent.
// With clock rates differing by up to maxClockRateSkew, the leader's
// renewDeadline+killAfter may last up to (1+ρ) times as long in real time,
// and the other's leaseDuration as little as (1−ρ) times; so
//
//	(renewDeadline + killAfter)·(1+ρ) + killReapMargin ≤ leaseDuration·(1−ρ)
//
// which is satisfied by the bound below. It is negative when the timings
// leave no room to stop CMD.
func maxKillAfter(leaseDuration, renewDeadline time.Duration) time.Duration {
	ld := float64(leaseDuration) * (1 - maxClockRateSkew) / (1 + maxClockRateSkew)
	return time.Duration(ld) - renewDeadline - killReapMargin
}

// defaultKillAfter is half of maxKillAfter, rounded down to 10ms.
func defaultKillAfter(leaseDuration, renewDeadline time.Duration) time.Duration {
	b := maxKillAfter(leaseDuration, renewDeadline)
	if b <= 0 {
		return 0
	}
	return (b / 2).Truncate(10 * time.Millisecond)
}

// checkKillAfter returns killAfter, or its default when unset, or a usage
// error when it is not safe with the timings.
func checkKillAfter(killAfter *time.Duration, leaseDuration, renewDeadline time.Duration) (time.Duration, error) {
	limit := maxKillAfter(leaseDuration, renewDeadline)
	if limit < 0 {
		return 0, usagef("--lease-duration %s leaves no time to stop CMD after --renew-deadline %s: "+
			"it must be at least (renew-deadline + %s) × %.4f", leaseDuration, renewDeadline, killReapMargin,
			(1+maxClockRateSkew)/(1-maxClockRateSkew))
	}
	if killAfter == nil {
		return defaultKillAfter(leaseDuration, renewDeadline), nil
	}
	switch {
	case *killAfter < 0:
		return 0, usagef("--kill-after %s is negative", *killAfter)
	case *killAfter > limit:
		return 0, usagef("--kill-after %s is not safe: with --lease-duration %s and --renew-deadline %s, CMD must get SIGKILL "+
			"within %s of losing leadership, so that it is dead before another candidate can take the lock", *killAfter, leaseDuration, renewDeadline, limit)
	}
	return *killAfter, nil
}

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
	help: `Usage: kubelect run --name NAME [-n NAMESPACE] [--kill-after D] [--on-exit exit|restand] [--listen ADDR] [flags] -- CMD ARGS...

Stand for the lock as --identity (default $POD_NAME) and run CMD while this
candidate leads. CMD runs in its own process group, with standard input,
output and error of kubelect, and in its environment:

  KUBELECT_TERM      the leadership's term (leaderTransitions): a fencing
                     token that grows with each new leadership
  KUBELECT_IDENTITY  this candidate's identity
  KUBELECT_LOCK      the lock, as NAMESPACE/NAME

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

--kill-after defaults to half of that (2.22s with the default timings), and
a longer value is refused. A process in uninterruptible sleep (a hung NFS
mount) cannot be killed: no wrapper can stop it in time.

After a lost or handed-over leadership kubelect stands again. When CMD
exits while leading, --on-exit=exit (the default) makes kubelect release the
lock and exit with CMD's exit code; --on-exit=restand releases the lock and
stands again after --retry-period.

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
`,
	run: (*app).runCmd,
}

// runner runs CMD in the leaderships of "kubelect run".
type runner struct {
	a         *app
	log       *slog.Logger
	argv      []string
	env       []string // CMD's environment, but the term
	killAfter time.Duration
	restand   bool
	reap      *reaper            // nil unless kubelect reaps orphans
	stopAll   context.CancelFunc // asks kubelect to stop

	mu      sync.Mutex
	stopSig os.Signal // guarded by mu: what to send CMD when kubelect is asked to stop
	pid     int       // guarded by mu: CMD's process (and group) id while it runs
	code    *int      // guarded by mu: the exit code kubelect is to exit with
	wg      sync.WaitGroup
}

func (r *runner) signal(sig os.Signal) {
	r.mu.Lock()
	pid := r.pid
	r.mu.Unlock()
	if pid > 0 {
		signalGroup(pid, sig.(syscall.Signal))
	}
}

func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig)
}

func (r *runner) setExit(code int) {
	r.mu.Lock()
	r.code = &code
	r.mu.Unlock()
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// lead runs CMD for one leadership, and returns once it is dead.
func (r *runner) lead(ctx context.Context, le *election.LeaderElector, stop <-chan struct{}, endTerm context.CancelFunc) {
	term, _ := le.Term()
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	cmd.Env = append(append([]string(nil), r.env...), "KUBELECT_TERM="+strconv.Itoa(term))
	cmd.Stdin = r.a.stdin
	cmd.Stdout = r.a.stdout
	cmd.Stderr = r.a.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// When kubelect's output is not a file, a process CMD left behind may
	// hold the copying pipe open: do not wait on it for more than this
	// once CMD has exited (its group then gets SIGKILL).
	cmd.WaitDelay = 100 * time.Millisecond
	err := r.reap.start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	if err != nil {
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		r.log.Error("cannot start CMD", "err", err, "term", term)
		if r.restand {
			endTerm()
		} else {
			r.setExit(code)
			r.stopAll()
		}
		return
	}
	pid := cmd.Process.Pid
	r.mu.Lock()
	r.pid = pid
	r.mu.Unlock()
	r.log.Info("CMD started", "pid", pid, "term", term)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); r.reap.waited(); close(done) }()
	finish := func() int {
		signalGroup(pid, syscall.SIGKILL) // what is left of its group
		r.mu.Lock()
		r.pid = 0
		r.mu.Unlock()
		code := exitCode(cmd.ProcessState)
		r.log.Info("CMD exited", "pid", pid, "code", code, "term", term)
		return code
	}
	select {
	case <-done:
		code := finish()
		if r.restand {
			r.log.Info("CMD exited while leading: releasing the lock and standing again", "code", code)
			endTerm()
		} else {
			r.log.Info("CMD exited while leading: releasing the lock and exiting", "code", code)
			r.setExit(code)
			r.stopAll()
		}
		return
	case <-stop:
	}
	// ctx ends when kubelect is asked to stop (a signal sets stopSig first).
	sig := syscall.SIGTERM
	// Whether kubelect was asked to stop is decided now, when the
	// leadership ended, not once CMD is dead (a stop asked meanwhile is
	// no reason to take this CMD's code as kubelect's).
	asked := ctx.Err() != nil
	if asked {
		r.mu.Lock()
		var ss *stopSignal
		if errors.As(context.Cause(ctx), &ss) {
			r.stopSig = ss.sig
		}
		if s, ok := r.stopSig.(syscall.Signal); ok {
			sig = s
		}
		r.mu.Unlock()
	}
	r.log.Info("leadership ended: stopping CMD", "pid", pid, "signal", sig.String(), "killAfter", r.killAfter)
	signalGroup(pid, sig)
	t := r.a.clockOrReal().NewTimer(r.killAfter)
	select {
	case <-done:
		t.Stop()
	case <-t.C():
		r.log.Warn("CMD has not exited: SIGKILL", "pid", pid, "after", r.killAfter)
		signalGroup(pid, syscall.SIGKILL)
		<-done
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
	fs.Var(&killAfter, "kill-after", "the `duration` from SIGTERM to SIGKILL for CMD once leadership ends; at most lease-duration × 0.99/1.01 − renew-deadline − 250ms (default: half that; 2.22s with the default timings)")
	reap := fs.Bool("reap", reapByDefault(), "reap the zombies of the processes CMD leaves behind, as a container's init must (default: on when kubelect runs as PID 1)")
	listen := fs.String("listen", "", "serve /healthz, /readyz and /metrics on this `address` (default: no HTTP server)")
	onExit := fs.String("on-exit", "exit", "when CMD exits while leading: exit (release the lock and exit with CMD's code) or restand (release and stand again)")
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

	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	r := &runner{
		a: a, log: e.log, argv: argv, killAfter: ka, restand: *onExit == "restand",
		stopAll: stopAll,
		env:     append(a.environ(), "KUBELECT_IDENTITY="+e.identity, "KUBELECT_LOCK="+e.namespace+"/"+c.name),
	}
	sigs := make(chan os.Signal, 4)
	if a.notify != nil {
		a.notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer a.stopNotify(sigs)
	}
	// A stop asked from outside: a signal, or the caller's context.
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					r.signal(s)
					continue
				}
				r.mu.Lock()
				r.stopSig = s
				r.mu.Unlock()
				stopAll()
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
					r.lead(ctx, le, stop, endTerm)
				},
				OnStoppedLeading: func() {},
			},
			ReleaseOnCancel: true,
			Metrics:         metrics.hooks(),
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
		t := a.clockOrReal().NewTimer(c.retryPeriod)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// realClock is election's real clock, for the app's own timers.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) election.Timer {
	return realTimer{time.NewTimer(d)}
}
func (realClock) AfterFunc(d time.Duration, f func()) election.Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

func (a *app) clockOrReal() election.Clock {
	if a.clock != nil {
		return a.clock
	}
	return realClock{}
}
