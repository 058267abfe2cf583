package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// label is "30/20/4 s".
func (s settings) label() string {
	sec := func(d time.Duration) string { return fmt.Sprint(d.Seconds()) }
	return sec(s.lease) + "/" + sec(s.renew) + "/" + sec(s.retry) + " s"
}

// curveOptions size the curve's measurement.
type curveOptions struct {
	settings []settings
	trials   int           // failover trials per implementation and setting
	fleets   int           // fleets at once per implementation
	window   time.Duration // steady-state window for the request rate
	quiet    time.Duration // window for the server's own lease traffic
}

// curvePoint is one implementation at one setting.
type curvePoint struct {
	s              settings
	failover       []time.Duration // SIGKILL of the leader → the next OnStartedLeading
	timedOut       int             // trials with no new leader in time (counted at the timeout)
	disturbed      int             // trials run again: the leadership changed before the kill
	noLeader       int             // trials run again: no first leader within 30 s + LeaseDuration
	perMin         float64         // apiserver_request_total for leases per minute, one fleet, the server's own subtracted
	changes        int             // leadership changes in the steady window, all fleets
	steadyNoLeader int             // steady fleets with no leader before the window
}

// curveResult is the whole curve: points[i][j] is procImpls[i] at
// settings[j].
type curveResult struct {
	opts   curveOptions
	points [][]*curvePoint
	quiet  float64
	took   time.Duration
}

// runCurve measures each setting: failover trials of both implementations
// at once, opts.fleets fleets each; then the steady request rate of each
// implementation alone.
func runCurve(ctx context.Context, cl *harness.Cluster, env []string, logs *os.File, opts curveOptions) (*curveResult, error) {
	start := time.Now()
	quiet, err := leaseRate(ctx, cl, opts.quiet)
	if err != nil {
		return nil, err
	}
	log.Printf("curve: the server's own lease requests: %.1f/min", quiet)
	r := &curveResult{opts: opts, quiet: quiet, points: make([][]*curvePoint, len(procImpls))}
	for _, s := range opts.settings {
		t := time.Now()
		pts := make([]*curvePoint, len(procImpls))
		var wg sync.WaitGroup
		for i, im := range procImpls {
			pts[i] = &curvePoint{s: s}
			wg.Add(1)
			go func() { defer wg.Done(); failoverTrials(im, env, logs, s, opts, pts[i]) }()
		}
		wg.Wait()
		for i, im := range procImpls {
			if err := steadyRate(ctx, cl, im, env, logs, s, opts, quiet, pts[i]); err != nil {
				return nil, err
			}
			r.points[i] = append(r.points[i], pts[i])
			p := pts[i]
			log.Printf("curve %s %s: failover p50 %s p99 %s max %s (%d trials, %d timed out, %d run again); %.1f requests/min per fleet (%d leadership changes)",
				im.name, s.label(), ms(percentile(p.failover, 0.5)), ms(percentile(p.failover, 0.99)), ms(percentile(p.failover, 1)),
				len(p.failover), p.timedOut, p.disturbed, p.perMin, p.changes)
		}
		log.Printf("curve: %s took %v", s.label(), time.Since(t).Round(time.Second))
	}
	r.took = time.Since(start)
	return r, nil
}

// failoverTrials runs opts.trials trials of im at s, opts.fleets at once.
func failoverTrials(im *procImpl, env []string, logs *os.File, s settings, opts curveOptions, p *curvePoint) {
	var mu sync.Mutex
	var slot, attempt atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < opts.fleets; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Staggered, so that the fleets do not all start at once (on a
			// loaded machine, tens of processes starting together time out
			// in their TLS handshakes).
			time.Sleep(time.Duration(w) * 400 * time.Millisecond)
			for slot.Add(1) <= int64(opts.trials) {
				for tries := 0; ; tries++ {
					name := fmt.Sprintf("curve-%s-%d-%d", im.short, s.retry.Milliseconds(), attempt.Add(1))
					d, ok, err := failoverTrial(im, env, logs, s, name)
					log.Printf("trial %s %s %s: %v (counted %v)", im.short, s.label(), name, d, ok || err != nil)
					mu.Lock()
					switch {
					case errors.Is(err, errNoFirstLeader):
						log.Printf("curve %s %s %s: %v", im.name, s.label(), name, err)
						p.noLeader++
					case err != nil:
						log.Printf("curve %s %s %s: %v", im.name, s.label(), name, err)
						p.timedOut++
						p.failover = append(p.failover, d)
					case ok:
						p.failover = append(p.failover, d)
					default:
						p.disturbed++
					}
					mu.Unlock()
					if ok || (err != nil && !errors.Is(err, errNoFirstLeader)) || tries >= 3 {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
}

// failoverTrial starts three candidates on a fresh Lease, waits for a
// leader, lets the fleet settle for 2 s + 2·RetryPeriod + a random part of
// RetryPeriod (the followers watch or poll by then, even on a loaded
// machine, and the kill falls at a uniform phase of the renewals),
// kills the leader with SIGKILL and returns the time from the kill to the
// next OnStartedLeading. ok is false when the leadership changed before
// the kill (the trial does not count); errNoFirstLeader when none leads
// at all (nor does it). When no new leader comes within
// 3·LeaseDuration + 10 s it returns that bound and an error.
// ok is also false when the leader's leadership ended before the kill
// (its stop line: a renewal that failed on a loaded server).
func failoverTrial(im *procImpl, env []string, logs *os.File, s settings, name string) (d time.Duration, ok bool, err error) {
	f, err := startFleet(im, env, logs, s, name, 3)
	if err != nil {
		return 0, false, err
	}
	defer f.killAll()
	first, err := f.next(30*time.Second + s.lease)
	if err != nil {
		return 0, false, errNoFirstLeader
	}
	settle := 2*time.Second + 2*s.retry + rand.N(s.retry)
	// Any line before the kill, another's lead or the leader's stop (its
	// renewal failed on a loaded server), means the kill would not
	// measure a failover from a healthy leader: run the trial again.
	select {
	case <-f.leads:
		return 0, false, nil
	case <-time.After(settle):
	}
	bound := 3*s.lease + 10*time.Second
	kill := time.Now()
	f.procs[first.who].kill()
	for {
		ev, err := f.next(bound - time.Since(kill))
		if err != nil {
			return bound, false, fmt.Errorf("no new leader within %v of the kill", bound)
		}
		if ev.who != first.who {
			return time.Duration(ev.at - kill.UnixNano()), true, nil
		}
	}
}

// errNoFirstLeader: the fleet elected no leader to kill; the trial is
// run again (at most three times) and does not count.
var errNoFirstLeader = errors.New("no first leader within 30 s + LeaseDuration")

// steadyRate starts opts.fleets fleets of im at s, lets them settle, and
// counts the server's lease requests over opts.window, per fleet and
// minute, less quiet (the server's own).
func steadyRate(ctx context.Context, cl *harness.Cluster, im *procImpl, env []string, logs *os.File, s settings, opts curveOptions, quiet float64, p *curvePoint) error {
	var fleets []*fleetProcs
	defer func() {
		for _, f := range fleets {
			f.killAll()
		}
	}()
	for i := 0; i < opts.fleets; i++ {
		time.Sleep(200 * time.Millisecond) // staggered, as the trials are
		f, err := startFleet(im, env, logs, s, fmt.Sprintf("steady-%s-%d-%d", im.short, s.retry.Milliseconds(), i), 3)
		if err != nil {
			return err
		}
		fleets = append(fleets, f)
	}
	for _, f := range fleets {
		if _, err := f.next(30*time.Second + s.lease); err != nil {
			// Counted and reported; the window measures what the fleets do.
			log.Printf("steady %s %s: a fleet elected no leader within 30 s + LeaseDuration", im.name, s.label())
			p.steadyNoLeader++
		}
	}
	// Followers have polled or started their watch, and the leaders renew
	// at their own pace.
	time.Sleep(2*s.retry + 2*time.Second)
	drain := func() (n int) {
		for _, f := range fleets {
			for len(f.leads) > 0 {
				if ev := <-f.leads; !ev.stop {
					n++
				}
			}
		}
		return n
	}
	drain()
	rate, err := leaseRate(ctx, cl, opts.window)
	if err != nil {
		return err
	}
	p.changes = drain()
	p.perMin = (rate - quiet) / float64(opts.fleets)
	return nil
}

// runProcs runs the measurements whose candidates are processes: cold
// start (coldTrials > 0) and the curve (o.settings not empty).
func runProcs(o curveOptions, coldTrials int, coldTraces, out string) error {
	ctx := context.Background()
	loadBefore := loadAvg()
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		return err
	}
	defer cl.Stop()
	saDir = cl.ServiceAccountDir
	log.Printf("kube-apiserver ready at %s", cl.Host)
	dir, err := os.MkdirTemp("", "leaderbench-procs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := buildCandidates(dir); err != nil {
		return err
	}
	// The candidates' own logs (stderr), for a failed trial.
	logs, err := os.CreateTemp("", "leaderbench-candidates-*.log")
	if err != nil {
		return err
	}
	defer logs.Close()
	log.Printf("candidates' logs: %s", logs.Name())
	env := procEnv(cl)
	command := "go run ./cmd/leaderbench " + strings.Join(os.Args[1:], " ")
	var sections []string
	// Cold start first, before the curve's fleets load the machine.
	var cold []*coldResult
	var coldTook time.Duration
	if coldTrials > 0 {
		t := time.Now()
		var traces io.Writer
		if coldTraces != "" {
			f, err := os.Create(coldTraces)
			if err != nil {
				return err
			}
			defer f.Close()
			traces = f
		}
		if cold, err = runColdStart(ctx, cl, env, logs, coldTrials, traces); err != nil {
			return err
		}
		coldTook = time.Since(t)
	}
	var curve *curveResult
	if len(o.settings) > 0 {
		if curve, err = runCurve(ctx, cl, env, logs, o); err != nil {
			return err
		}
	}
	mach := machine(loadBefore, loadAvg())
	if cold != nil {
		sections = append(sections, coldMarkdown(cold, coldTrials, command, mach, coldTook))
	}
	if curve != nil {
		sections = append(sections, curveMarkdown(curve, "tradeoff.svg", command, mach))
	}
	fmt.Println(strings.Join(sections, "\n"))
	if out != "" && curve != nil {
		n := len(curve.points[0][0].failover)
		return os.WriteFile(filepath.Join(out, "tradeoff.svg"), []byte(tradeoffChart(seriesOf(curve), p99Name(n))), 0o644)
	}
	return nil
}

// parseSettings reads "30/20/4,15/10/2": LeaseDuration/RenewDeadline/
// RetryPeriod in seconds, comma-separated.
func parseSettings(s string) ([]settings, error) {
	var out []settings
	for _, item := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(item), "/")
		if len(parts) != 3 {
			return nil, fmt.Errorf("setting %q: want LEASE/RENEW/RETRY in seconds", item)
		}
		var d [3]time.Duration
		for i, p := range parts {
			v, err := strconv.ParseFloat(p, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("setting %q: %q is not a positive number of seconds", item, p)
			}
			d[i] = time.Duration(v * float64(time.Second))
		}
		out = append(out, settings{d[0], d[1], d[2]})
	}
	return out, nil
}
