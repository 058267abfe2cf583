// Command leaderbench runs the same leader-election scenarios with this
// library and with client-go v0.37.2 side by side against a real
// kube-apiserver (the harness), and writes BENCHMARKS.md and an SVG chart
// of the latency distributions into the -out folder (a scratch folder: the
// repository's BENCHMARKS.md has more parts than this program writes, and
// takes its first part from the file written here).
//
//	test/kube/build.sh && cd test/kube && go run ./cmd/leaderbench -out DIR
//
// -smoke runs a few short trials, so that CI keeps the program working.
//
// -curve and -coldstart run, instead, the trade-off curve (failover after
// SIGKILL against API-server requests at several settings, candidates as
// processes) and the cold start (process start to OnStartedLeading), print
// their sections of BENCHMARKS.md, and with -out write tradeoff.svg:
//
//	go run ./cmd/leaderbench -curve -coldstart -out DIR
//	go run ./cmd/leaderbench -curve -coldstart -smoke   # what CI runs
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/test/kube/cmd/internal/gobuild"
	"github.com/kubelect/kubelect/test/kube/cmd/internal/procfs"
	"github.com/kubelect/kubelect/test/kube/harness"
)

func main() {
	trials := flag.Int("trials", 30, "trials of each latency scenario per implementation")
	steady := flag.Duration("steady", time.Minute, "steady-state window for request counts")
	smoke := flag.Bool("smoke", false, "a few short trials (CI)")
	out := flag.String("out", "", "directory to write BENCHMARKS.md and benchmarks.svg into (default: print only)")
	curve := flag.Bool("curve", false, "measure the trade-off curve (failover after SIGKILL against requests) instead")
	coldstart := flag.Bool("coldstart", false, "measure cold start (process start to OnStartedLeading) instead")
	curveTrials := flag.Int("curve-trials", 100, "failover trials per implementation and setting (-curve)")
	fleets := flag.Int("fleets", 10, "fleets of 3 candidates at once per implementation, each on its own Lease (-curve)")
	window := flag.Duration("curve-window", 30*time.Second, "steady-state window for the request rate of each setting (-curve)")
	settingsFlag := flag.String("settings", "30/20/4,15/10/2,8/5/1,4/2/0.5,2/1/0.25", "the curve's LeaseDuration/RenewDeadline/RetryPeriod in seconds, comma-separated (-curve)")
	coldTrials := flag.Int("cold-trials", 100, "cold starts per implementation and kind of lock (-coldstart)")
	replotLog := flag.String("replot", "", "a -curve run's log (standard error): print the curve's section and, with -out, draw tradeoff.svg again from it, for -settings, without measuring")
	coldTraces := flag.String("cold-traces", "", "file to write every cold start's trace to, as JSON lines (-coldstart)")
	flag.Parse()
	klog.SetLogger(logr.Discard()) // client-go's log lines would bury the report
	if *curve || *coldstart || *replotLog != "" {
		ss, err := parseSettings(*settingsFlag)
		if err != nil {
			log.Fatal(err)
		}
		o := curveOptions{settings: ss, trials: *curveTrials, fleets: *fleets, window: *window, quiet: time.Minute}
		if *replotLog != "" {
			r, err := replot(*replotLog, ss, o)
			if err != nil {
				log.Fatal(err)
			}
			n := len(r.points[0][0].failover)
			fmt.Println(curveMarkdown(r, "tradeoff.svg", "go run ./cmd/leaderbench "+strings.Join(os.Args[1:], " "), "(replotted from "+*replotLog+")"))
			if *out != "" {
				if err := os.WriteFile(filepath.Join(*out, "tradeoff.svg"), []byte(tradeoffChart(seriesOf(r), p99Name(n))), 0o644); err != nil {
					log.Fatal(err)
				}
			}
			return
		}
		if *smoke {
			o = curveOptions{settings: ss[max(0, len(ss)-2):], trials: 2, fleets: 2, window: 3 * time.Second, quiet: 3 * time.Second}
			*coldTrials = 5
		}
		if !*curve {
			o.settings = nil
		}
		if !*coldstart {
			*coldTrials = 0
		}
		if err := runProcs(o, *coldTrials, *coldTraces, *out); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *smoke {
		*trials, *steady, static = 2, 10*time.Second, false
	}
	if err := run(*trials, *steady, *smoke, *out); err != nil {
		log.Fatal(err)
	}
}

// result is what one implementation measured.
type result struct {
	name                        string
	handover, failover, fromCut []time.Duration
	leaderPerRetry              [3]float64 // leader's requests, PUTs and GETs per RetryPeriod
	followerPerMin              float64    // each follower's requests per minute (watches included)
	serverPerMin                float64    // apiserver_request_total for leases per minute, the server's own subtracted
	serverFollowerPerMin        float64    // the same less the leader's requests, per follower
	leaderMem, followerMem      mem
	renewal                     renewalCost
	size, sizeStripped          int64
	packages                    int
}

// mem is a process's resident set, from /proc/<pid>/status, in KiB.
type mem struct{ rss, anon, file int }

// baseline is the bare net/http + TLS + JSON + slog program.
type baseline struct {
	size, sizeStripped int64
	mem                mem
}

func run(trials int, steady time.Duration, smoke bool, out string) error {
	ctx := context.Background()
	start := time.Now()
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		return err
	}
	defer cl.Stop()
	for k, v := range cl.Env() {
		os.Setenv(k, v)
	}
	log.Printf("kube-apiserver ready at %s", cl.Host)

	latency := settings{4 * time.Second, 2 * time.Second, 500 * time.Millisecond}
	defaults := settings{15 * time.Second, 10 * time.Second, 2 * time.Second}
	// The server renews leases of its own (its identity lease): count them
	// in a quiet window and subtract them from the candidates' figures.
	quiet, err := leaseRate(ctx, cl, steady)
	if err != nil {
		return err
	}
	log.Printf("the server's own lease requests: %.1f/min", quiet)
	var results []*result
	for ii, im := range impls {
		r := &result{name: im.name}
		for i := 0; i < trials; i++ {
			h, err := handover(cl, im, latency, fmt.Sprintf("bench%d-h%d", ii, i))
			if err != nil {
				return err
			}
			f, fc, err := failover(cl, im, latency, fmt.Sprintf("bench%d-f%d", ii, i))
			if err != nil {
				return err
			}
			r.handover, r.failover, r.fromCut = append(r.handover, h), append(r.failover, f), append(r.fromCut, fc)
			log.Printf("%s trial %d: handover %v, failover %v after the last renewal (%v after the kill)", im.name, i, h, f, fc)
		}
		if err := requestRates(ctx, cl, im, defaults, fmt.Sprintf("bench%d-steady", ii), steady, quiet, r); err != nil {
			return err
		}
		results = append(results, r)
	}
	if results[0].renewal, results[1].renewal, err = renewalCosts(); err != nil {
		return err
	}
	base, err := programs(cl, results, smoke)
	if err != nil {
		return err
	}
	hot, err := hotPaths(smoke)
	if err != nil {
		return err
	}
	report := markdown(results, base, quiet, hot, trials, steady, latency, defaults, time.Since(start))
	fmt.Println(report)
	if out == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(out, "BENCHMARKS.md"), []byte(report), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "benchmarks.svg"), []byte(chart(results, latency.lease)), 0o644)
}

// handover: the leader exits with release; time from the signal to the
// next leader's OnStartedLeading.
func handover(cl *harness.Cluster, im impl, s settings, lease string) (time.Duration, error) {
	cands, err := fleet(cl, im, s, lease, 3)
	if err != nil {
		return 0, err
	}
	defer stopAll(cands)
	leader, err := waitLeader(cands, nil, 20*time.Second)
	if err != nil {
		return 0, err
	}
	time.Sleep(2 * s.retry) // followers settle
	signal := time.Now()
	leader.cancel()
	next, err := waitLeader(cands, leader, 3*s.lease)
	if err != nil {
		return 0, err
	}
	return time.Duration(next.started.Load() - signal.UnixNano()), nil
}

// failover: the leader dies without release (its connection is cut, as
// by SIGKILL); time from its last successful renewal, and from the kill,
// to the next leader's OnStartedLeading.
func failover(cl *harness.Cluster, im impl, s settings, lease string) (fromRenewal, fromKill time.Duration, err error) {
	cands, err := fleet(cl, im, s, lease, 3)
	if err != nil {
		return 0, 0, err
	}
	defer stopAll(cands)
	leader, err := waitLeader(cands, nil, 20*time.Second)
	if err != nil {
		return 0, 0, err
	}
	time.Sleep(2*s.retry + time.Duration(time.Now().UnixNano()%int64(s.retry)))
	kill := time.Now()
	leader.meter.cut.Store(true)
	next, err := waitLeader(cands, leader, 4*s.lease)
	if err != nil {
		return 0, 0, err
	}
	at := next.started.Load()
	return time.Duration(at - leader.meter.lastPut.Load()), time.Duration(at - kill.UnixNano()), nil
}

// requestRates counts requests in a steady election of three candidates,
// client-side and from the server's apiserver_request_total less quiet,
// the server's own lease requests per minute.
func requestRates(ctx context.Context, cl *harness.Cluster, im impl, s settings, lease string, window time.Duration, quiet float64, r *result) error {
	cands, err := fleet(cl, im, s, lease, 3)
	if err != nil {
		return err
	}
	defer stopAll(cands)
	leader, err := waitLeader(cands, nil, 30*time.Second)
	if err != nil {
		return err
	}
	time.Sleep(2 * s.retry)
	counts := func(c *candidate) [3]int64 {
		return [3]int64{c.meter.requests.Load(), c.meter.puts.Load(), c.meter.gets.Load()}
	}
	before := make([][3]int64, len(cands))
	for i, c := range cands {
		before[i] = counts(c)
	}
	server, err := leaseRate(ctx, cl, window)
	if err != nil {
		return err
	}
	periods := float64(window) / float64(s.retry)
	var followers, leaderAll float64
	for i, c := range cands {
		now := counts(c)
		if c == leader {
			for k := range now {
				r.leaderPerRetry[k] = float64(now[k]-before[i][k]) / periods
			}
			leaderAll = float64(now[0] - before[i][0])
		} else {
			followers += float64(now[0] - before[i][0])
		}
	}
	r.followerPerMin = followers / 2 / window.Minutes()
	r.serverPerMin = server - quiet
	r.serverFollowerPerMin = max(0, r.serverPerMin-leaderAll/window.Minutes()) / 2
	return nil
}

// leaseRate is the server's lease requests per minute over the next window.
func leaseRate(ctx context.Context, cl *harness.Cluster, window time.Duration) (float64, error) {
	n0, err := leaseRequests(ctx, cl)
	if err != nil {
		return 0, err
	}
	time.Sleep(window)
	n1, err := leaseRequests(ctx, cl)
	if err != nil {
		return 0, err
	}
	return (n1 - n0) / window.Minutes(), nil
}

// leaseRequests sums apiserver_request_total over the leases resource.
func leaseRequests(ctx context.Context, cl *harness.Cluster) (float64, error) {
	text, err := cl.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="leases"`) {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum, nil
}

// programs builds the minimal programs, records their sizes, and runs two
// of each (a leader and a follower) to read their resident memory; the
// baseline runs once, polling.
func programs(cl *harness.Cluster, results []*result, smoke bool) (*baseline, error) {
	dir, err := os.MkdirTemp("", "leaderbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	settle := 20 * time.Second
	if smoke {
		settle = 5 * time.Second
	}
	names := map[string]string{"kubelect": "minimal-kubelect", "client-go v0.37.2": "minimal-clientgo"}
	for _, r := range results {
		pkg := "./cmd/" + names[r.name]
		bin := filepath.Join(dir, names[r.name])
		var err error
		if r.size, r.sizeStripped, err = buildBoth(pkg, bin); err != nil {
			return nil, err
		}
		deps, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			return nil, err
		}
		for _, p := range strings.Fields(string(deps)) {
			if strings.Contains(strings.Split(p, "/")[0], ".") {
				r.packages++
			}
		}
		ms, err := resident(cl, settle, []string{bin + "-stripped", filepath.Base(bin) + "-first"}, []string{bin + "-stripped", filepath.Base(bin) + "-second"})
		if err != nil {
			return nil, err
		}
		r.leaderMem, r.followerMem = ms[0], ms[1]
	}
	base := &baseline{}
	bin := filepath.Join(dir, "minimal-baseline")
	if base.size, base.sizeStripped, err = buildBoth("./cmd/minimal-baseline", bin); err != nil {
		return nil, err
	}
	ms, err := resident(cl, settle, []string{bin + "-stripped", "-resident"})
	if err != nil {
		return nil, err
	}
	base.mem = ms[0]
	return base, nil
}

// static makes the stripped builds static (CGO_ENABLED=0, as programs ship
// in scratch or distroless images). The smoke run leaves it off: a static
// build of the client-go program compiles client-go's whole tree again.
var static = true

// buildBoth builds pkg as go build does by default, at bin, and stripped
// (and static) at bin-stripped: sizes are of both, memory of the latter.
func buildBoth(pkg, bin string) (size, stripped int64, err error) {
	if size, err = build(pkg, bin, false); err != nil {
		return 0, 0, err
	}
	stripped, err = build(pkg, bin+"-stripped", true)
	return size, stripped, err
}

func build(pkg, out string, strip bool) (int64, error) {
	var flags, env []string
	if strip {
		flags = append(flags, "-ldflags=-s -w")
		if static {
			env = append(env, "CGO_ENABLED=0")
		}
	}
	return gobuild.Build("", pkg, out, flags, env)
}

// resident starts each command two seconds apart (so the first one
// leads), waits settle, and reads their resident memory.
func resident(cl *harness.Cluster, settle time.Duration, cmdlines ...[]string) ([]mem, error) {
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
			_ = c.Wait()
		}
	}()
	for _, args := range cmdlines {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "KUBELECT_SA_DIR="+cl.ServiceAccountDir)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
		time.Sleep(2 * time.Second)
	}
	time.Sleep(settle)
	var ms []mem
	for _, c := range cmds {
		pm, err := procfs.ReadMem(c.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Path, err)
		}
		m := mem{pm.RSS, pm.Anon, pm.File}
		ms = append(ms, m)
	}
	return ms, nil
}

// hotPaths runs the library's Go benchmarks of the record and of one
// renewal (10,000 renewals each after 1,000 to warm up) and returns their
// result lines.
func hotPaths(smoke bool) (string, error) {
	n := "10000x"
	if smoke {
		n = "100x"
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", n, "./election/resourcelock/")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go test -bench: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "cpu:") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(lines, "\n"), nil
}

// percentile of sorted durations (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
