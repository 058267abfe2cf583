package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/benchcand"
	"github.com/kubelect/kubelect/test/kube/harness"
)

// procImpl is an implementation whose candidates run as processes: the
// binary built from cmd/<pkg>.
type procImpl struct {
	name, short, pkg string
	bin              string // set by buildCandidates
}

var procImpls = []*procImpl{
	{name: "kubelect", short: "kubelect", pkg: "candidate-kubelect"},
	{name: "client-go v0.37.2", short: "clientgo", pkg: "candidate-clientgo"},
}

// floorImpl is cold start's floor: a bare net/http program that takes a
// free or released Lease with a GET and a POST or PUT, no library.
var floorImpl = &procImpl{name: "floor: net/http alone", short: "floor", pkg: "candidate-floor"}

// buildCandidates builds the candidate programs into dir, as go build
// does by default (what a user's program would be).
func buildCandidates(dir string) error {
	for _, im := range append(procImpls, floorImpl) {
		im.bin = filepath.Join(dir, im.pkg)
		cmd := exec.Command("go", "build", "-o", im.bin, "./cmd/"+im.pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", im.pkg, err)
		}
	}
	return nil
}

// leadEvent is a candidate's "lead" line (or "stop" line, stop set):
// which candidate, and when it ran OnStartedLeading (or its leadership
// ended) by its own clock (the machine's CLOCK_REALTIME).
type leadEvent struct {
	who  int
	at   int64
	stop bool
}

// proc is one candidate process.
type proc struct {
	cmd   *exec.Cmd
	exit  chan struct{} // closed when the process has exited and its output is read
	trace string        // the trace line's JSON, with -once
	err   error         // from Wait
	cpu   time.Duration // user + sys CPU time, once it has exited
}

// procEnv is the environment of every candidate: the pod-like variables.
func procEnv(cl *harness.Cluster) []string {
	env := os.Environ()
	for k, v := range cl.Env() {
		env = append(env, k+"="+v)
	}
	return env
}

// spawn starts a candidate; its lead lines go to leads, tagged who. The
// parent's clock reading just before the exec goes in LEADERBENCH_T0
// (and is returned).
func spawn(im *procImpl, env []string, stderr *os.File, leads chan<- leadEvent, who int, args ...string) (*proc, int64, error) {
	cmd := exec.Command(im.bin, args...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // they die with leaderbench
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	p := &proc{cmd: cmd, exit: make(chan struct{})}
	t0 := time.Now().UnixNano()
	cmd.Env = append(env, benchcand.T0Env+"="+strconv.FormatInt(t0, 10))
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	go func() {
		defer close(p.exit)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			kind, rest, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "lead", "stop":
				if at, err := strconv.ParseInt(rest, 10, 64); err == nil && leads != nil {
					leads <- leadEvent{who, at, kind == "stop"}
				}
			case "trace":
				p.trace = rest
			}
		}
		p.err = cmd.Wait()
		if ps := cmd.ProcessState; ps != nil {
			p.cpu = ps.UserTime() + ps.SystemTime()
		}
	}()
	return p, t0, nil
}

// kill sends SIGKILL (a no-op if it has exited).
func (p *proc) kill() { _ = p.cmd.Process.Kill() }

// wait waits for the process to exit, at most d.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.exit:
		return p.err
	case <-time.After(d):
		p.kill()
		<-p.exit
		return errors.New("leaderbench: candidate did not exit in time")
	}
}

// fleetProcs is n candidates of im on the Lease name.
type fleetProcs struct {
	procs []*proc
	leads chan leadEvent
}

func startFleet(im *procImpl, env []string, stderr *os.File, s settings, name string, n int) (*fleetProcs, error) {
	f := &fleetProcs{leads: make(chan leadEvent, 16*n)}
	for i := 0; i < n; i++ {
		p, _, err := spawn(im, env, stderr, f.leads, i, "-sa-dir", saDir, "-name", name, "-id", fmt.Sprintf("%s-%c", name, 'a'+i),
			"-lease", s.lease.String(), "-renew", s.renew.String(), "-retry", s.retry.String())
		if err != nil {
			f.killAll()
			return nil, err
		}
		f.procs = append(f.procs, p)
	}
	return f, nil
}

// killAll kills every candidate and waits for them.
func (f *fleetProcs) killAll() {
	var wg sync.WaitGroup
	for _, p := range f.procs {
		p.kill()
		wg.Add(1)
		go func() { defer wg.Done(); <-p.exit }()
	}
	wg.Wait()
}

// next waits for the next lead line, at most d, skipping stop lines.
func (f *fleetProcs) next(d time.Duration) (leadEvent, error) {
	deadline := time.After(d)
	for {
		select {
		case ev := <-f.leads:
			if ev.stop {
				continue
			}
			return ev, nil
		case <-deadline:
			return leadEvent{}, errors.New("leaderbench: no leader in time")
		}
	}
}

// saDir is the harness's service-account directory, set by the runs.
var saDir string
