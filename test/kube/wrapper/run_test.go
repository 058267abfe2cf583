package wrapper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubelect/kubelect/test/kube/chaos"
)

// killAfter is what the candidates pass as --kill-after: below the bound
// that kubelect enforces, 4s×0.99/1.01 − 2s − 250ms = 1.67s, so that a
// leader cut off from the API server has SIGKILLed its CMD about 0.7s before
// the lease it last renewed can run out for the others.
const killAfter = time.Second

// The bounds the takeovers are held to (checked on the children's own
// timestamps), with the slack explained:
var (
	// After a crash the others take the lock when the lease they last saw
	// renewed runs out: at most LeaseDuration after the last renewal
	// reached them, which a follower that polls instead of watching sees
	// up to (1+jitterFactor)·RetryPeriod late; then 1s for the API write,
	// starting CMD and its first line on a loaded 2-core machine.
	takeoverBound = leaseDuration + time.Duration((1+jitterFactor)*float64(retryPeriod)) + time.Second
	// ... and no sooner than the lease runs out: the leader renewed every
	// RetryPeriod, so its last renewal was less than two RetryPeriods
	// (scheduling included) before the crash. A takeover sooner than this
	// would be a takeover of a live lease.
	takeoverFloor = leaseDuration - 2*retryPeriod
	// A release (or a transfer) hands the lock over at once: the others
	// see it on their watch and take it, or, while a watch backs off after
	// a fault (the candidate cut off in the step before), on their next
	// poll, (1+jitterFactor)·RetryPeriod = 1.1s at most. Half a lease
	// proves that nobody waited for an expiry; typical figures are ~100ms.
	handoverBound = leaseDuration / 2
	// After a crash, the successor that watches the lock takes it when the
	// lease it last saw renewed runs out, which is before the crash, after
	// its herd delay (at most 139ms; 35–55ms with the round trips seen on
	// loopback), and starts its CMD through the guard. Issue 17 asks for
	// lease + 150ms (crashGoal), which the summary counts; the assertion
	// allows 100ms more for a loaded machine, so that load alone cannot
	// fail the check.
	crashGoal  = leaseDuration + 150*time.Millisecond
	crashBound = crashGoal + 100*time.Millisecond
	// When kubelect dies alone, its guard sees the pipe close at once:
	// SIGTERM, then SIGKILL killAfter later; 500ms for the kill, the
	// reaping and the test seeing the child's connection close.
	guardKillBound = killAfter + 500*time.Millisecond
	// A cut-off leader stops leading at most RenewDeadline after its last
	// successful renewal, which was before the cut, and SIGKILLs CMD
	// killAfter later; 500ms for the kill, the reaping and the test seeing
	// the child's connection close.
	cutKillBound = renewDeadline + killAfter + 500*time.Millisecond
)

// candidate is one "kubelect run" identity, restarted after each stop, with
// its own way to the API server through a fault proxy.
type candidate struct {
	ident      string
	kubeconfig string
	proxy      *chaos.Proxy
	log        string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's Wait error, once done
	runs int
}

func (c *candidate) running() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// step is one scripted event.
type step struct {
	kind   string // crash, release, cut-blackhole, cut-reset, transfer
	round  int
	at     time.Time // when the test acted
	victim string    // the leader acted on
	kid    string    // its child
	to     string    // transfer: the named candidate
}

type runEnv struct {
	t        *testing.T
	lock     string
	dir      string
	events   string // the children's events file
	stubborn string // while it exists, children ignore SIGTERM
	direct   string // a kubeconfig straight to the API server
	mon      *monitor
	cands    []*candidate
	steps    []step
	rounds   int
	began    time.Time
}

func (r *runEnv) start(c *candidate) {
	t := r.t
	t.Helper()
	args := []string{"run", "--name", r.lock, "-n", cluster.Namespace, "--identity", c.ident,
		"--kubeconfig", c.kubeconfig, "--kill-after", killAfter.String()}
	args = append(args, timingArgs()...)
	args = append(args, "--", childBin, "-events", r.events, "-sock", r.mon.path, "-stubborn", r.stubborn,
		"-lock", filepath.Join(r.dir, "child.lock"))
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== run %d at %s\n", c.runs+1, stamp(time.Now()))
	cmd := exec.Command(kubelectBin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf // files: Wait does not wait for CMD's copy of them
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	c.cmd, c.done, c.err = cmd, make(chan struct{}), nil
	c.runs++
	done := c.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		c.err = err
		close(done)
	}()
}

func (r *runEnv) candidate(ident string) *candidate {
	for _, c := range r.cands {
		if c.ident == ident {
			return c
		}
	}
	return nil
}

// leader waits until exactly one child runs and returns it with its
// kubelect.
func (r *runEnv) leader() (kid, *candidate) {
	r.t.Helper()
	var k kid
	waitFor(r.t, takeoverBound+5*time.Second, "a leader running its child", func() bool {
		live := r.mon.live()
		if len(live) != 1 {
			return false
		}
		k = live[0]
		c := r.candidate(k.ident)
		return k.started && c != nil && c.running()
	})
	return k, r.candidate(k.ident)
}

// successor waits for a child that connected after at.
func (r *runEnv) successor(at time.Time, timeout time.Duration, what string) kid {
	r.t.Helper()
	var k kid
	waitFor(r.t, timeout, what, func() bool {
		after := r.mon.connectedAfter(at)
		if len(after) == 0 {
			return false
		}
		k = after[0]
		return true
	})
	return k
}

func (r *runEnv) waitExit(c *candidate, timeout time.Duration) {
	r.t.Helper()
	waitFor(r.t, timeout, "kubelect "+c.ident+" to exit", func() bool { return !c.running() })
}

func (r *runEnv) waitDead(id string) {
	r.t.Helper()
	waitFor(r.t, 10*time.Second, "child "+id+" to die", func() bool {
		k, ok := r.mon.get(id)
		return ok && !k.end.IsZero()
	})
}

// crash SIGKILLs the leader's kubelect and its child's process group, back
// to back, as a node dying would: no release, no SIGTERM. kubelect goes
// first so that it cannot see its child die and release the lock. Once
// another leads, the candidate is started again.
func (r *runEnv) crash(round int) {
	k, c := r.leader()
	at := time.Now()
	if err := syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	// ESRCH means the guard saw kubelect die and stopped the group first,
	// which is the wrapper's promise at work, not a failure.
	if err := syscall.Kill(-k.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		r.t.Fatalf("SIGKILL child group %d: %v", k.pid, err)
	}
	r.steps = append(r.steps, step{kind: "crash", round: round, at: at, victim: c.ident, kid: k.id})
	r.waitExit(c, 5*time.Second)
	r.successor(at, takeoverBound+5*time.Second, "a new leader after crashing "+c.ident)
	r.start(c)
}

// release SIGTERMs the leader's kubelect: it stops its child, releases the
// lock and exits 0 (the child's exit code). Once another leads, the
// candidate is started again.
func (r *runEnv) release(round int) {
	k, c := r.leader()
	at := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	r.steps = append(r.steps, step{kind: "release", round: round, at: at, victim: c.ident, kid: k.id})
	r.waitExit(c, killAfter+5*time.Second)
	if c.err != nil {
		r.t.Errorf("kubelect %s after SIGTERM: %v, want exit 0 (its child exits 0 on SIGTERM)", c.ident, c.err)
	}
	r.successor(at, handoverBound+5*time.Second, "a new leader after "+c.ident+" released")
	r.start(c)
}

// cut puts the leader's proxy in mode while its child ignores SIGTERM;
// once another leads and the cut-off child is dead, it heals.
func (r *runEnv) cut(round int, mode chaos.Mode) {
	if err := os.WriteFile(r.stubborn, nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
	k, c := r.leader()
	at := time.Now()
	c.proxy.SetMode(mode)
	r.steps = append(r.steps, step{kind: "cut-" + mode.String(), round: round, at: at, victim: c.ident, kid: k.id})
	r.successor(at, takeoverBound+5*time.Second, "a new leader after cutting "+c.ident+" off")
	r.waitDead(k.id)
	c.proxy.SetMode(chaos.Pass)
	if err := os.Remove(r.stubborn); err != nil {
		r.t.Fatal(err)
	}
	if !c.running() {
		r.t.Errorf("kubelect %s exited after being cut off (%v); it should stand again", c.ident, c.err)
		r.start(c)
	}
}

// transfer asks, with "kubelect transfer", for the lock to go to a
// candidate that does not lead.
func (r *runEnv) transfer(round int) {
	k, c := r.leader()
	var to *candidate
	for i := range r.cands {
		if o := r.cands[(round+i)%len(r.cands)]; o != c {
			to = o
			break
		}
	}
	args := []string{"transfer", "--name", r.lock, "-n", cluster.Namespace, "--to", to.ident,
		"--kubeconfig", r.direct, "--timeout", "10s"}
	args = append(args, timingArgs()...)
	at := time.Now()
	cmd := exec.Command(kubelectBin, args...)
	r.steps = append(r.steps, step{kind: "transfer", round: round, at: at, victim: c.ident, kid: k.id, to: to.ident})
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("kubelect transfer --to %s: %v\n%s", to.ident, err, out)
	}
	r.successor(at, handoverBound+5*time.Second, "a new leader after the transfer to "+to.ident)
}

// newRunEnv makes three candidates a, b and c for "kubelect run" on the
// Lease lock, each behind its own fault proxy, stopped at the end of the
// test.
func newRunEnv(t *testing.T, lock string, rounds int) *runEnv {
	c := need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := c.NewToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &runEnv{t: t, lock: lock, dir: dir, events: filepath.Join(dir, "events"),
		stubborn: filepath.Join(dir, "stubborn"), mon: newMonitor(t), rounds: rounds}
	r.direct = writeKubeconfig(t, dir, "direct", c.Host, c.CAFile, token, c.Namespace)
	for _, ident := range []string{"a", "b", "c"} {
		p, err := chaos.NewProxy(c.Host, c.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		r.cands = append(r.cands, &candidate{ident: ident, proxy: p, log: filepath.Join(dir, ident+".log"),
			kubeconfig: writeKubeconfig(t, dir, ident, p.URL(), "", token, c.Namespace)})
	}
	t.Cleanup(func() {
		r.stopAll()
		if t.Failed() {
			for _, cd := range r.cands {
				t.Logf("--- %s (tail) ---\n%s", cd.log, tail(cd.log, 3000))
			}
			t.Logf("--- events (tail) ---\n%s", tail(r.events, 3000))
		}
	})
	r.began = time.Now()
	for _, cd := range r.cands {
		r.start(cd)
	}
	return r
}

// stopAll SIGTERMs every running kubelect and waits for it to exit.
func (r *runEnv) stopAll() {
	for _, cd := range r.cands {
		if cd.running() {
			_ = cd.cmd.Process.Signal(syscall.SIGCONT) // in case a step left it stopped
			_ = cd.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, cd := range r.cands {
		if cd.done != nil && !poll(killAfter+5*time.Second, func() bool { return !cd.running() }) {
			_ = cd.cmd.Process.Kill()
			<-cd.done
		}
	}
}

// finish stops the candidates once a leader runs its child, and checks the
// whole run.
func (r *runEnv) finish() {
	t := r.t
	r.leader() // the last step's leader is up
	scriptEnd := time.Now()
	r.stopAll()
	for _, cd := range r.cands {
		if cd.err != nil {
			t.Errorf("kubelect %s exited with %v after SIGTERM, want 0", cd.ident, cd.err)
		}
	}
	waitFor(t, 5*time.Second, "every child to die", func() bool { return len(r.mon.live()) == 0 })

	text, err := os.ReadFile(r.events)
	if err != nil {
		t.Fatal(err)
	}
	children, err := parseEvents(string(text))
	if err != nil {
		t.Fatal(err)
	}
	deaths := map[string]time.Time{}
	for _, k := range r.mon.connectedAfter(time.Time{}) {
		deaths[k.id] = k.end
	}
	if err := joinDeaths(children, deaths); err != nil {
		t.Fatal(err)
	}
	r.check(children, scriptEnd, time.Since(r.began))
}

// TestRunRounds runs three "kubelect run" candidates on one Lease through
// rounds of crashes, releases, cut-offs and transfers, and checks from the
// children's own lines that no two ran at once and that each takeover came
// within its bound.
func TestRunRounds(t *testing.T) {
	const rounds = 3
	r := newRunEnv(t, "wrapper-run", rounds)
	for round := 1; round <= rounds; round++ {
		r.crash(round)
		r.release(round)
		mode := chaos.Blackhole
		if round%2 == 0 {
			mode = chaos.Reset
		}
		r.cut(round, mode)
		r.transfer(round)
	}
	r.finish()
}

// check asserts what the rounds must show and logs the summary.
func (r *runEnv) check(children []*child, scriptEnd time.Time, took time.Duration) {
	t := r.t
	over := overlaps(children)
	if len(over) > 0 {
		t.Errorf("%d children ran at once with another:%s", len(over), lines(over))
	}
	for i := 1; i < len(children); i++ {
		if children[i].term <= children[i-1].term {
			t.Errorf("%s started after %s with a term that did not grow", children[i], children[i-1])
		}
	}
	scripted := 0
	for _, c := range children {
		if c.start.Before(scriptEnd) {
			scripted++
		}
		if c.orphaned {
			t.Errorf("%s was orphaned: its guard died without taking it along", c)
		}
		if c.lockBusy {
			t.Errorf("%s found the children's flock held: another child was alive when it started (the kernel's view)", c)
		}
	}
	if want := 1 + len(r.steps); scripted != want {
		var ids []string
		for _, c := range children {
			ids = append(ids, fmt.Sprintf("%s start %s end %s", c, stamp(c.start), stamp(c.end)))
		}
		t.Errorf("%d children started during the script, want %d (the first, then one per step): a leadership ended unprovoked?%s",
			scripted, want, lines(ids))
	}
	byID := map[string]*child{}
	for _, c := range children {
		byID[c.id] = c
	}
	type figures struct {
		steps, overlaps int
		overGoal        int             // crash-like takeovers later than crashGoal
		takeover, death []time.Duration // after the step: the successor's start, the victim's death
	}
	byKind := map[string]*figures{}
	var kinds []string
	for i, s := range r.steps {
		f := byKind[s.kind]
		if f == nil {
			f = &figures{}
			byKind[s.kind] = f
			kinds = append(kinds, s.kind)
		}
		f.steps++
		// The successor: the first child to start after the step, other
		// than the one acted on (which the test saw write its start line
		// before acting).
		var next *child
		for _, c := range children {
			if c.start.After(s.at) && c.id != s.kid {
				next = c
				break
			}
		}
		victim := byID[s.kid]
		if next == nil || victim == nil {
			t.Errorf("step %d (%s of %s, round %d): no child after it, or its victim %s not in the events", i, s.kind, s.victim, s.round, s.kid)
			continue
		}
		d, death := next.start.Sub(s.at), victim.end.Sub(s.at)
		f.takeover = append(f.takeover, d)
		f.death = append(f.death, death)
		if !next.start.After(victim.end) || next.lockBusy {
			f.overlaps++
		}
		label := fmt.Sprintf("round %d %s of %s: %s took over after %v, %s dead after %v", s.round, s.kind, s.victim, next,
			d.Round(time.Millisecond), victim, death.Round(time.Millisecond))
		if next.ident == s.victim {
			t.Errorf("%s: the victim led again", label)
		}
		if i+1 < len(r.steps) && !next.start.Before(r.steps[i+1].at) {
			t.Errorf("%s: after the next step began", label)
		}
		e := expectations[strings.TrimPrefix(strings.TrimPrefix(s.kind, "cut-"), "stop-guard-")]
		floor := time.Duration(0)
		if e.bound != handoverBound {
			floor = takeoverFloor // a lease ran out
		}
		if d > e.bound || d < floor {
			t.Errorf("%s: want within [%v, %v]", label, floor, e.bound)
		}
		if e.bound == crashBound && d > crashGoal {
			f.overGoal++
		}
		if e.deathBound > 0 && death > e.deathBound {
			t.Errorf("%s: its child died %v after the step, want within %v", label, death.Round(time.Millisecond), e.deathBound)
		}
		switch {
		case e.stubborn && (victim.termIgnored == 0 || !victim.stop.IsZero()):
			t.Errorf("%s: the child %s ignored %d SIGTERMs and stop line %v: want SIGTERM ignored, then SIGKILL",
				label, victim, victim.termIgnored, !victim.stop.IsZero())
		case e.stops && victim.stop.IsZero():
			t.Errorf("%s: the child %s wrote no stop line: it did not get SIGTERM", label, victim)
		case e.killed && !victim.stop.IsZero():
			t.Errorf("%s: the child %s wrote a stop line; it was SIGKILLed", label, victim)
		}
		if s.kind == "transfer" && next.ident != s.to {
			t.Errorf("%s: want %s, named by the transfer", label, s.to)
		}
		t.Logf("%s", label)
	}
	runs := 0
	for _, c := range r.cands {
		runs += c.runs
	}
	var sum []string
	for _, k := range kinds {
		f := byKind[k]
		line := fmt.Sprintf("%s: %d, overlaps %d, takeover min/p50/max %s, victim's child dead after %s",
			k, f.steps, f.overlaps, durations(f.takeover), durations(f.death))
		if expectations[k].bound == crashBound {
			line += fmt.Sprintf(", takeovers over lease+150ms %d", f.overGoal)
		}
		sum = append(sum, line)
	}
	t.Logf("SUMMARY kubelect run: %d rounds in %v, %d kubelect processes, %d child runs, overlapping child intervals %d;%s",
		r.rounds, took.Round(time.Second), runs, len(children), len(over), lines(sum))
}

// expectation is what a kind of step must show.
type expectation struct {
	bound      time.Duration // the successor starts within this of the step
	deathBound time.Duration // the victim's child is dead within this of the step (0: not checked)
	stubborn   bool          // the child ignored SIGTERM, and died of SIGKILL
	stops      bool          // the child got SIGTERM and stopped
	killed     bool          // the child was SIGKILLed without SIGTERM
}

// expectations by step kind ("cut-" and "stop-guard-" prefixes removed).
var expectations = map[string]expectation{
	// SIGKILL to kubelect and CMD's group, as a node dying.
	"crash": {bound: crashBound, killed: true},
	// SIGTERM to kubelect: CMD stopped, the lock released.
	"release": {bound: handoverBound, stops: true},
	// The leader's proxy in blackhole or reset mode.
	"blackhole": {bound: takeoverBound, deathBound: cutKillBound, stubborn: true},
	"reset":     {bound: takeoverBound, deathBound: cutKillBound, stubborn: true},
	"transfer":  {bound: handoverBound},
	// SIGKILL to kubelect alone, or kubelect's panic: its guard stops CMD
	// at once (SIGTERM, ignored; SIGKILL --kill-after later).
	"kill-kubelect":  {bound: crashBound, deathBound: guardKillBound, stubborn: true},
	"panic-kubelect": {bound: crashBound, deathBound: guardKillBound, stubborn: true},
	// SIGSTOP to kubelect alone, for longer than the lease: its guard
	// stops CMD at the deadline kubelect last gave it.
	"stop-kubelect": {bound: crashBound, deathBound: cutKillBound, stubborn: true},
	// SIGKILL to the guard alone: the kernel kills CMD (the parent-death
	// signal); kubelect sees it die, releases the lock and exits.
	"kill-guard": {bound: handoverBound, deathBound: 500 * time.Millisecond, killed: true},
	// "stop-guard-cut": the guard frozen and kubelect cut off: kubelect
	// alone stops CMD at its renew deadline, and kills the guard.
	"cut": {bound: takeoverBound, deathBound: cutKillBound, stubborn: true},
}
