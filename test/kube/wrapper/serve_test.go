package wrapper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sidecar is one "kubelect serve" process.
type sidecar struct {
	ident string
	base  string // http://127.0.0.1:PORT
	log   string
	cmd   *exec.Cmd
	done  chan struct{}
}

func (s *sidecar) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// addrWriter copies kubelect's JSON log to a file and picks out the
// address of its "serving" line (the first line starting so that has an
// addr).
type addrWriter struct {
	f    *os.File
	buf  []byte
	addr chan string
}

func (w *addrWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(w.buf[:i], &rec) == nil && strings.HasPrefix(rec.Msg, "serving") && rec.Addr != "" {
			select {
			case w.addr <- rec.Addr:
			default:
			}
		}
		w.buf = w.buf[i+1:]
	}
	return w.f.Write(p)
}

func startSidecar(t *testing.T, dir, lock, kubeconfig, ident string, extra ...string) *sidecar {
	t.Helper()
	s := &sidecar{ident: ident, log: filepath.Join(dir, "serve-"+ident+".log"), done: make(chan struct{})}
	f, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--name", lock, "-n", cluster.Namespace, "--identity", ident, "--kubeconfig", kubeconfig,
		"--listen", "127.0.0.1:0", "--log-format", "json"}
	args = append(append(args, timingArgs()...), extra...)
	w := &addrWriter{f: f, addr: make(chan string, 1)}
	s.cmd = exec.Command(kubelectBin, args...)
	s.cmd.Stdout, s.cmd.Stderr = f, w
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		f.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		if !poll(10*time.Second, func() bool { return !s.running() }) {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("--- %s (tail) ---\n%s", s.log, tail(s.log, 2000))
		}
	})
	select {
	case a := <-w.addr:
		s.base = "http://" + a
	case <-s.done:
		t.Fatalf("kubelect serve %s exited: %s", ident, tail(s.log, 2000))
	case <-time.After(30 * time.Second):
		t.Fatalf("kubelect serve %s: no serving line in 30s: %s", ident, tail(s.log, 2000))
	}
	return s
}

// view is the answer of a sidecar's "GET /".
type view struct {
	Name                 string     `json:"name"`
	Term                 int        `json:"term"`
	Acquired             *time.Time `json:"acquired"`
	Renewed              *time.Time `json:"renewed"`
	LeaseDurationSeconds float64    `json:"leaseDurationSeconds"`
	State                string     `json:"state"`
	Version              uint64     `json:"version"`
}

var httpClient = &http.Client{Timeout: 45 * time.Second} // longer than a long poll (30s)

func httpGet(url string) (int, []byte, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func getView(url string) (view, error) {
	code, b, err := httpGet(url)
	if err != nil {
		return view{}, err
	}
	var v view
	if code != http.StatusOK {
		return v, fmt.Errorf("GET %s: %d %s", url, code, b)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("GET %s: %w: %s", url, err, b)
	}
	return v, nil
}

// sameTime compares a sidecar's time with the Lease's microsecond time.
func sameTime(p *time.Time, t time.Time) bool {
	if p == nil {
		return t.IsZero()
	}
	return p.Equal(t)
}

// mismatch says how v differs from the Lease l, or "" when it does not:
// holder, term, lease duration and both times exactly.
func mismatch(v view, l lease) string {
	if v.Name != l.Holder || v.Term != l.Transitions || v.LeaseDurationSeconds != float64(l.LeaseDurationSeconds) ||
		!sameTime(v.Acquired, l.AcquireTime) || !sameTime(v.Renewed, l.RenewTime) {
		return fmt.Sprintf("sidecar %+v (acquired %v renewed %v) != Lease %+v", v, v.Acquired, v.Renewed, l)
	}
	return ""
}

// agree waits until every sidecar's "/" equals the Lease, read before and
// after them at the same resourceVersion (the holder renews every
// RetryPeriod, and a sidecar sees each renewal a moment after it is
// stored), and returns that Lease.
func agree(t *testing.T, lock string, sides ...*sidecar) lease {
	t.Helper()
	var l lease
	var last string
	ok := poll(10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l1, err := getLease(ctx, cluster, lock)
		if err != nil {
			last = err.Error()
			return false
		}
		var views []view
		for _, s := range sides {
			v, err := getView(s.base + "/")
			if err != nil {
				last = err.Error()
				return false
			}
			views = append(views, v)
		}
		if l, err = getLease(ctx, cluster, lock); err != nil {
			last = err.Error()
			return false
		}
		if l.ResourceVersion != l1.ResourceVersion || l.Holder == "" {
			last = "the Lease changed while the sidecars were read, or has no holder"
			return false
		}
		for i, v := range views {
			if m := mismatch(v, l); m != "" {
				last = sides[i].ident + ": " + m
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the sidecars never agreed with the Lease within 10s; last: %s", last)
	}
	return l
}

var leaderMetric = regexp.MustCompile(`(?m)^kubelect_leader\{[^}]*\} (\d+)$`)

// leaderGauge returns a sidecar's kubelect_leader value, or -1 when it has
// none.
func leaderGauge(s *sidecar) (int, error) {
	code, b, err := httpGet(s.base + "/metrics")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("%s /metrics: %d", s.ident, code)
	}
	m := leaderMetric.FindAllSubmatch(b, -1)
	switch len(m) {
	case 0:
		return -1, nil
	case 1:
		return strconv.Atoi(string(m[0][1]))
	}
	return 0, fmt.Errorf("%s /metrics: %d kubelect_leader lines", s.ident, len(m))
}

// checkProbes checks that /healthz and /readyz answer 200, and that of the
// candidates exactly the holder reports kubelect_leader 1 (the observer
// has no election metrics).
func checkProbes(t *testing.T, holder string, observer *sidecar, candidates ...*sidecar) {
	t.Helper()
	for _, s := range append([]*sidecar{observer}, candidates...) {
		for _, p := range []string{"/healthz", "/readyz"} {
			code, b, err := httpGet(s.base + p)
			if err != nil || code != http.StatusOK {
				t.Errorf("%s %s: %d %s %v, want 200", s.ident, p, code, b, err)
			}
		}
	}
	if g, err := leaderGauge(observer); err != nil || g != -1 {
		t.Errorf("observer: kubelect_leader %d (%v), want no such line", g, err)
	}
	var last string
	// The elector's Leading hook runs once its acquisition has returned:
	// the gauge may trail the Lease by a moment.
	ok := poll(5*time.Second, func() bool {
		last = ""
		for _, s := range candidates {
			g, err := leaderGauge(s)
			want := 0
			if s.ident == holder {
				want = 1
			}
			if err != nil || g != want {
				last += fmt.Sprintf("%s: kubelect_leader %d (%v), want %d; ", s.ident, g, err, want)
			}
		}
		return last == ""
	})
	if !ok {
		t.Errorf("metrics: %s", last)
	}
}

// TestServeSidecar runs three "kubelect serve" candidates and one
// observer on one Lease, checks their answers against the Lease as the API
// server stores it, kills the leader's sidecar and follows the change with
// long polls on the others.
func TestServeSidecar(t *testing.T) {
	c := need(t)
	const lock = "wrapper-serve"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := c.NewToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kc := writeKubeconfig(t, dir, "direct", c.Host, c.CAFile, token, c.Namespace)
	var cands []*sidecar
	for _, id := range []string{"s1", "s2", "s3"} {
		cands = append(cands, startSidecar(t, dir, lock, kc, id))
	}
	obs := startSidecar(t, dir, lock, kc, "observer", "--observe-only")
	all := append([]*sidecar{obs}, cands...)

	l := agree(t, lock, all...)
	checkProbes(t, l.Holder, obs, cands...)
	var old *sidecar
	var standing []*sidecar
	for _, s := range cands {
		if s.ident == l.Holder {
			old = s
		} else {
			standing = append(standing, s)
		}
	}
	if old == nil {
		t.Fatalf("the Lease's holder %q is none of the sidecars", l.Holder)
	}

	// Long polls on a follower and on the observer, from the version each
	// shows now: each answer comes at a change (a renewal, the lease
	// running out, the new holder), until the holder is another.
	type result struct {
		v     view
		at    time.Time
		polls int
		err   error
	}
	watchers := []*sidecar{obs, standing[0]}
	results := make([]result, len(watchers))
	var wg sync.WaitGroup
	for i, s := range watchers {
		v, err := getView(s.base + "/")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(takeoverBound + 10*time.Second)
			r := &results[i]
			for time.Now().Before(deadline) {
				r.polls++
				v, r.err = getView(s.base + "/?wait=1&version=" + strconv.FormatUint(v.Version, 10))
				r.v, r.at = v, time.Now()
				if r.err != nil || v.Name != "" && v.Name != l.Holder {
					return
				}
			}
			r.err = fmt.Errorf("%s: no new holder by the deadline; last %+v", s.ident, v)
		}()
	}
	at := time.Now()
	if err := old.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "the killed sidecar to exit", func() bool { return !old.running() })

	nl := agree(t, lock, append([]*sidecar{obs}, standing...)...)
	var seen []string
	for i, r := range results {
		w := watchers[i]
		if r.err != nil {
			t.Fatalf("long poll on %s: %v", w.ident, r.err)
		}
		v := r.v
		if v.Name != nl.Holder || v.Term != nl.Transitions || v.Term != l.Transitions+1 || !sameTime(v.Acquired, nl.AcquireTime) ||
			v.Renewed == nil || v.Renewed.Before(nl.AcquireTime) || v.Renewed.After(nl.RenewTime) {
			t.Errorf("long poll on %s answered %+v (acquired %v renewed %v); the Lease now: %+v, before: term %d",
				w.ident, v, v.Acquired, v.Renewed, nl, l.Transitions)
			continue
		}
		// The takeover came by expiry (the killed sidecar released nothing).
		if d := v.Acquired.Sub(at); d < takeoverFloor || d > takeoverBound {
			t.Errorf("long poll on %s: %s acquired %v after the kill, want within [%v, %v]", w.ident, v.Name, d, takeoverFloor, takeoverBound)
		}
		// The answer came as the sidecar saw the change on its watch; 1s
		// covers a loaded machine.
		if d := r.at.Sub(*v.Acquired); d > time.Second {
			t.Errorf("long poll on %s answered %v after the acquisition, want within 1s", w.ident, d)
		}
		seen = append(seen, fmt.Sprintf("%s: %s (term %d) in %d polls, %v after the kill, %v after the acquisition",
			w.ident, v.Name, v.Term, r.polls, r.at.Sub(at).Round(time.Millisecond), r.at.Sub(*v.Acquired).Round(time.Millisecond)))
	}
	checkProbes(t, nl.Holder, obs, standing...)
	t.Logf("SUMMARY kubelect serve: 3 candidates + 1 observer agreed with the Lease (holder, term, acquire/renew times to the µs); "+
		"killed leader %s (term %d); long polls returned the new leader:%s", l.Holder, l.Transitions, lines(seen))
}
