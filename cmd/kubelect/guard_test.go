package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubelect/kubelect/internal/fakeclock"
)

// holderOn returns a deadlineHolder on clock, whose shared clock reads the
// fake time since the clock's start.
func holderOn(clock *fakeclock.Clock) deadlineHolder {
	epoch := clock.Now()
	return deadlineHolder{clock: clock, mono: func() time.Duration { return clock.Now().Sub(epoch) }}
}

// holding runs h.hold in the background; its answer arrives on the channel.
func holding(h deadlineHolder, deadline time.Duration, beats <-chan time.Duration, exited <-chan struct{}) <-chan string {
	why := make(chan string, 1)
	go func() { why <- h.hold(deadline, beats, exited) }()
	return why
}

// notYet fails when hold has answered. hold answers only on a timer that
// fired, a beat or CMD's exit, so when none has happened the check cannot
// race.
func notYet(t *testing.T, why <-chan string, when string) {
	t.Helper()
	select {
	case w := <-why:
		t.Fatalf("%s: the guard stopped CMD (%q)", when, w)
	default:
	}
}

func answer(t *testing.T, why <-chan string) string {
	t.Helper()
	select {
	case w := <-why:
		return w
	case <-time.After(30 * time.Second):
		t.Fatal("the guard did not answer")
		return ""
	}
}

// The guard stops CMD at its deadline, not a nanosecond before, when
// kubelect sends nothing (it is frozen or cut off).
func TestGuardStopsAtTheDeadline(t *testing.T) {
	clock := newFakeClock()
	why := holding(holderOn(clock), 10*time.Second, make(chan time.Duration), make(chan struct{}))
	clock.WaitTimer(t, 10*time.Second)
	clock.Advance(10*time.Second - time.Nanosecond)
	notYet(t, why, "a nanosecond before the deadline")
	clock.Advance(time.Nanosecond)
	if w := answer(t, why); !strings.Contains(w, "no renewal") {
		t.Errorf("reason %q", w)
	}
}

// Each deadline from kubelect replaces the one before: a later one (a
// renewal) extends CMD's time, an earlier one (read across a pause of
// kubelect's) shortens it.
func TestGuardTakesEachNewDeadline(t *testing.T) {
	clock := newFakeClock()
	beats := make(chan time.Duration)
	why := holding(holderOn(clock), 10*time.Second, beats, make(chan struct{}))
	clock.WaitTimer(t, 10*time.Second)
	clock.Advance(4 * time.Second)
	beats <- 15 * time.Second // a renewal at 4s: 11s from now
	clock.WaitTimer(t, 11*time.Second)
	clock.Advance(6 * time.Second) // past the first deadline
	notYet(t, why, "at 10s, after a renewal extended the deadline to 15s")
	beats <- 12 * time.Second // earlier than 15s: taken as it is
	clock.WaitTimer(t, 2*time.Second)
	clock.Advance(2*time.Second - time.Nanosecond)
	notYet(t, why, "just before the new deadline")
	clock.Advance(time.Nanosecond)
	answer(t, why)
}

// kubelect gone (its end of the pipe closed, however it died): the guard
// stops CMD at once, without waiting for the deadline.
func TestGuardStopsWhenKubelectIsGone(t *testing.T) {
	clock := newFakeClock()
	beats := make(chan time.Duration)
	why := holding(holderOn(clock), time.Hour, beats, make(chan struct{}))
	clock.WaitTimer(t, time.Hour)
	close(beats)
	if w := answer(t, why); w != "kubelect is gone" {
		t.Errorf("reason %q", w)
	}
}

// CMD's exit ends the hold with nothing to stop.
func TestGuardReturnsWhenCMDExits(t *testing.T) {
	clock := newFakeClock()
	exited := make(chan struct{})
	why := holding(holderOn(clock), time.Hour, make(chan time.Duration), exited)
	close(exited)
	if w := answer(t, why); w != "" {
		t.Errorf("reason %q, want none", w)
	}
}

// The kill path: the stop signal at once, SIGKILL exactly killAfter later
// unless CMD has exited by then.
func TestStopCMD(t *testing.T) {
	for _, exits := range []bool{false, true} {
		clock := newFakeClock()
		sent := make(chan syscall.Signal, 4)
		exited := make(chan struct{})
		killed := make(chan bool, 1)
		go func() {
			killed <- stopCMD(clock, func(s syscall.Signal) { sent <- s }, syscall.SIGINT, 3*time.Second, exited)
		}()
		if s := <-sent; s != syscall.SIGINT {
			t.Fatalf("first signal %v, want SIGINT", s)
		}
		clock.WaitTimer(t, 3*time.Second)
		clock.Advance(3*time.Second - time.Nanosecond)
		select {
		case s := <-sent:
			t.Fatalf("%v before the kill time", s)
		default:
		}
		if exits {
			close(exited)
			if <-killed {
				t.Error("SIGKILL reported for a CMD that exited")
			}
			clock.Advance(time.Nanosecond)
			select {
			case s := <-sent:
				t.Fatalf("%v after CMD exited", s)
			default:
			}
			continue
		}
		clock.Advance(time.Nanosecond)
		if s := <-sent; s != syscall.SIGKILL {
			t.Errorf("second signal %v, want SIGKILL", s)
		}
		if !<-killed {
			t.Error("SIGKILL not reported")
		}
	}
}

// guardProc is a "kubelect guard" process started by the test as kubelect
// run starts it, with the test holding kubelect's ends of the pipes.
type guardProc struct {
	cmd    *exec.Cmd
	ctl    *os.File // deadlines to the guard
	report *bufio.Scanner
	stdout *bufio.Reader // CMD's
	exited chan struct{}
}

func startGuard(t *testing.T, first time.Duration, killAfter time.Duration, script string) *guardProc {
	t.Helper()
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(ctlW, "%d\n", first)
	cmd := exec.Command(os.Args[0], guardCommand, "--kill-after", killAfter.String(), "--", "sh", "-c", script)
	cmd.ExtraFiles = []*os.File{ctlR, repW}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctlR.Close()
	repW.Close()
	g := &guardProc{cmd: cmd, ctl: ctlW, report: bufio.NewScanner(repR), stdout: bufio.NewReader(stdout), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-g.exited
		ctlW.Close()
		repR.Close()
	})
	return g
}

// line returns the guard's next report line ("" at the end).
func (g *guardProc) line(t *testing.T) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		if g.report.Scan() {
			got <- g.report.Text()
		} else {
			got <- ""
		}
	}()
	select {
	case l := <-got:
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no line from the guard")
		return ""
	}
}

// started reads the "started PID" line and returns CMD's pid.
func (g *guardProc) started(t *testing.T) int {
	t.Helper()
	l := g.line(t)
	pid, err := strconv.Atoi(strings.TrimPrefix(l, "started "))
	if err != nil || !strings.HasPrefix(l, "started ") {
		t.Fatalf("guard's first line %q, want started PID", l)
	}
	return pid
}

// ready waits for CMD's "ready" line: its signal handling is set up.
func (g *guardProc) ready(t *testing.T) {
	t.Helper()
	if l, err := g.stdout.ReadString('\n'); l != "ready\n" {
		t.Fatalf("CMD said %q, %v; want ready", l, err)
	}
}

func (g *guardProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-g.exited:
		return exitCode(g.cmd.ProcessState)
	case <-time.After(30 * time.Second):
		t.Fatal("the guard did not exit")
		return 0
	}
}

func waitNotAlive(t *testing.T, pid int) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); processAlive(pid); {
		if time.Now().After(end) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("CMD %d still runs", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const stubborn = `trap '' TERM; echo ready; exec sleep 1000`

// The guard process, as kubelect run starts it: kubelect's pipe closing
// (kubelect killed, or crashed) makes it stop CMD, one that ignores
// SIGTERM with SIGKILL --kill-after later, and say so.
func TestGuardProcessKubelectGone(t *testing.T) {
	g := startGuard(t, monoNow()+time.Hour, 100*time.Millisecond, stubborn)
	pid := g.started(t)
	g.ready(t) // SIGTERM before the trap would kill it
	g.ctl.Close()
	if l := g.line(t); l != "stopped 137" {
		t.Errorf("report %q, want stopped 137", l)
	}
	if c := g.exitCode(t); c != 137 {
		t.Errorf("guard's exit code %d, want CMD's 137", c)
	}
	waitNotAlive(t, pid)
}

// The deadline passes with no word from kubelect (frozen): the guard stops
// CMD, and not before the deadline by the shared clock.
func TestGuardProcessDeadline(t *testing.T) {
	deadline := monoNow() + time.Second
	g := startGuard(t, deadline, 100*time.Millisecond, `trap 'exit 0' TERM; echo ready; sleep 1000 & wait`)
	g.started(t)
	g.ready(t)
	l := g.line(t)
	now := monoNow()
	if l != "stopped 0" {
		t.Errorf("report %q, want stopped 0 (CMD exits 0 at SIGTERM)", l)
	}
	if now < deadline {
		t.Errorf("CMD stopped %v before its deadline", deadline-now)
	}
	g.exitCode(t)
}

// A deadline already past: CMD never starts.
func TestGuardProcessDeadlinePassed(t *testing.T) {
	g := startGuard(t, monoNow()-time.Millisecond, 0, `echo ran`)
	if l := g.line(t); !strings.HasPrefix(l, "error 0 ") {
		t.Errorf("report %q, want error 0", l)
	}
	if c := g.exitCode(t); c != exitError {
		t.Errorf("exit %d", c)
	}
}

// CMD's own exit: reported with its code, which is the guard's too.
func TestGuardProcessCMDExits(t *testing.T) {
	g := startGuard(t, monoNow()+time.Hour, time.Second, `exit 3`)
	g.started(t)
	if l := g.line(t); l != "exited 3" {
		t.Errorf("report %q, want exited 3", l)
	}
	if c := g.exitCode(t); c != 3 {
		t.Errorf("exit %d, want 3", c)
	}
}

// The guard killed (SIGKILL, the OOM killer): the kernel kills CMD with it.
func TestGuardProcessKilledTakesCMD(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	g := startGuard(t, monoNow()+time.Hour, time.Hour, stubborn)
	pid := g.started(t)
	g.ready(t)
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitNotAlive(t, pid)
}
