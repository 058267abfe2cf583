package wrapper

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/chaos"
)

// faultRounds is how many rounds of each fault TestRunKubelectFaults runs:
// issue 17 asks for at least 10. KUBELECT_WRAPPER_ROUNDS overrides it for
// a quick local run.
func faultRounds(t *testing.T) int {
	if s := os.Getenv("KUBELECT_WRAPPER_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KUBELECT_WRAPPER_ROUNDS=%q", s)
		}
		return n
	}
	return 10
}

// TestRunKubelectFaults strikes kubelect itself, and its guard, while the
// leader's CMD (a child that ignores SIGTERM) runs: kubelect SIGKILLed
// alone, kubelect panicking, kubelect SIGSTOPped for longer than the lease,
// the guard SIGKILLed, and the guard SIGSTOPped while kubelect is cut off
// from the API server. In every round no two children may run at once (by
// their start lines and deaths, and by the flock only one live child can
// hold), and the takeovers and kills come within their bounds.
func TestRunKubelectFaults(t *testing.T) {
	rounds := faultRounds(t)
	r := newRunEnv(t, "wrapper-faults", rounds)
	for round := 1; round <= rounds; round++ {
		r.killKubelect(round, "kill-kubelect", syscall.SIGKILL)
		r.killKubelect(round, "panic-kubelect", syscall.SIGUSR1) // the test hook's panic
		r.stopKubelect(round)
		r.killGuard(round)
		r.stopGuardAndCut(round)
	}
	r.finish()
}

// stubbornChildren makes the children ignore SIGTERM while on.
func (r *runEnv) stubbornChildren(on bool) {
	var err error
	if on {
		err = os.WriteFile(r.stubborn, nil, 0o644)
	} else {
		err = os.Remove(r.stubborn)
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

// guardOf returns the pid of the child's parent: kubelect's guard.
func (r *runEnv) guardOf(k kid) int {
	r.t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(k.pid) + "/stat")
	if err != nil {
		r.t.Fatal(err)
	}
	// pid (comm) state ppid ...
	f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil || ppid <= 1 {
		r.t.Fatalf("child %s: parent %q in %q", k.id, f[1], b)
	}
	return ppid
}

func (r *runEnv) signal(pid int, sig syscall.Signal) {
	r.t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		r.t.Fatalf("kill(%d, %v): %v", pid, sig, err)
	}
}

// exitedWith checks how kubelect c ended: with exit code code, or killed by
// signal sig (code < 0).
func (r *runEnv) exitedWith(c *candidate, code int, sig syscall.Signal) {
	r.t.Helper()
	var ee *exec.ExitError
	if !errors.As(c.err, &ee) {
		r.t.Errorf("kubelect %s: %v, want exit code %d or signal %v", c.ident, c.err, code, sig)
		return
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if code >= 0 && ws.ExitStatus() != code || code < 0 && ws.Signal() != sig {
		r.t.Errorf("kubelect %s ended with %v, want exit code %d or signal %v", c.ident, c.err, code, sig)
	}
}

// killKubelect sends sig to the leader's kubelect alone (SIGKILL, or
// SIGUSR1 for the test hook's panic): its guard must stop CMD at once and
// the lease run out before another leads. Once another leads, the candidate
// is started again.
func (r *runEnv) killKubelect(round int, kind string, sig syscall.Signal) {
	r.stubbornChildren(true)
	k, c := r.leader()
	at := time.Now()
	r.signal(c.cmd.Process.Pid, sig)
	r.steps = append(r.steps, step{kind: kind, round: round, at: at, victim: c.ident, kid: k.id})
	r.waitExit(c, 10*time.Second)
	if sig == syscall.SIGKILL {
		r.exitedWith(c, -1, sig)
	} else {
		r.exitedWith(c, 2, 0) // Go's exit code for an unrecovered panic
	}
	r.successor(at, crashBound+5*time.Second, "a new leader after "+kind+" of "+c.ident)
	r.waitDead(k.id)
	r.stubbornChildren(false)
	r.start(c)
}

// stopKubelect SIGSTOPs the leader's kubelect for a lease and a second:
// its guard must stop CMD by the deadline of the last renewal. After
// SIGCONT, kubelect stands again.
func (r *runEnv) stopKubelect(round int) {
	r.stubbornChildren(true)
	k, c := r.leader()
	at := time.Now()
	r.signal(c.cmd.Process.Pid, syscall.SIGSTOP)
	r.steps = append(r.steps, step{kind: "stop-kubelect", round: round, at: at, victim: c.ident, kid: k.id})
	r.successor(at, crashBound+5*time.Second, "a new leader after stopping "+c.ident)
	r.waitDead(k.id)
	time.Sleep(time.Until(at.Add(leaseDuration + time.Second))) // the fault's length, not a condition
	r.signal(c.cmd.Process.Pid, syscall.SIGCONT)
	r.stubbornChildren(false)
	if !c.running() {
		r.t.Errorf("kubelect %s exited after SIGSTOP and SIGCONT (%v); it should stand again", c.ident, c.err)
		r.start(c)
	}
}

// killGuard SIGKILLs the leader's guard: the kernel kills CMD with it (the
// parent-death signal); kubelect sees CMD dead, releases the lock and exits
// with CMD's 137. Once another leads, the candidate is started again.
func (r *runEnv) killGuard(round int) {
	r.stubbornChildren(true)
	k, c := r.leader()
	guard := r.guardOf(k)
	at := time.Now()
	r.signal(guard, syscall.SIGKILL)
	r.steps = append(r.steps, step{kind: "kill-guard", round: round, at: at, victim: c.ident, kid: k.id})
	r.waitExit(c, 10*time.Second)
	r.exitedWith(c, 128+int(syscall.SIGKILL), 0)
	r.successor(at, handoverBound+5*time.Second, "a new leader after killing "+c.ident+"'s guard")
	r.waitDead(k.id)
	r.stubbornChildren(false)
	r.start(c)
}

// stopGuardAndCut SIGSTOPs the leader's guard and cuts kubelect off from
// the API server: kubelect alone must stop CMD by its renew deadline and
// kill the frozen guard. Once another leads and the child is dead, the
// proxy heals, and kubelect stands again.
func (r *runEnv) stopGuardAndCut(round int) {
	r.stubbornChildren(true)
	k, c := r.leader()
	guard := r.guardOf(k)
	at := time.Now()
	r.signal(guard, syscall.SIGSTOP)
	c.proxy.SetMode(chaos.Blackhole)
	r.steps = append(r.steps, step{kind: "stop-guard-cut", round: round, at: at, victim: c.ident, kid: k.id})
	r.successor(at, takeoverBound+5*time.Second, "a new leader after stopping "+c.ident+"'s guard and cutting it off")
	r.waitDead(k.id)
	c.proxy.SetMode(chaos.Pass)
	_ = syscall.Kill(guard, syscall.SIGCONT) // kubelect should have killed it
	r.stubbornChildren(false)
	if !c.running() {
		r.t.Errorf("kubelect %s exited after its guard froze and it was cut off (%v); it should stand again", c.ident, c.err)
		r.start(c)
	}
}
