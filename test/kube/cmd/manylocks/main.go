// Command manylocks measures what many elections cost one process: N
// electors, each with its own Lease, all sharing one k8sapi client, against
// the real kube-apiserver of the harness. For each N it runs a process that
// leads all N locks (the leader's cost), then a second process whose N
// electors follow them (the follower's cost, the common sharded case), and
// reports per election: resident memory (VmRSS and RssAnon above the N=0
// process), Go heap and stacks in use, goroutines, TCP connections to the
// API server, and the API server's CPU, resident memory, requests per
// minute and open watches on leases.
//
//	test/kube/build.sh && cd test/kube && go run ./cmd/manylocks
//
// -smoke runs N=1 and N=10 with short windows, so that CI keeps it working.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kubelect/kubelect/test/kube/harness"
)

func main() {
	child := flag.String("child", "", "internal: run as the measured process, role leader or follower")
	n := flag.Int("n", 0, "internal: electors in the child")
	prefix := flag.String("prefix", "", "internal: Lease name prefix")
	counts := flag.String("counts", "1,100,1000", "numbers of elections per process")
	smoke := flag.Bool("smoke", false, "N=1 and 10 with short windows (CI)")
	settle := flag.Duration("settle", 15*time.Second, "wait after all electors are in place, before a window")
	window := flag.Duration("window", time.Minute, "window over which the API server's cost is counted")
	timing := flag.String("timing", "60s/40s/10s", "LeaseDuration/RenewDeadline/RetryPeriod of every elector")
	flag.Parse()
	t, err := parseTiming(*timing)
	if err != nil {
		log.Fatal(err)
	}
	if *child != "" {
		if err := runChild(*child, *n, *prefix, t); err != nil {
			log.Fatalf("manylocks child: %v", err)
		}
		return
	}
	if *smoke {
		*counts, *settle, *window = "1,10", 2*time.Second, 5*time.Second
	}
	var ns2 []int
	for _, s := range strings.Split(*counts, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 {
			log.Fatalf("manylocks: bad -counts entry %q", s)
		}
		ns2 = append(ns2, v)
	}
	if err := run(ns2, *settle, *window, *timing); err != nil {
		log.Fatal(err)
	}
}

// timing is the electors' LeaseDuration, RenewDeadline and RetryPeriod.
type timing struct{ lease, renew, retry time.Duration }

func parseTiming(s string) (timing, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return timing{}, fmt.Errorf("manylocks: -timing %q: want LeaseDuration/RenewDeadline/RetryPeriod", s)
	}
	var d [3]time.Duration
	for i, p := range parts {
		v, err := time.ParseDuration(p)
		if err != nil {
			return timing{}, fmt.Errorf("manylocks: -timing %q: %w", s, err)
		}
		d[i] = v
	}
	return timing{d[0], d[1], d[2]}, nil
}

// stats is what a child reports of itself.
type stats struct {
	N          int `json:"n"`
	VmRSS      int `json:"vmRSSKiB"`
	RssAnon    int `json:"rssAnonKiB"`
	HeapInuse  int `json:"heapInuseKiB"`
	StackInuse int `json:"stackInuseKiB"`
	Goroutines int `json:"goroutines"`
	Conns      int `json:"conns"`
	Ready      int `json:"ready"` // electors in the role's state
}

// server is a snapshot of the API server's cost.
type server struct {
	at       time.Time
	cpu      float64 // seconds, user+system
	rss      int     // KiB
	requests float64 // apiserver_request_total on leases
	watches  float64 // apiserver_longrunning_requests WATCH on leases
}

// row is one N's figures.
type row struct {
	n                     int
	leader, follower      stats
	alone, both           rate // API server: the leader alone; leader and follower
	aloneRSS, bothRSS     int
	aloneWatch, bothWatch float64
}

// rate is the API server's cost over a window, per minute.
type rate struct{ cpu, requests float64 }

func run(counts []int, settle, window time.Duration, timingFlag string) error {
	ctx := context.Background()
	cl, err := harness.Start(ctx, harness.Options{})
	if err != nil {
		return err
	}
	defer cl.Stop()
	for k, v := range cl.Env() {
		os.Setenv(k, v)
	}
	os.Setenv("KUBELECT_SA_DIR", cl.ServiceAccountDir)
	pid, err := apiserverPID(cl.ServicePort)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("manylocks: %w", err)
	}
	start := func(role string, n int, prefix string) (*proc, error) {
		return startChild(self, role, n, prefix, timingFlag)
	}
	log.Printf("kube-apiserver ready at %s (pid %d)", cl.Host, pid)

	base, err := start("leader", 0, "ml-base")
	if err != nil {
		return err
	}
	time.Sleep(settle)
	b, err := base.measure()
	base.stop()
	if err != nil {
		return err
	}
	log.Printf("N=0: %+v", b)

	var rows []row
	for _, n := range counts {
		prefix := fmt.Sprintf("ml%d", n)
		r := row{n: n}
		lead, err := start("leader", n, prefix)
		if err != nil {
			return err
		}
		time.Sleep(settle)
		s0, err := snapshot(ctx, cl, pid)
		if err != nil {
			return err
		}
		time.Sleep(window)
		s1, err := snapshot(ctx, cl, pid)
		if err != nil {
			return err
		}
		if r.leader, err = lead.measure(); err != nil {
			return err
		}
		follow, err := start("follower", n, prefix)
		if err != nil {
			lead.stop()
			return err
		}
		time.Sleep(settle)
		s2, err := snapshot(ctx, cl, pid)
		if err != nil {
			return err
		}
		time.Sleep(window)
		s3, err := snapshot(ctx, cl, pid)
		if err != nil {
			return err
		}
		if r.follower, err = follow.measure(); err != nil {
			return err
		}
		follow.stop()
		lead.stop()
		r.alone, r.both = perMin(s0, s1), perMin(s2, s3)
		r.aloneRSS, r.bothRSS = s1.rss, s3.rss
		r.aloneWatch, r.bothWatch = s1.watches, s3.watches
		log.Printf("N=%d leader %+v follower %+v server alone %+v both %+v", n, r.leader, r.follower, r.alone, r.both)
		rows = append(rows, r)
	}
	report(os.Stdout, b, rows, settle, window, timingFlag)
	return nil
}

func perMin(a, b server) rate {
	m := b.at.Sub(a.at).Minutes()
	return rate{cpu: (b.cpu - a.cpu) / m, requests: (b.requests - a.requests) / m}
}

// proc is a running child.
type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	ready stats
}

// startChild starts a child and waits until all its electors are in
// place (it says so with a first stats line).
func startChild(self, role string, n int, prefix, timingFlag string) (*proc, error) {
	cmd := exec.Command(self, "-child", role, "-n", strconv.Itoa(n), "-prefix", prefix, "-timing", timingFlag)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("manylocks: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("manylocks: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("manylocks: start %s child: %w", role, err)
	}
	p := &proc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if err := p.read(&p.ready); err != nil {
		p.stop()
		return nil, fmt.Errorf("manylocks: %s child (N=%d) never got ready: %w", role, n, err)
	}
	return p, nil
}

func (p *proc) read(s *stats) error {
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return err
		}
		return io.ErrUnexpectedEOF
	}
	return json.Unmarshal(p.out.Bytes(), s)
}

// measure asks the child for its figures.
func (p *proc) measure() (stats, error) {
	var s stats
	if _, err := io.WriteString(p.in, "measure\n"); err != nil {
		return s, fmt.Errorf("manylocks: ask child: %w", err)
	}
	err := p.read(&s)
	if err != nil {
		err = fmt.Errorf("manylocks: read child's figures: %w", err)
	}
	return s, err
}

// stop closes the child's stdin (it then cancels its electors, which
// release their locks) and waits for it.
func (p *proc) stop() {
	p.in.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// apiserverPID finds the kube-apiserver serving on port, by its command
// line (other clusters may run on this machine).
func apiserverPID(port string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("manylocks: %w", err)
	}
	want := "--secure-port=" + port
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "kube-apiserver") {
			for _, a := range args {
				if a == want {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("manylocks: no kube-apiserver with %s", want)
}

// snapshot reads the API server's CPU time and resident memory from /proc
// and its lease requests and watches from /metrics.
func snapshot(ctx context.Context, cl *harness.Cluster, pid int) (server, error) {
	s := server{at: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("manylocks: %w", err)
	}
	// Fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	s.cpu = (utime + stime) / 100 // USER_HZ
	st, err := procStatus(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.rss = st["VmRSS"]
	text, err := cl.Metrics(ctx)
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, `resource="leases"`) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "apiserver_request_total{"):
			s.requests += v
		case strings.HasPrefix(line, "apiserver_longrunning_requests{") && strings.Contains(line, `verb="WATCH"`):
			s.watches += v
		}
	}
	return s, nil
}

// procStatus reads the KiB fields of a /proc/<pid>/status file.
func procStatus(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manylocks: %w", err)
	}
	m := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		if n, err := strconv.Atoi(v); err == nil {
			m[k] = n
		}
	}
	return m, nil
}
