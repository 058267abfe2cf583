// Command herdbench measures herds: N candidates of this library and of
// client-go v0.37.2 on one Lease against a real kube-apiserver (the
// harness), for N = 3, 10, 50 and 200 by default. For each N and
// implementation it reports the requests of each takeover (after a crash
// and after a release) by verb and code from the server's
// apiserver_request_total and from the candidates' own transports, the
// conflicts (409s) among them and how closely the followers' writes
// bunch; kube-apiserver's CPU time and resident memory with a leader alone
// and with the whole fleet; handover and failover latency; and the fleet's
// steady request rate.
//
//	test/kube/build.sh && cd test/kube && go run ./cmd/herdbench -out /tmp/herd.md   # about 20 minutes
//	go run ./cmd/herdbench -smoke                                                     # N = 3 and 10, one takeover of each kind: CI
//
// Every candidate is an elector with a client of its own (its own
// transport, so its own TCP connection and TLS session, counted from
// /proc), all of one implementation in this process: 200 client-go
// processes on two cores would measure the machine's scheduler as much as
// the server. A crash is the candidate's transport cut off and its elector
// stopped (no release reaches the server); a crashed or released leader is
// replaced by a new candidate, as a restarted pod, so the fleet stays at N.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/kubelect/kubelect/test/kube/harness"
)

// options are the flags.
type options struct {
	ns         []int
	takeovers  int
	s          settings
	settle     time.Duration // after a cluster starts, before the quiet window
	quiet      time.Duration // the server alone
	alone      time.Duration // the leader alone
	steady     time.Duration // the whole fleet
	tail       time.Duration // after the new leader starts, for the losers' answers
	stagger    time.Duration // between candidate starts
	fresh      bool          // a new cluster for each N and implementation
	implFilter string
	label      string // what was measured, instead of asking git
}

func main() {
	var o options
	nlist := flag.String("n", "3,10,50,200", "fleet sizes")
	flag.IntVar(&o.takeovers, "takeovers", 8, "takeovers of each kind (release, crash) per N and implementation")
	flag.DurationVar(&o.s.lease, "lease", 4*time.Second, "LeaseDuration")
	flag.DurationVar(&o.s.renew, "renew", 2*time.Second, "RenewDeadline")
	flag.DurationVar(&o.s.retry, "retry", 500*time.Millisecond, "RetryPeriod")
	flag.DurationVar(&o.settle, "settle", 15*time.Second, "wait after a cluster starts, before measuring it idle")
	flag.DurationVar(&o.quiet, "quiet", 20*time.Second, "window measuring the idle server (its own lease traffic, CPU, memory)")
	flag.DurationVar(&o.alone, "alone", 15*time.Second, "window measuring the server with the leader alone")
	flag.DurationVar(&o.steady, "steady", 30*time.Second, "window measuring the server with the whole fleet")
	flag.DurationVar(&o.tail, "tail", 300*time.Millisecond, "time after the new leader starts that a takeover's window still counts (less than RetryPeriod)")
	flag.DurationVar(&o.stagger, "stagger", 10*time.Millisecond, "pause between candidate starts")
	flag.BoolVar(&o.fresh, "fresh", true, "a fresh etcd and kube-apiserver for each N and implementation")
	flag.StringVar(&o.implFilter, "impl", "", "only this implementation (kubelect or client-go)")
	flag.StringVar(&o.label, "label", "", "what was measured (for a tree that is not a git checkout); default: from git")
	smoke := flag.Bool("smoke", false, "N = 3 and 10, one takeover of each kind, short windows, one cluster: CI")
	out := flag.String("out", "", "write the report (markdown) to this file as well")
	flag.Parse()
	klog.SetLogger(logr.Discard())
	if *smoke {
		*nlist = "3,10"
		o.takeovers, o.settle, o.quiet, o.alone, o.steady, o.fresh = 1, 3*time.Second, 3*time.Second, 2*time.Second, 4*time.Second, false
		o.s = settings{2 * time.Second, time.Second, 250 * time.Millisecond}
		o.tail = 150 * time.Millisecond
	}
	for _, f := range strings.Split(*nlist, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			log.Fatalf("-n: %q is not a fleet size of 2 or more", f)
		}
		o.ns = append(o.ns, n)
	}
	if o.tail >= o.s.retry {
		log.Fatalf("-tail (%v) must be shorter than -retry (%v)", o.tail, o.s.retry)
	}
	rep, err := run(context.Background(), o, *smoke)
	if err != nil {
		log.Fatal(err)
	}
	text := rep.markdown()
	fmt.Println(text)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if rep.failed() {
		os.Exit(1)
	}
}

// server is the harness's kube-apiserver and etcd, as processes.
type server struct {
	cl       *harness.Cluster
	port     int
	pid      int
	etcdPid  int
	ownStart time.Time
}

func newServer(ctx context.Context) (*server, error) {
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		return nil, err
	}
	for k, v := range cl.Env() {
		os.Setenv(k, v)
	}
	s := &server{cl: cl, ownStart: time.Now()}
	if s.port, err = strconv.Atoi(cl.ServicePort); err != nil {
		cl.Stop()
		return nil, err
	}
	pid, args, err := findProcess("kube-apiserver", "--secure-port="+cl.ServicePort)
	if err != nil {
		cl.Stop()
		return nil, err
	}
	s.pid = pid
	if etcd := flagValue(args, "etcd-servers"); etcd != "" {
		if epid, _, err := findProcess("etcd", "--listen-client-urls="+etcd); err == nil {
			s.etcdPid = epid
		}
	}
	return s, nil
}

// point is a reading of the server.
type point struct {
	at           time.Time
	leases       serverLeases
	cpu, etcdCPU time.Duration
	selfCPU      time.Duration // this process: the candidates
	rss          int           // kube-apiserver's VmRSS, KiB
}

func (s *server) read(ctx context.Context) (point, error) {
	var p point
	text, err := s.cl.Metrics(ctx)
	if err != nil {
		return p, err
	}
	p.at = time.Now()
	p.leases = parseLeaseMetrics(text)
	if p.cpu, err = procCPU(s.pid); err != nil {
		return p, err
	}
	if s.etcdPid != 0 {
		p.etcdCPU, _ = procCPU(s.etcdPid)
	}
	p.selfCPU, _ = procCPU(os.Getpid())
	p.rss, err = procRSS(s.pid)
	return p, err
}

// rates are what changed between two points, per second.
type rates struct {
	secs                  float64
	requests              counts  // per second
	cpu, etcdCPU, selfCPU float64 // CPU seconds per second
	rss                   int     // at the end, KiB
	watches               float64 // open at the end
}

func between(a, b point) rates {
	secs := b.at.Sub(a.at).Seconds()
	return rates{
		secs:     secs,
		requests: delta(a.leases.requests, b.leases.requests).perSecond(secs),
		cpu:      (b.cpu - a.cpu).Seconds() / secs,
		etcdCPU:  (b.etcdCPU - a.etcdCPU).Seconds() / secs,
		selfCPU:  (b.selfCPU - a.selfCPU).Seconds() / secs,
		rss:      b.rss,
		watches:  b.leases.watches,
	}
}

// window reads the server, sleeps d, reads it again.
func (s *server) window(ctx context.Context, d time.Duration) (rates, error) {
	a, err := s.read(ctx)
	if err != nil {
		return rates{}, err
	}
	time.Sleep(d)
	b, err := s.read(ctx)
	if err != nil {
		return rates{}, err
	}
	return between(a, b), nil
}

// pieces is how many parts the idle window is read in, for the spread of
// the idle server's CPU rate.
const pieces = 4

// idleWindow is window in pieces: the whole, and the standard deviation
// of the server's CPU rate over the pieces.
func (s *server) idleWindow(ctx context.Context, d time.Duration) (rates, float64, error) {
	first, err := s.read(ctx)
	if err != nil {
		return rates{}, 0, err
	}
	prev := first
	var cpu []float64
	for i := 0; i < pieces; i++ {
		time.Sleep(d / pieces)
		p, err := s.read(ctx)
		if err != nil {
			return rates{}, 0, err
		}
		cpu = append(cpu, between(prev, p).cpu)
		prev = p
	}
	return between(first, prev), stddev(cpu), nil
}

// takeover is one change of leader.
type takeover struct {
	kind        string        // "release" or "crash"
	latency     time.Duration // signal (cancel, or cut-and-cancel) → next OnStartedLeading
	fromRenewal time.Duration // crash: the old leader's last successful renewal sent → next OnStartedLeading
	window      time.Duration // the server's counting window
	server      counts        // apiserver_request_total deltas in the window, the server's own traffic subtracted
	herd        herd          // the candidates' transports in the window
}

// result is one implementation at one N.
type result struct {
	impl           string
	n              int
	idle           rates   // the server alone
	idleSD         float64 // standard deviation of its CPU rate over pieces of the idle window
	alone          rates   // the leader alone
	steady         rates   // the fleet
	clientPerMin   float64
	conns, connsIn int // established connections to the server: the fleet's, and the process's before it
	takeovers      []takeover
	err            error
	took           time.Duration
}

func run(ctx context.Context, o options, smoke bool) (*report, error) {
	start := time.Now()
	rep := &report{o: o, smoke: smoke, commit: o.label, load0: loadavg()}
	if rep.commit == "" {
		rep.commit = commitLabel()
	}
	var shared *server
	if !o.fresh {
		s, err := newServer(ctx)
		if err != nil {
			return nil, err
		}
		defer s.cl.Stop()
		shared = s
	}
	for _, n := range o.ns {
		for _, im := range impls {
			if o.implFilter != "" && o.implFilter != im.short {
				continue
			}
			t0 := time.Now()
			r := &result{impl: im.name, n: n}
			r.err = measure(ctx, o, shared, im, n, r)
			r.took = time.Since(t0)
			if r.err != nil {
				log.Printf("%s N=%d: %v", im.name, n, r.err)
			}
			rep.results = append(rep.results, r)
		}
	}
	rep.took = time.Since(start)
	rep.load1 = loadavg()
	return rep, nil
}

// measure runs one implementation at one N.
func measure(ctx context.Context, o options, shared *server, im impl, n int, r *result) error {
	srv := shared
	if srv == nil {
		s, err := newServer(ctx)
		if err != nil {
			return err
		}
		defer s.cl.Stop()
		srv = s
	}
	log.Printf("%s N=%d: kube-apiserver pid %d at %s", im.name, n, srv.pid, srv.cl.Host)
	time.Sleep(o.settle)
	var err error
	if r.idle, r.idleSD, err = srv.idleWindow(ctx, o.quiet); err != nil {
		return err
	}
	log.Printf("  idle: %.0f±%.0f mCPU, %d MiB, own lease requests %s per s", 1000*r.idle.cpu, 1000*r.idleSD, r.idle.rss/1024, r.idle.requests)
	if r.connsIn, err = connectionsTo(srv.port); err != nil {
		return err
	}
	f := &fleet{cl: srv.cl, im: im, s: o.s, lease: fmt.Sprintf("herd-%s-%d", im.short, n), rec: &recorder{}}
	defer f.stop()
	if _, err := f.add(); err != nil {
		return err
	}
	if _, err := f.leader(nil, 30*time.Second); err != nil {
		return err
	}
	time.Sleep(2 * o.s.retry)
	if r.alone, err = srv.window(ctx, o.alone); err != nil {
		return err
	}
	log.Printf("  leader alone: %.0f mCPU, %d MiB", 1000*r.alone.cpu, r.alone.rss/1024)
	for i := 1; i < n; i++ {
		if _, err := f.add(); err != nil {
			return err
		}
		time.Sleep(o.stagger)
	}
	if err := f.waitSent(60 * time.Second); err != nil {
		return err
	}
	time.Sleep(3*time.Second + 4*o.s.retry)
	before := len(f.rec.snapshot())
	if r.steady, err = srv.window(ctx, o.steady); err != nil {
		return err
	}
	r.clientPerMin = float64(len(f.rec.snapshot())-before) / r.steady.secs * 60
	if r.conns, err = connectionsTo(srv.port); err != nil {
		return err
	}
	r.conns -= r.connsIn
	log.Printf("  fleet: %.0f mCPU, %d MiB, %d connections, %.0f watches, lease requests %.0f/min", 1000*r.steady.cpu, r.steady.rss/1024, r.conns, r.steady.watches, 60*r.steady.requests.less(r.idle.requests, 1).total())
	for i := 0; i < 2*o.takeovers; i++ {
		kind := "release"
		if i%2 == 1 {
			kind = "crash"
		}
		t, err := takeOver(ctx, o, srv, f, kind, r.idle.requests)
		if err != nil {
			return err
		}
		log.Printf("  %s: %v; server %s; followers: %d writes by %d, %d conflicts, %d within %v, spread %v",
			kind, t.latency.Round(time.Millisecond), t.server, t.herd.writes, t.herd.writers, t.herd.conflicts, t.herd.burst, burstWindow, t.herd.spread.Round(time.Millisecond))
		r.takeovers = append(r.takeovers, t)
	}
	return nil
}

// takeOver ends the current leader by release or crash, waits for the
// next, and replaces the old one with a new candidate.
func takeOver(ctx context.Context, o options, srv *server, f *fleet, kind string, own counts) (takeover, error) {
	t := takeover{kind: kind}
	old, err := f.leader(nil, 30*time.Second)
	if err != nil {
		return t, err
	}
	// Not in step with the leader's renewals.
	time.Sleep(time.Duration(rand.Int64N(int64(o.s.retry))))
	p0, err := srv.cl.Metrics(ctx)
	if err != nil {
		return t, err
	}
	t0 := time.Now()
	if kind == "release" {
		old.cancel()
	} else {
		old.kill()
	}
	f.remove(old)
	next, err := f.leader(old, 4*o.s.lease+10*time.Second)
	if err != nil {
		return t, err
	}
	started := next.started.Load()
	time.Sleep(time.Until(time.Unix(0, started).Add(o.tail)))
	p1, err := srv.cl.Metrics(ctx)
	if err != nil {
		return t, err
	}
	t1 := time.Now()
	t.window = t1.Sub(t0)
	t.latency = time.Duration(started - t0.UnixNano())
	if kind == "crash" {
		t.fromRenewal = time.Duration(started - old.meter.lastPut.Load())
	}
	t.server = delta(parseLeaseMetrics(p0).requests, parseLeaseMetrics(p1).requests).less(own, t.window.Seconds())
	t.herd = takeoverHerd(f.rec.snapshot(), t0.UnixNano(), t1.UnixNano(), started, old.num, next.num)
	if err := old.wait(30 * time.Second); err != nil {
		return t, err
	}
	c, err := f.add()
	if err != nil {
		return t, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.meter.sent.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(2*o.s.retry + time.Duration(rand.Int64N(int64(o.s.retry))))
	return t, nil
}

// commitLabel names what was measured: HEAD, the last commit touching
// election/, and whether election/ or k8sapi/ have uncommitted changes.
func commitLabel() string {
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", "../.."}, args...)...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(out))
	}
	subject := git("log", "-1", "--format=%h %s", "--", "election/")
	if r := []rune(subject); len(r) > 72 {
		subject = string(r[:72]) + "…"
	}
	label := fmt.Sprintf("HEAD %s; election/ last changed in %s", git("rev-parse", "--short=12", "HEAD"), subject)
	if dirty := git("status", "--porcelain", "--", "election/", "k8sapi/"); dirty != "" && dirty != "?" {
		var files []string
		for _, l := range strings.Split(dirty, "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				files = append(files, f[len(f)-1])
			}
		}
		label += "; built from the working tree with uncommitted changes to " + strings.Join(files, ", ")
	}
	return label
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
