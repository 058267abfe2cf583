package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// The two implementations.
const (
	Kubelect = "kubelect"
	ClientGo = "client-go"
)

// Lock kinds.
const (
	Leases     = "leases"
	Endpoints  = "endpoints"
	ConfigMaps = "configmaps"
)

// Timing is the election's durations, the same for both implementations.
type Timing struct{ Lease, Renew, Retry, RequestTimeout time.Duration }

// DefaultTiming is the real tier's short setting: 4s / 2s / 0.5s.
var DefaultTiming = Timing{Lease: 4 * time.Second, Renew: 2 * time.Second, Retry: 500 * time.Millisecond}

// requestTimeout is the elector's RequestTimeout with this timing (the
// library's default when zero).
func (t Timing) requestTimeout() time.Duration {
	if t.RequestTimeout > 0 {
		return t.RequestTimeout
	}
	rt := max(time.Second, t.Renew/2)
	if rt >= t.Renew {
		rt = t.Renew / 2
	}
	return rt
}

// Campaign runs rounds of fault scenarios against a cluster.
type Campaign struct {
	Cluster *harness.Cluster
	// Binary is the chaoscandidate program.
	Binary string
	// Dir receives one subdirectory of logs per round.
	Dir    string
	Timing Timing
	// Candidates is the number of processes per round. Default 3.
	Candidates int
	// FaultFor is how long a timed fault lasts. Default 1.5 leases.
	FaultFor time.Duration
	// MaxRate is the most requests per second a kubelect candidate may send
	// during a fault. Default 10.
	MaxRate float64
	// Logf receives progress lines. Nil: none.
	Logf func(format string, args ...any)

	seq int
}

// Bound is the longest acceptable time from a fault's heal to a stable
// leader: a lease, a renew deadline and 2s (whole-second annotation
// records, process start).
func (t Timing) Bound() time.Duration { return t.Lease + t.Renew + 2*time.Second }

// Result is one round's outcome.
type Result struct {
	Scenario, Kind, Impl, Lock string
	// Dir holds the round's logs.
	Dir      string
	Findings Findings
	// Store is what the fenced store (a fencing.Checker) decided: writes
	// accepted and refused, and those its ground truth condemns.
	Store StoreCounts
	// Requests per second counted by the proxies during the fault window:
	// the faulted candidate's (-1 when the fault hits all or none), the
	// most of any other, and the most of any before the fault.
	TargetRate, OtherRate, BaseRate float64
	// FaultFor is how long the fault lasted.
	FaultFor time.Duration
	// Violations are the invariant failures (checked for both
	// implementations; asserted for kubelect only).
	Violations []string
	// SlowServer is the longest kube-apiserver took to answer a request
	// outside the fault (the proxies' measure, without injected delays).
	SlowServer time.Duration
	// Excused are liveness failures (a healthy leader stepping down, no
	// leader in time) in a round where kube-apiserver itself took longer
	// than RequestTimeout to answer outside the fault: a loaded machine,
	// not the elector. Safety failures are never excused.
	Excused []string
	// Err is set when the round could not run.
	Err error
}

// Run is one round to run.
type Run struct {
	Scenario   Scenario
	Impl, Lock string
}

// Round runs one round and checks it.
func (c *Campaign) Round(ctx context.Context, run Run) *Result {
	if c.Candidates == 0 {
		c.Candidates = 3
	}
	if c.FaultFor == 0 {
		c.FaultFor = c.Timing.Lease * 3 / 2
	}
	if c.MaxRate == 0 {
		c.MaxRate = 10
	}
	c.seq++
	name := fmt.Sprintf("chaos-%d-%03d-%s", time.Now().Unix()%100000, c.seq, run.Scenario.Name)
	res := &Result{Scenario: run.Scenario.Name, Kind: run.Scenario.Kind, Impl: run.Impl, Lock: run.Lock,
		Dir: filepath.Join(c.Dir, name), TargetRate: -1}
	r := &round{c: c, run: run, name: name, dir: res.Dir, live: map[string]*proc{}, timing: c.Timing, faultFor: c.FaultFor}
	if t := run.Scenario.Timing; t != nil {
		r.timing, r.faultFor = *t, t.Lease*3/2
	}
	if err := r.do(ctx, res); err != nil {
		res.Err = err
		msg := "round failed: " + err.Error()
		if errors.Is(err, errNoLeader) && r.slow() {
			res.Excused = append(res.Excused, msg)
		} else {
			res.Violations = append(res.Violations, msg)
		}
	}
	return res
}

// errNoLeader is a round that found no leader to fault.
var errNoLeader = errors.New("no leader")

// slow says kube-apiserver took longer than RequestTimeout to answer
// some request outside the fault.
func (r *round) slow() bool { return r.slowest >= r.timing.requestTimeout() }

// round is the state of one round.
type round struct {
	c                *Campaign
	run              Run
	name, dir        string
	store            *Store
	procs            []*proc          // every process started
	live             map[string]*proc // the current process of each identity
	target           *proc
	started          time.Time // when the first candidate started
	slowest          time.Duration
	faultStart, heal time.Time
	timing           Timing        // the election's durations in this round
	faultFor         time.Duration // how long a timed fault lasts
}

// proc is a candidate process.
type proc struct {
	Proc
	cmd    *exec.Cmd
	proxy  *Proxy
	done   chan struct{}
	dead   bool // killed or exited, as the campaign knows it
	paused bool
}

func (c *Campaign) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

func (r *round) do(ctx context.Context, res *Result) (err error) {
	c := r.c
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if r.store, err = NewStore(); err != nil {
		return err
	}
	defer r.store.Close()
	defer func() {
		for _, p := range r.procs {
			if p.proxy != nil && r.live[p.ID] == p {
				p.proxy.Close()
			}
		}
	}()
	defer r.stopAll()
	r.started = time.Now()
	for i := 0; i < c.Candidates; i++ {
		proxy, err := NewProxy(c.Cluster.Host, c.Cluster.CAFile)
		if err != nil {
			return err
		}
		if _, err := r.start(fmt.Sprintf("%s-%c", r.name, 'a'+i), 0, proxy); err != nil {
			proxy.Close()
			return err
		}
	}
	if _, ok := r.waitLeader(30 * time.Second); !ok {
		r.end(res, time.Now())
		return fmt.Errorf("%w within 30s of the start", errNoLeader)
	}
	time.Sleep(2 * time.Second) // the pre-fault window: a healthy leader stays
	leader, ok := r.waitLeader(r.timing.Lease + r.timing.Renew)
	if !ok {
		r.end(res, time.Now())
		return fmt.Errorf("%w before the fault", errNoLeader)
	}
	if r.run.Scenario.Target {
		r.target = leader
	}
	c.logf("%s: %s on %s, %s leads; injecting %s", r.name, r.run.Impl, r.run.Lock, leader.ID, r.run.Scenario.Name)
	r.faultStart = time.Now()
	if err := r.run.Scenario.inject(ctx, r, leader); err != nil {
		r.end(res, time.Now())
		return fmt.Errorf("inject %s: %w", r.run.Scenario.Name, err)
	}
	if r.heal.IsZero() {
		r.heal = time.Now()
	}
	// Observe until a leader has held for 3s, or the bound is well past
	// (without a bound: for a lease and a renew deadline).
	deadline := r.heal.Add(r.timing.Bound() + 3*time.Second)
	if r.run.Scenario.Unbounded != "" {
		deadline = r.heal.Add(r.timing.Lease + r.timing.Renew)
	}
	var since time.Time
	for time.Now().Before(deadline) {
		if _, ok := r.leader(); ok {
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) >= 3*time.Second {
				break
			}
		} else {
			since = time.Time{}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.end(res, time.Now())
	return nil
}

// end stops the candidates and checks the round.
func (r *round) end(res *Result, end time.Time) {
	c := r.c
	r.stopAll()
	if r.faultStart.IsZero() {
		r.faultStart, r.heal = end, end
	}
	res.FaultFor = r.heal.Sub(r.faultStart)
	facts := Facts{FaultStart: r.faultStart, Heal: r.heal, End: end, Bound: r.timing.Bound(),
		Provoked: r.timing.Lease + r.timing.Renew}
	for _, p := range r.procs {
		evs, err := ReadEventFile(p.Log + ".events")
		if err != nil {
			res.Violations = append(res.Violations, err.Error())
		}
		p.Events = evs
		facts.Procs = append(facts.Procs, &p.Proc)
		if p == r.target {
			facts.Target = &p.Proc
		}
	}
	res.Findings = Check(facts)
	res.Store = r.store.Counts()

	// Request rates from the proxies (one per identity).
	from, to := r.faultStart, r.heal
	if to.Sub(from) < r.timing.Lease {
		to = from.Add(r.timing.Lease + r.timing.Renew) // an instant fault: its aftermath
	}
	to = earlier(to, end)
	seen := map[*Proxy]bool{}
	for _, p := range r.procs {
		if seen[p.proxy] {
			continue
		}
		seen[p.proxy] = true
		rate := rateIn(p.proxy, from, to)
		base := rateIn(p.proxy, r.faultStart.Add(-2*time.Second), r.faultStart)
		res.BaseRate = max(res.BaseRate, base)
		if r.target != nil && p.ID == r.target.ID {
			res.TargetRate = rate
		} else {
			res.OtherRate = max(res.OtherRate, rate)
		}
		if rate > c.MaxRate {
			res.Violations = append(res.Violations, fmt.Sprintf("%s sent %.1f requests/s during the fault (bound %.0f)", p.ID, rate, c.MaxRate))
		}
	}
	bound := r.timing.Bound()
	if r.run.Scenario.Unbounded != "" {
		bound = 0
	}
	// How slow kube-apiserver itself was outside the fault.
	for p := range seen {
		r.slowest = max(r.slowest, p.SlowestAnswer(r.started, r.faultStart), p.SlowestAnswer(r.heal.Add(time.Second), end))
	}
	res.SlowServer = r.slowest
	res.Violations = append(res.Violations, res.Findings.Safety()...)
	if live := res.Findings.Liveness(bound); r.slow() {
		res.Excused = append(res.Excused, live...)
	} else {
		res.Violations = append(res.Violations, live...)
	}
	st := res.Store
	if len(st.Stale) > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d stale writes accepted by the fenced store; the first: %s, whose leadership began later and had written",
			len(st.Stale), st.Stale[0]))
	}
	if len(st.Misfenced) > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d writes refused by the fenced store with no later leadership to explain it (a token out of order); the first: %s, the latest-begun leadership that had written",
			len(st.Misfenced), st.Misfenced[0]))
	}
	if st.Invalid > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d writes to the fenced store without a valid fencing token", st.Invalid))
	}
	if st.Unannounced > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("harness: %d leaderships wrote to the fenced store before it heard them begin (their announcement was lost)", st.Unannounced))
	}
}

func rateIn(p *Proxy, from, to time.Time) float64 {
	if !to.After(from) {
		return 0
	}
	return float64(p.Requests(from, to)) / to.Sub(from).Seconds()
}

// start starts a candidate process of identity id.
func (r *round) start(id string, inst int, proxy *Proxy) (*proc, error) {
	c := r.c
	base := filepath.Join(r.dir, fmt.Sprintf("%s.%d", id, inst))
	out, err := os.Create(base + ".log")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	t := r.timing
	cmd := exec.Command(c.Binary,
		"-impl", r.run.Impl, "-server", proxy.URL(),
		"-token-file", filepath.Join(c.Cluster.ServiceAccountDir, "token"),
		"-namespace", c.Cluster.Namespace, "-lock", r.run.Lock, "-name", r.name, "-id", id,
		"-store", r.store.URL(), "-events", base+".events",
		"-lease", t.Lease.String(), "-renew", t.Renew.String(), "-retry", t.Retry.String(),
		"-request-timeout", t.RequestTimeout.String())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start candidate: %w", err)
	}
	p := &proc{Proc: Proc{ID: id, Inst: inst, Log: base}, cmd: cmd, proxy: proxy, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	r.procs = append(r.procs, p)
	r.live[id] = p
	return p, nil
}

// leader is the live, unpaused process that last announced leadership and
// has not announced its end.
func (r *round) leader() (*proc, bool) {
	var best *proc
	var at time.Time
	for _, l := range r.store.Leading() {
		p := r.live[l.ID]
		if p == nil || p.dead || p.paused {
			continue
		}
		if best == nil || l.At.After(at) {
			best, at = p, l.At
		}
	}
	return best, best != nil
}

func (r *round) waitLeader(within time.Duration) (*proc, bool) {
	deadline := time.Now().Add(within)
	for {
		if p, ok := r.leader(); ok {
			return p, true
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to die.
func (r *round) kill(p *proc) {
	p.Killed = time.Now()
	_ = p.cmd.Process.Kill()
	<-p.done
	p.dead = true
	r.store.Forget(p.ID)
}

// stopAll resumes paused processes, sends SIGTERM to all, and kills those
// that have not exited within 20s.
func (r *round) stopAll() {
	for _, p := range r.procs {
		if p.paused {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			p.paused = false
		}
		if !p.dead {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(20 * time.Second)
	for _, p := range r.procs {
		select {
		case <-p.done:
		case <-deadline:
			r.c.logf("%s: %s did not exit within 20s of SIGTERM; killing it", r.name, p.Name())
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.dead = true
	}
}

// lockPath is the API path of the round's lock object.
func (r *round) lockPath() string {
	ns := r.c.Cluster.Namespace
	switch r.run.Lock {
	case Leases:
		return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases/" + r.name
	case Endpoints:
		return "/api/v1/namespaces/" + ns + "/endpoints/" + r.name
	default:
		return "/api/v1/namespaces/" + ns + "/configmaps/" + r.name
	}
}

// rewriteLock changes the lock object as the admin: a read, edit, and
// conditional write, retried on conflict.
func (r *round) rewriteLock(ctx context.Context, edit func(obj map[string]any) error) error {
	cl := r.c.Cluster
	for i := 0; i < 20; i++ {
		code, body, err := cl.AdminDo(ctx, http.MethodGet, r.lockPath(), nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", r.lockPath(), code, body)
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return err
		}
		if err := edit(obj); err != nil {
			return err
		}
		code, body, err = cl.AdminDo(ctx, http.MethodPut, r.lockPath(), obj)
		if err != nil {
			return err
		}
		switch code {
		case http.StatusOK:
			return nil
		case http.StatusConflict:
			continue
		default:
			return fmt.Errorf("PUT %s: %d %s", r.lockPath(), code, body)
		}
	}
	return errors.New("the lock kept changing under 20 rewrites")
}

// editRecord edits the annotation record of an Endpoints or ConfigMap lock.
func editRecord(obj map[string]any, edit func(rec map[string]any)) error {
	meta, _ := obj["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	raw, _ := ann[leaderAnnotation].(string)
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return fmt.Errorf("the lock's record: %w", err)
	}
	edit(rec)
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ann[leaderAnnotation] = string(b)
	return nil
}

const leaderAnnotation = "control-plane.alpha.kubernetes.io/leader"

// sortResults orders results by implementation, scenario and lock.
func sortResults(rs []*Result) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.Impl != b.Impl {
			return a.Impl == Kubelect
		}
		return a.Scenario < b.Scenario
	})
}
