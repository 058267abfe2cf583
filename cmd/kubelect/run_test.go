package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/internal/fakeclock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
	"github.com/kubelect/kubelect/kubeconfig"
)

// TestMain plays kubelect's guard when run as "PROGRAM guard ...", as
// kubelect run starts it (os.Executable is the test binary). It plays a CMD when $KUBELECT_TEST_CHILD is set: "hup" prints
// "up" once it catches SIGHUP, then "hup" at SIGHUP and exits 5; "log"
// appends "$KUBELECT_IDENTITY start $KUBELECT_TERM" to $F, prints "up",
// and at SIGTERM appends "$KUBELECT_IDENTITY stop" and exits 0.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == guardCommand {
		os.Exit(guardMain(os.Args[2:], os.Stderr))
	}
	switch os.Getenv("KUBELECT_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "hup":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGHUP)
		fmt.Println("up")
		<-c
		fmt.Println("hup")
		os.Exit(5)
	case "log":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		appendLine := func(s string) {
			f, err := os.OpenFile(os.Getenv("F"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				os.Exit(98)
			}
			fmt.Fprintln(f, os.Getenv("KUBELECT_IDENTITY"), s)
			f.Close()
		}
		appendLine("start " + os.Getenv("KUBELECT_TERM"))
		fmt.Println("up")
		<-c
		appendLine("stop")
		os.Exit(0)
	}
	os.Exit(99)
}

func TestKillAfterBound(t *testing.T) {
	for _, tc := range []struct {
		ld, rd      time.Duration
		max, defalt time.Duration
	}{
		// 15s × 0.99/1.01 = 14.7029…s; − 10s − 250ms.
		{15 * time.Second, 10 * time.Second, 4452970297 * time.Nanosecond, 2220 * time.Millisecond},
		{60 * time.Second, 40 * time.Second, 18561881188 * time.Nanosecond, 9280 * time.Millisecond},
		{3 * time.Second, 2 * time.Second, 690594059 * time.Nanosecond, 340 * time.Millisecond},
	} {
		if got := maxKillAfter(tc.ld, tc.rd); got != tc.max {
			t.Errorf("maxKillAfter(%s, %s) = %s, want %s", tc.ld, tc.rd, got, tc.max)
		}
		if got := defaultKillAfter(tc.ld, tc.rd); got != tc.defalt {
			t.Errorf("defaultKillAfter(%s, %s) = %s, want %s", tc.ld, tc.rd, got, tc.defalt)
		}
		// The bound's inequality holds at the bound, with the skew against us.
		ka := maxKillAfter(tc.ld, tc.rd)
		slow := float64(tc.rd+ka)*(1+maxClockRateSkew) + float64(killReapMargin)
		if fast := float64(tc.ld) * (1 - maxClockRateSkew); slow > fast+1 {
			t.Errorf("%s/%s: leader's stop+kill %gns after the renewal, another may take over at %gns", tc.ld, tc.rd, slow, fast)
		}
		if got, err := checkKillAfter(nil, tc.ld, tc.rd); err != nil || got != tc.defalt {
			t.Errorf("checkKillAfter(unset): %s, %v", got, err)
		}
		if got, err := checkKillAfter(&ka, tc.ld, tc.rd); err != nil || got != ka {
			t.Errorf("checkKillAfter(max): %s, %v", got, err)
		}
		over := ka + time.Millisecond
		if _, err := checkKillAfter(&over, tc.ld, tc.rd); err == nil || !strings.Contains(err.Error(), "is not safe") {
			t.Errorf("checkKillAfter(%s): %v", over, err)
		}
	}
	// 10.4s of lease after a 10s deadline is eaten by the skew margin.
	if _, err := checkKillAfter(nil, 10400*time.Millisecond, 10*time.Second); err == nil || !strings.Contains(err.Error(), "leaves no time to stop CMD") {
		t.Errorf("tight timings: %v", err)
	}
	neg := -time.Second
	if _, err := checkKillAfter(&neg, 15*time.Second, 10*time.Second); err == nil {
		t.Error("negative --kill-after accepted")
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--name=x"}, "no command"},
		{[]string{"run", "--name=x", "--"}, "no command"},
		{[]string{"run", "--", "true"}, "--name is required"},
		{[]string{"run", "--name=x", "--on-exit=again", "--", "true"}, `--on-exit "again"`},
		{[]string{"run", "--name=x", "--kill-after=5s", "--", "true"}, "--kill-after 5s is not safe"},
		{[]string{"run", "--name=x", "--kill-after=soon", "--", "true"}, `invalid value "soon"`},
		{[]string{"run", "--name=x", "--lease-duration=10400ms", "--", "true"}, "leaves no time to stop CMD"},
	} {
		te := newTestEnv(t)
		if code := te.run(tc.args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr: %s", tc.args, code, exitUsage, te.stderr)
			continue
		}
		if stderr := te.stderr.String(); !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Run 'kubelect run --help'") {
			t.Errorf("%v: stderr lacks %q:\n%s", tc.args, tc.want, stderr)
		}
		if len(te.loaded) > 0 {
			t.Errorf("%v: loaded a config", tc.args)
		}
	}
}

// Short timings for the tests on the real clock: the default kill-after
// is 340ms.
var fastTimings = []string{"--lease-duration=3s", "--renew-deadline=2s", "--retry-period=200ms"}

// newTestEnvOn is newTestEnv on an existing server.
func newTestEnvOn(t *testing.T, srv *testapiserver.Server) *testEnv {
	te := newTestEnv(t)
	te.srv = srv
	te.app.loadConfig = func(kubeconfig.Options) (*k8sapi.Config, error) {
		cfg := srv.Config()
		cfg.Namespace = "team-a"
		return &cfg, nil
	}
	return te
}

// started runs "kubelect run args..." in the background; its exit code
// arrives on the channel. Cancelling the context is SIGTERM to kubelect.
func (te *testEnv) start(t *testing.T, args ...string) (context.CancelFunc, <-chan int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- te.app.run(ctx, append([]string{"run"}, args...)) }()
	t.Cleanup(cancel)
	return cancel, code
}

// exit waits for kubelect's exit code, failing after a bound that only a
// hang reaches.
func (te *testEnv) exit(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(30 * time.Second):
		t.Fatalf("kubelect run did not exit; stdout:\n%s\nstderr:\n%s", te.stdout, te.stderr)
		return 0
	}
}

// holder reads the lock's holder.
func (te *testEnv) holder(t *testing.T) (string, int) {
	t.Helper()
	rec, _, err := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "reader").Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rec.HolderIdentity, rec.LeaderTransitions
}

// waitLine returns the first line of b containing s.
func waitLine(t *testing.T, b *syncBuffer, s string) string {
	t.Helper()
	for {
		if l := b.next(t); strings.Contains(l, s) {
			return l
		}
	}
}

func TestRunExitCodeAndEnv(t *testing.T) {
	te := newTestEnv(t)
	_, code := te.start(t, append(fastTimings, "--name=my-lock", "--identity=pod-a", "--",
		"sh", "-c", `echo "env $KUBELECT_TERM $KUBELECT_IDENTITY $KUBELECT_LOCK"; exit 7`)...)
	if c := te.exit(t, code); c != 7 {
		t.Fatalf("exit %d, want CMD's 7; stderr:\n%s", c, te.stderr)
	}
	if l := te.stdout.next(t); l != "env 0 pod-a team-a/my-lock" {
		t.Errorf("CMD's environment: %q", l)
	}
	if h, term := te.holder(t); h != "" || term != 0 {
		t.Errorf("after exit, lock held by %q (term %d); want released", h, term)
	}
}

func TestRunCannotStart(t *testing.T) {
	te := newTestEnv(t)
	_, code := te.start(t, append(fastTimings, "--name=my-lock", "--", filepath.Join(t.TempDir(), "nonesuch"))...)
	if c := te.exit(t, code); c != exitNotFound {
		t.Fatalf("exit %d, want %d; stderr:\n%s", c, exitNotFound, te.stderr)
	}
	if h, _ := te.holder(t); h != "" {
		t.Errorf("lock held by %q; want released", h)
	}
}

// signalHook gives the test the channel kubelect's signals arrive on.
func signalHook(te *testEnv) <-chan chan<- os.Signal {
	got := make(chan chan<- os.Signal, 1)
	te.app.notify = func(c chan<- os.Signal, _ ...os.Signal) { got <- c }
	te.app.stopNotify = func(chan<- os.Signal) {}
	return got
}

func TestRunSignals(t *testing.T) {
	t.Run("SIGHUP is passed on", func(t *testing.T) {
		te := newTestEnv(t)
		sigs := signalHook(te)
		te.app.environ = func() []string { return append(os.Environ(), "KUBELECT_TEST_CHILD=hup") }
		_, code := te.start(t, append(fastTimings, "--name=my-lock", "--", os.Args[0])...)
		c := <-sigs
		waitLine(t, te.stdout, "up")
		waitLine(t, te.stderr, "CMD started") // kubelect knows CMD's pid
		c <- syscall.SIGHUP
		if got := te.exit(t, code); got != 5 {
			t.Fatalf("exit %d, want CMD's 5; stderr:\n%s", got, te.stderr)
		}
		waitLine(t, te.stdout, "hup")
	})
	t.Run("SIGINT stops CMD with SIGINT", func(t *testing.T) {
		te := newTestEnv(t)
		sigs := signalHook(te)
		_, code := te.start(t, append(fastTimings, "--name=my-lock", "--", "sh", "-c", `echo up; exec sleep 1000`)...)
		c := <-sigs
		waitLine(t, te.stdout, "up")
		c <- syscall.SIGINT
		if got := te.exit(t, code); got != 128+int(syscall.SIGINT) {
			t.Fatalf("exit %d, want 130; stderr:\n%s", got, te.stderr)
		}
		if h, _ := te.holder(t); h != "" {
			t.Errorf("lock held by %q; want released", h)
		}
	})
	t.Run("a stop caused by SIGINT in the context", func(t *testing.T) {
		// As main cancels the context on SIGINT.
		te := newTestEnv(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		code := make(chan int, 1)
		go func() {
			code <- te.app.run(ctx, append([]string{"run"}, append(fastTimings, "--name=my-lock", "--", "sh", "-c", `echo up; exec sleep 1000`)...))
		}()
		waitLine(t, te.stdout, "up")
		cancel(&stopSignal{syscall.SIGINT})
		if got := te.exit(t, code); got != 128+int(syscall.SIGINT) {
			t.Fatalf("exit %d, want 130; stderr:\n%s", got, te.stderr)
		}
	})
	t.Run("stopped while not leading", func(t *testing.T) {
		te := newTestEnv(t)
		other := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "other")
		now := time.Now()
		if err := other.Create(context.Background(), rl.LeaderElectionRecord{HolderIdentity: "other", LeaseDurationSeconds: 3600,
			AcquireTime: rl.NewTime(now), RenewTime: rl.NewTime(now)}); err != nil {
			t.Fatal(err)
		}
		cancel, code := te.start(t, append(fastTimings, "--name=my-lock", "--", "sh", "-c", `echo started`)...)
		waitLine(t, te.stderr, "standing")
		cancel()
		if got := te.exit(t, code); got != exitOK {
			t.Fatalf("exit %d, want 0; stderr:\n%s", got, te.stderr)
		}
		if out := te.stdout.String(); out != "" {
			t.Errorf("CMD ran without leading: %q", out)
		}
	})
}

// newFakeClock is a fake clock for the tests that time the guard and the
// kill.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// With --on-exit=restand, a CMD that exits makes kubelect release the lock
// and stand again, in a new term.
func TestRunRestand(t *testing.T) {
	te := newTestEnv(t)
	cancel, code := te.start(t, append(fastTimings, "--name=my-lock", "--on-exit=restand", "--",
		"sh", "-c", `echo "run $KUBELECT_TERM"`)...)
	if l := waitLine(t, te.stdout, "run"); l != "run 0" {
		t.Errorf("first CMD: %q", l)
	}
	waitLine(t, te.stderr, "releasing the lock and standing again")
	if l := waitLine(t, te.stdout, "run"); l != "run 1" {
		t.Errorf("second CMD: %q, want a new term", l)
	}
	cancel()
	// 0 between two CMDs, or when the running one exits on its own;
	// 143 when SIGTERM finds a third one running.
	if c := te.exit(t, code); c != exitOK && c != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d; stderr:\n%s", c, te.stderr)
	}
}

// A CMD that ignores SIGTERM gets SIGKILL when, and only when, the fake
// clock reaches --kill-after.
func TestRunKillsStubbornCMD(t *testing.T) {
	te := newTestEnv(t)
	clock := newFakeClock()
	te.app.clock = clock
	cancel, code := te.start(t, "--name=my-lock", "--kill-after=1500ms", "--",
		"sh", "-c", `trap '' TERM; echo up; exec sleep 1000`)
	waitLine(t, te.stdout, "up")
	cancel()
	waitLine(t, te.stderr, "leadership ended: stopping CMD")
	clock.WaitTimer(t, 1500*time.Millisecond) // the kill timer runs
	select {
	case c := <-code:
		t.Fatalf("exit %d before the kill time; stderr:\n%s", c, te.stderr)
	default:
	}
	if strings.Contains(te.stderr.String(), "SIGKILL") {
		t.Fatalf("SIGKILL before the kill time:\n%s", te.stderr)
	}
	clock.Advance(1500 * time.Millisecond)
	if c := te.exit(t, code); c != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want 137; stderr:\n%s", c, te.stderr)
	}
	if !strings.Contains(te.stderr.String(), "CMD has not exited: SIGKILL") {
		t.Errorf("no SIGKILL logged:\n%s", te.stderr)
	}
	if h, _ := te.holder(t); h != "" {
		t.Errorf("lock held by %q; want released once CMD is dead", h)
	}
}

// When the API server stops answering, the leader's stop closes at its
// renew deadline and CMD (which ignores SIGTERM) is dead before another
// candidate could take the lock.
func TestRunLostKillsInTime(t *testing.T) {
	te := newTestEnv(t)
	cancel, code := te.start(t, append(fastTimings, "--name=my-lock", "--",
		"sh", "-c", `trap '' TERM; echo up; exec sleep 1000`)...)
	waitLine(t, te.stdout, "up")
	hang := time.Now() // after the last successful renewal was sent
	te.srv.SetHang(true)
	waitLine(t, te.stderr, "CMD exited")
	dead := time.Since(hang)
	// Another candidate that saw the last renewal could take over at
	// LeaseDuration after it, by its clock (1% fast at worst).
	if limit := time.Duration(float64(3*time.Second) * (1 - maxClockRateSkew)); dead >= limit {
		t.Errorf("CMD dead %s after the server hung; another candidate may take over at %s", dead, limit)
	}
	if !strings.Contains(te.stderr.String(), "SIGKILL") {
		t.Errorf("no SIGKILL logged:\n%s", te.stderr)
	}
	t.Logf("CMD dead %s after the server hung (renew deadline 2s, kill after 340ms)", dead)
	cancel()
	te.srv.SetHang(false)
	if c := te.exit(t, code); c != exitOK {
		t.Errorf("exit %d after stopping while not leading; stderr:\n%s", c, te.stderr)
	}
}

// A planned transfer stops the leader's CMD, and the preferred candidate
// starts its CMD only after that.
func TestRunTransfer(t *testing.T) {
	a := newTestEnv(t)
	b := newTestEnvOn(t, a.srv)
	file := filepath.Join(t.TempDir(), "log")
	child := []string{"--", os.Args[0]}
	for _, te := range []*testEnv{a, b} {
		// GORACE: the race detector's exit waits 1s by default.
		te.app.environ = func() []string {
			return append(os.Environ(), "F="+file, "KUBELECT_TEST_CHILD=log", "GORACE=atexit_sleep_ms=0")
		}
	}
	cancelA, codeA := a.start(t, append(append(fastTimings, "--name=my-lock", "--identity=pod-a"), child...)...)
	waitLine(t, a.stdout, "up")
	cancelB, codeB := b.start(t, append(append(fastTimings, "--name=my-lock", "--identity=pod-b"), child...)...)
	waitLine(t, b.stderr, "standing")
	client := a.srv.Client()
	if err := rl.RequestTransfer(context.Background(), client, "team-a", "my-lock", "pod-b"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, b.stdout, "up")
	b0, _ := os.ReadFile(file)
	if want := "pod-a start 0\npod-a stop\npod-b start 1\n"; string(b0) != want {
		t.Errorf("CMD log:\n%s\nwant:\n%s", b0, want)
	}
	cancelA()
	cancelB()
	if c := a.exit(t, codeA); c != exitOK {
		t.Errorf("a: exit %d; stderr:\n%s", c, a.stderr)
	}
	if c := b.exit(t, codeB); c != 0 {
		t.Errorf("b: exit %d; stderr:\n%s", c, b.stderr)
	}
}

// The same on the fake clock: with the server hung from the start, the
// leader's stop closes at the renew deadline after it sent its acquiring
// write, CMD gets SIGTERM then, and SIGKILL --kill-after later, when the
// clock shows less than the lease another candidate waits out.
func TestRunLostKillsInTimeFakeClock(t *testing.T) {
	te := newTestEnv(t)
	clock := newFakeClock()
	te.app.clock = clock
	start := clock.Now() // the acquiring write is sent at this time
	cancel, code := te.start(t, "--name=my-lock", "--",
		"sh", "-c", `trap '' TERM; echo up; exec sleep 1000`)
	waitLine(t, te.stdout, "up")
	te.srv.SetHang(true)
	defer te.srv.SetHang(false)
	clock.Advance(10 * time.Second) // the renew deadline
	waitLine(t, te.stderr, "leadership ended: stopping CMD")
	ka := defaultKillAfter(15*time.Second, 10*time.Second)
	clock.WaitTimer(t, ka)
	if strings.Contains(te.stderr.String(), "CMD exited") {
		t.Fatalf("CMD, which ignores SIGTERM, exited before SIGKILL:\n%s", te.stderr)
	}
	clock.Advance(ka)
	waitLine(t, te.stderr, "CMD exited")
	if !strings.Contains(te.stderr.String(), "CMD has not exited: SIGKILL") {
		t.Errorf("no SIGKILL logged:\n%s", te.stderr)
	}
	dead := clock.Now().Sub(start)
	ld := 15 * time.Second
	if limit := time.Duration(float64(ld)*(1-maxClockRateSkew)/(1+maxClockRateSkew)) - killReapMargin; dead > limit {
		t.Errorf("CMD killed %s after the last renewal was sent; must be by %s", dead, limit)
	}
	cancel()
	te.srv.SetHang(false)
	if c := te.exit(t, code); c != exitOK {
		t.Errorf("exit %d after stopping while not leading; stderr:\n%s", c, te.stderr)
	}
}

// When CMD exits, what it left in its process group gets SIGKILL: nothing
// it started acts on after the lock is released.
func TestRunKillsCMDsGroup(t *testing.T) {
	te := newTestEnv(t)
	_, code := te.start(t, append(fastTimings, "--name=my-lock", "--",
		"sh", "-c", `trap '' TERM; sleep 1000 & echo "left $!"; exit 4`)...)
	l := waitLine(t, te.stdout, "left")
	pid, err := strconv.Atoi(strings.TrimPrefix(l, "left "))
	if err != nil {
		t.Fatal(l)
	}
	if c := te.exit(t, code); c != 4 {
		t.Fatalf("exit %d, want CMD's 4; stderr:\n%s", c, te.stderr)
	}
	// SIGKILL was sent before kubelect returned; the kernel ends the
	// process promptly, and its new parent reaps it (or leaves a zombie).
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break // gone
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			break // dead, not yet reaped
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("CMD's background process %d still runs 10s after kubelect exited: %s", pid, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunListen(t *testing.T) {
	te := newTestEnv(t)
	addr := make(chan string, 1)
	te.app.listen = func(string, string) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addr <- ln.Addr().String()
		}
		return ln, err
	}
	stop, code := te.start(t, append(fastTimings, "--name=my-lock", "--identity=pod-a", "--listen=:0", "--",
		"sh", "-c", `echo up; exec sleep 1000`)...)
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case c := <-code:
		t.Fatalf("exit %d; stderr:\n%s", c, te.stderr)
	}
	waitLine(t, te.stdout, "up")
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok"} {
		if code, body := get(t, base+path); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
	// CMD runs once the elector has reported leading.
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "kubelect_leader{lock=\"team-a/my-lock\"} 1\n") {
		t.Errorf("GET /metrics: %d:\n%s", code, body)
	}
	stop()
	if c := te.exit(t, code); c != 128+15 {
		t.Errorf("exit %d, want 143 (CMD killed by SIGTERM)", c)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the HTTP server still answers after kubelect run returned")
	}
}

// leaseVersion returns the resourceVersion of the Lease team-a/my-lock as
// stored now.
func (te *testEnv) leaseVersion(t *testing.T) string {
	t.Helper()
	obj, err := te.srv.Client().Get(context.Background(), k8sapi.Leases, "team-a", "my-lock")
	if err != nil {
		t.Fatal(err)
	}
	return obj.ResourceVersion()
}

// writeAfter returns the holder and the resourceVersion of the first write
// of the Lease team-a/my-lock after resourceVersion rv, from the server's
// watch history.
func (te *testEnv) writeAfter(t *testing.T, rv string) (holder, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := te.srv.Client().Watch(ctx, k8sapi.Leases, "team-a", "my-lock", k8sapi.WatchOptions{ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e, err := w.Next()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := e.Object.Field("spec", "holderIdentity")
	var s string
	_ = json.Unmarshal(h, &s)
	return s, e.Object.ResourceVersion()
}

// releasedLock creates the Lease team-a/my-lock released, as another
// candidate that left would; it returns its resourceVersion.
func (te *testEnv) releasedLock(t *testing.T) string {
	t.Helper()
	if err := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "gone").Create(context.Background(), record("", 0, time.Now())); err != nil {
		t.Fatal(err)
	}
	return te.leaseVersion(t)
}

// CMD gets the resourceVersion of the write that took the lock as
// KUBELECT_FENCING_TOKEN, beside the term.
func TestRunFencingToken(t *testing.T) {
	te := newTestEnv(t)
	before := te.releasedLock(t)
	// One inherited from a kubelect this one runs under is no token of
	// CMD's leadership.
	te.app.environ = func() []string { return append(os.Environ(), "KUBELECT_FENCING_TOKEN=999999") }
	_, code := te.start(t, append(fastTimings, "--name=my-lock", "--identity=pod-a", "--",
		"sh", "-c", `echo "token $KUBELECT_FENCING_TOKEN term $KUBELECT_TERM"; exit 3`)...)
	if c := te.exit(t, code); c != 3 {
		t.Fatalf("exit %d, want CMD's 3; stderr:\n%s", c, te.stderr)
	}
	holder, acquired := te.writeAfter(t, before)
	if holder != "pod-a" {
		t.Fatalf("the first write after the release holds %q, want pod-a's acquisition", holder)
	}
	if l := waitLine(t, te.stdout, "token"); l != "token "+acquired+" term 1" {
		t.Errorf("CMD's environment: %q, want the acquiring write's resourceVersion %s and term 1", l, acquired)
	}
	if !strings.Contains(te.stderr.String(), "fencingToken="+acquired) {
		t.Errorf("CMD's start does not log its token:\n%s", te.stderr)
	}
}

// otherLock is a lock of another package: it does not tell the elector
// its resourceVersions.
type otherLock struct{ rl.Interface }

// Without a token (a lock or server that gives none) CMD runs without
// KUBELECT_FENCING_TOKEN, an inherited one included, and the reason is
// logged once, not at every leadership.
func TestRunNoFencingToken(t *testing.T) {
	te := newTestEnv(t)
	te.app.wrapLock = func(l rl.Interface) rl.Interface { return otherLock{l} }
	te.app.environ = func() []string { return append(os.Environ(), "KUBELECT_FENCING_TOKEN=999999") }
	cancel, code := te.start(t, append(fastTimings, "--name=my-lock", "--identity=pod-a", "--on-exit=restand", "--",
		"sh", "-c", `echo "run ${KUBELECT_FENCING_TOKEN-unset} $KUBELECT_TERM"`)...)
	if l := waitLine(t, te.stdout, "run"); l != "run unset 0" {
		t.Errorf("first CMD: %q, want no token", l)
	}
	if l := waitLine(t, te.stdout, "run"); l != "run unset 1" {
		t.Errorf("second CMD: %q, want no token", l)
	}
	cancel()
	if c := te.exit(t, code); c != exitOK && c != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %d; stderr:\n%s", c, te.stderr)
	}
	logs := te.stderr.String()
	if n := strings.Count(logs, "no fencing token for CMD"); n != 1 {
		t.Errorf("the missing token logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "does not tell its resourceVersion") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
}
