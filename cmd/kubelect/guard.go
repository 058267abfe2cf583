package main

// The guard: kubelect run's second enforcer of CMD's deadline.
//
// kubelect run does not start CMD itself. It starts "kubelect guard" (the
// same binary, in a process group of its own), which starts CMD (in a
// process group of its own, with a parent-death signal) and holds CMD's
// deadline on the machine's monotonic clock. kubelect tells the guard the
// deadline after each renewal; the guard stops CMD (SIGTERM, then SIGKILL
// --kill-after later) when the deadline passes without a newer word, or at
// once when kubelect's end of the pipe closes (kubelect died, whatever
// killed it). So CMD is stopped on time whether kubelect is killed, panics,
// is frozen (SIGSTOP, a debugger, a cgroup freeze) or is cut off from the
// API server; kubelect keeps stopping CMD itself as before. If the guard
// dies, the kernel kills CMD (the parent-death signal, Linux); if the guard
// is frozen, kubelect alone enforces the deadline, and kills the guard too.
//
// The pipes, passed as the guard's file descriptors 3 and 4:
//
//	kubelect → guard: "<deadline>\n" for each new deadline, nanoseconds
//	                  on the shared monotonic clock (monoNow)
//	guard → kubelect: "started <pid>\n" or "error <code> <message>\n",
//	                  then "exited <code>\n" once CMD is dead and reaped

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/election"
)

// guardCommand is the hidden command that kubelect run starts the guard as.
const guardCommand = "guard"

// The guard's ends of its pipes, as file descriptors.
const (
	guardControlFD = 3 // deadlines from kubelect
	guardReportFD  = 4 // CMD's pid and exit code to kubelect
)

// errDeadlinePassed is the guard's answer when CMD's deadline had passed
// before it could start CMD: the leadership is over, CMD did not run.
var errDeadlinePassed = errors.New("the leadership's deadline passed before CMD could start")

// sharedDeadline converts t, by clock, into nanoseconds on the monotonic
// clock that kubelect and the guard share. The shared clock is read first,
// so that a pause between the two readings makes the deadline earlier, never
// later.
func sharedDeadline(clock election.Clock, t time.Time) time.Duration {
	m := monoNow()
	return m + t.Sub(clock.Now())
}

// deadlineHolder holds CMD's deadline in the guard.
type deadlineHolder struct {
	clock election.Clock
	mono  func() time.Duration // the shared clock the deadlines are on
}

// hold waits until CMD must be stopped and says why: deadline passed
// (each value from beats replaces it, earlier or later: it is kubelect's
// latest word), or beats closed (kubelect is gone). It returns "" when
// exited closes first.
func (h deadlineHolder) hold(deadline time.Duration, beats <-chan time.Duration, exited <-chan struct{}) string {
	for {
		t := h.clock.NewTimer(deadline - h.mono())
		select {
		case <-exited:
			t.Stop()
			return ""
		case <-t.C():
			return "no renewal from kubelect by CMD's deadline"
		case d, ok := <-beats:
			t.Stop()
			if !ok {
				return "kubelect is gone"
			}
			deadline = d
		}
	}
}

// readDeadlines sends each deadline read from r on beats, and closes beats
// at the end of r (or at a line that is not a deadline, which only a
// broken kubelect writes).
func readDeadlines(r io.Reader, beats chan<- time.Duration) {
	defer close(beats)
	s := bufio.NewScanner(r)
	for s.Scan() {
		d, err := strconv.ParseInt(s.Text(), 10, 64)
		if err != nil {
			return
		}
		beats <- time.Duration(d)
	}
}

// guardMain is "kubelect guard --kill-after D -- CMD ARGS...", started by
// kubelect run with its pipes as file descriptors 3 and 4. It returns CMD's
// exit code (128+N for signal N).
func guardMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("kubelect guard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	killAfter := fs.Duration("kill-after", 0, "")
	logFormat := fs.String("log-format", "text", "")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || *killAfter < 0 {
		fmt.Fprintln(stderr, "kubelect guard: for kubelect run's use only")
		return exitUsage
	}
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(h).With("guard", os.Getpid())
	ctl := os.NewFile(guardControlFD, "kubelect-control")
	report := os.NewFile(guardReportFD, "kubelect-report")
	for _, f := range []*os.File{ctl, report} {
		if _, err := f.Stat(); err != nil {
			fmt.Fprintln(stderr, "kubelect guard: for kubelect run's use only (no pipe from kubelect)")
			return exitUsage
		}
		syscall.CloseOnExec(int(f.Fd())) // the pipes must not reach CMD
	}
	// Signals to the guard's group or from a supervisor that signals every
	// process (systemd's control-group kill) are for kubelect and CMD:
	// kubelect stops CMD, and the guard stays to hold the deadline.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	beats := make(chan time.Duration, 1)
	go readDeadlines(ctl, beats)
	first, ok := <-beats
	if !ok {
		return exitError // kubelect is gone: CMD must not start
	}
	holder := deadlineHolder{clock: election.RealClock(), mono: monoNow}
	if first <= holder.mono() {
		fmt.Fprintf(report, "error 0 %s\n", errDeadlinePassed)
		return exitError
	}
	argv := fs.Args()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = cmdSysProcAttr()
	// The parent-death signal comes when the thread that started CMD
	// ends: this goroutine keeps its thread to the end of the process.
	runtime.LockOSThread()
	if err := cmd.Start(); err != nil {
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		fmt.Fprintf(report, "error %d %s\n", code, strings.ReplaceAll(err.Error(), "\n", " "))
		return code
	}
	pid := cmd.Process.Pid
	fmt.Fprintf(report, "started %d\n", pid)
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	verb := "exited"
	if why := holder.hold(first, beats, exited); why != "" {
		verb = "stopped"
		killed := stopCMD(holder.clock, func(s syscall.Signal) { signalGroup(pid, s) }, syscall.SIGTERM, *killAfter, exited)
		log.Warn(why+": stopped CMD", "pid", pid, "sigkill", killed, "killAfter", *killAfter)
		<-exited
	}
	signalGroup(pid, syscall.SIGKILL) // what is left of CMD's group
	code := exitCode(cmd.ProcessState)
	fmt.Fprintf(report, "%s %d\n", verb, code)
	return code
}

// exitCode is the exit code of a process, 128+N when signal N killed it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// errLeadershipOver is startGuarded's error when the leadership ended
// before CMD started: the deadline had passed, or stop closed first.
var errLeadershipOver = errors.New("the leadership ended before CMD started")

// startError is startGuarded's error when CMD could not be started; code
// is exitNotFound or exitCannotExec.
type startError struct {
	code int
	msg  string
}

func (e *startError) Error() string { return e.msg }

// guarded is CMD, started through its guard, as kubelect sees it.
type guarded struct {
	pid      int           // CMD's pid and process group
	guardPid int           // the guard's pid
	ctl      *os.File      // kubelect's end of the deadlines pipe
	done     chan struct{} // closed once the guard has exited and CMD is dead
	code     int           // CMD's exit code (128+N for signal N), once done
	stopped  bool          // the guard stopped CMD (its deadline passed), once done
	stopSeen time.Time     // when the leadership was seen ended before CMD's start was
}

// startGuarded starts the guard, which starts CMD, with env and CMD's first
// deadline already in the pipe, and returns once CMD has started. When stop
// closes first, the guard has --kill-after to say that CMD started (the
// caller then stops CMD within what is left of it, g.stopSeen telling when
// that time began); after that it kills the guard (and so CMD) and returns
// errLeadershipOver.
func (r *runner) startGuarded(env []string, deadline time.Duration, stop <-chan struct{}) (*guarded, error) {
	self := selfExecutable
	if r.a.executable != nil {
		self = r.a.executable
	}
	path, err := self()
	if err != nil {
		return nil, fmt.Errorf("the path of kubelect, to run its guard: %w", err)
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	if _, err := fmt.Fprintf(ctlW, "%d\n", deadline); err != nil { // an empty pipe takes it at once
		ctlR.Close()
		ctlW.Close()
		repR.Close()
		repW.Close()
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Args = append(append(append([]string{"kubelect"}, r.guardArgs...), "--"), r.argv...) // "kubelect guard ..." in ps
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.a.stdin, r.a.stdout, r.a.stderr
	cmd.ExtraFiles = []*os.File{ctlR, repW} // fds 3 and 4
	// A group of its own: a terminal's ^C or a signal to kubelect's group
	// is not for the guard.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// When kubelect's output is not a file, a process CMD left behind may
	// hold the copying pipe open: do not wait on it for more than this
	// once the guard has exited (CMD's group then gets SIGKILL).
	cmd.WaitDelay = 100 * time.Millisecond
	err = r.reap.start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	ctlR.Close()
	repW.Close()
	if err != nil {
		ctlW.Close()
		repR.Close()
		return nil, fmt.Errorf("start %s %s: %w", path, guardCommand, err)
	}
	g := &guarded{guardPid: cmd.Process.Pid, ctl: ctlW, done: make(chan struct{})}
	lines := make(chan string, 2)
	go func() {
		defer close(lines)
		defer repR.Close()
		s := bufio.NewScanner(repR)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	var reported *int // CMD's exit code as the guard reported it
	wait := func() {
		for l := range lines {
			verb, arg, _ := strings.Cut(l, " ")
			if code, err := strconv.Atoi(arg); err == nil && (verb == "exited" || verb == "stopped") {
				reported, g.stopped = &code, verb == "stopped"
			}
		}
		_ = cmd.Wait()
		r.reap.waited()
		ctlW.Close()
	}
	var first string
	select {
	case first = <-lines:
	case <-stop:
		g.stopSeen = r.clock.Now()
		t := r.clock.NewTimer(r.killAfter)
		select {
		case first = <-lines:
			t.Stop()
		case <-t.C():
			_ = syscall.Kill(g.guardPid, syscall.SIGKILL) // CMD, if started, gets its parent-death signal
			wait()
			return nil, errLeadershipOver
		}
	}
	verb, rest, _ := strings.Cut(first, " ")
	switch verb {
	case "started":
		g.pid, err = strconv.Atoi(rest)
		if err == nil && g.pid > 0 {
			break
		}
		_ = syscall.Kill(g.guardPid, syscall.SIGKILL)
		wait()
		return nil, fmt.Errorf("the guard's answer %q", first)
	case "error":
		wait()
		codeS, msg, _ := strings.Cut(rest, " ")
		code, _ := strconv.Atoi(codeS)
		if code == 0 {
			return nil, errLeadershipOver
		}
		return nil, &startError{code: code, msg: msg}
	default:
		wait()
		return nil, fmt.Errorf("the guard exited before starting CMD: %v", cmd.ProcessState)
	}
	go func() {
		wait()
		if reported != nil {
			g.code = *reported
		} else {
			// The guard died without a word (SIGKILL): the kernel sent
			// CMD SIGKILL as it died. CMD is not kubelect's child: wait,
			// within bounds, until it is gone.
			g.code = exitCode(cmd.ProcessState)
			signalGroup(g.pid, syscall.SIGKILL)
			waitGone(g.pid, killReapMargin)
		}
		close(g.done)
	}()
	return g, nil
}

// kill sends sig to CMD's group; SIGKILL goes to the guard too, which
// might be frozen (CMD then dies of its parent-death signal as well).
func (g *guarded) kill(sig syscall.Signal) {
	signalGroup(g.pid, sig)
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(g.guardPid, syscall.SIGKILL)
	}
}

// heartbeat writes CMD's deadline to the guard after each renewal, until
// the guard is done. A write waits only while the guard is frozen with the
// pipe full; it fails once the guard is gone.
func (g *guarded) heartbeat(renewed <-chan struct{}, deadline func() time.Duration) {
	for {
		select {
		case <-g.done:
			return
		case <-renewed:
			_, _ = fmt.Fprintf(g.ctl, "%d\n", deadline())
		}
	}
}

// waitGone waits until process pid has exited (a zombie counts as gone: it
// holds nothing), for at most limit.
func waitGone(pid int, limit time.Duration) {
	for end := time.Now().Add(limit); processAlive(pid) && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}
