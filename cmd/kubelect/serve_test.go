package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// startServe runs "kubelect serve args..." until the test ends and returns
// its base URL.
func startServe(t *testing.T, te *testEnv, args ...string) string {
	t.Helper()
	addr := make(chan string, 1)
	te.app.listen = func(string, string) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addr <- ln.Addr().String()
		}
		return ln, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- te.app.run(ctx, append([]string{"serve"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != exitOK {
			t.Errorf("serve exit %d; stderr: %s", c, te.stderr)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case c := <-code:
		t.Fatalf("serve exit %d; stderr: %s", c, te.stderr)
		return ""
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// leader long-polls "/" until host leads.
func waitLeader(t *testing.T, base, holder string) leaderJSON {
	t.Helper()
	var v leaderJSON
	for range 100 {
		code, body := get(t, base+"/?wait=1&version="+jsonUint(v.Version))
		if code != 200 {
			t.Fatalf("GET /: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if v.Name == holder && v.State == "held" {
			return v
		}
	}
	t.Fatalf("%s never leads; last %+v", holder, v)
	return v
}

func jsonUint(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestServe(t *testing.T) {
	te := newTestEnv(t)
	base := startServe(t, te, "--name=my-lock", "--identity=pod-a", "--log-level=error")
	v := waitLeader(t, base, "pod-a")
	if v.Term != 0 || v.Acquired == nil || v.Renewed == nil || v.LeaseExpiry == nil || v.LeaseDurationSeconds != 15 || v.Version == 0 {
		t.Errorf("GET /: %+v", v)
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ok"} {
		if code, body := get(t, base+path); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
	// The observer behind "/" may see the Lease before the elector's
	// hooks have reported its acquisition: wait for the metrics, bounded.
	wants := []string{
		"kubelect_leader{lock=\"team-a/my-lock\"} 1\n",
		"kubelect_acquire_attempts_total{lock=\"team-a/my-lock\",outcome=\"acquired\"} 1\n",
		"kubelect_request_duration_seconds_count{lock=\"team-a/my-lock\",op=\"create\"} 1\n",
	}
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, body = get(t, base+"/metrics")
		missing := code != 200
		for _, want := range wants {
			missing = missing || !strings.Contains(body, want)
		}
		if !missing || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, want := range wants {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics: %d, lacks %q:\n%s", code, want, body)
		}
	}
	if code, _ := get(t, base+"/?wait=1&version=x"); code != 400 {
		t.Errorf("bad version: %d", code)
	}
}

func TestServeObserveOnly(t *testing.T) {
	te := newTestEnv(t)
	base := startServe(t, te, "--name=my-lock", "--observe-only", "--log-level=error")
	var v leaderJSON
	code, body := get(t, base+"/?wait=1&version=0")
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.State != "absent" || v.Name != "" || v.Version != 1 {
		t.Fatalf("GET /: %d %s", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("GET /readyz: %d", code)
	}
	// It never writes: the lock is still absent.
	if _, ok := te.srv.Get("coordination.k8s.io", "leases", "team-a", "my-lock"); ok {
		t.Error("observe-only created the lock")
	}
}

// getLeader long-polls "/" for the first answer after version known.
func getLeader(t *testing.T, base string, known uint64) leaderJSON {
	t.Helper()
	code, body := get(t, base+"/?wait=1&version="+jsonUint(known))
	var v leaderJSON
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
		t.Fatalf("GET /: %d %s", code, body)
	}
	return v
}

// While it leads, serve shows its own fencing token: the resourceVersion of
// the write that took the lock. Here that write creates the lock, which
// its observer cannot tell from the current state a watch starts with:
// the token can only be the elector's.
func TestServeFencingToken(t *testing.T) {
	te := newTestEnv(t)
	// Another object's write, to find the lock's first after it.
	if err := te.srv.Put("", "configmaps", []byte(`{"metadata":{"namespace":"team-a","name":"other"}}`)); err != nil {
		t.Fatal(err)
	}
	other, err := te.srv.Client().Get(context.Background(), k8sapi.ConfigMaps, "team-a", "other")
	if err != nil {
		t.Fatal(err)
	}
	base := startServe(t, te, append(fastTimings, "--name=my-lock", "--identity=pod-a", "--log-level=info")...)
	v := waitLeader(t, base, "pod-a")
	holder, acquired := te.writeAfter(t, other.ResourceVersion())
	if holder != "pod-a" {
		t.Fatalf("the lock's first write holds %q, want pod-a's acquisition", holder)
	}
	// The observer can show pod-a a moment before the elector knows it
	// leads; the elector's token is there at the next change (a renewal).
	for i := 0; v.FencingToken == "" && i < 100; i++ {
		v = getLeader(t, base, v.Version)
	}
	if v.Name != "pod-a" || v.FencingToken != acquired {
		t.Errorf("GET /: %+v, want pod-a with token %s", v, acquired)
	}
	waitLine(t, te.stderr, "fencingToken="+acquired) // the log line of its leadership
}

// An observer shows the token of a leadership it saw begin, never one it
// did not, and none for a released lock.
func TestServeObserveOnlyFencingToken(t *testing.T) {
	te := newTestEnv(t)
	te.releasedLock(t)
	// No polling: every change after the first read comes from the watch.
	base := startServe(t, te, "--name=my-lock", "--observe-only", "--log-level=error",
		"--retry-period=20m", "--renew-deadline=30m", "--lease-duration=1h")
	v := getLeader(t, base, 0)
	if v.State != "released" || v.FencingToken != "" {
		t.Fatalf("GET /: %+v, want the released lock, no token", v)
	}
	ctx := context.Background()
	at := time.Now()
	for i, id := range []string{"pod-x", "pod-y"} {
		before := te.leaseVersion(t)
		lock := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", id)
		if _, _, err := lock.Get(ctx); err != nil {
			t.Fatal(err)
		}
		if err := lock.Update(ctx, record(id, i+1, at.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
		_, acquired := te.writeAfter(t, before)
		v = getLeader(t, base, v.Version)
		switch {
		case v.Name != id:
			t.Fatalf("GET /: %+v, want %s", v, id)
		case i == 0 && v.FencingToken != "" && v.FencingToken != acquired:
			// The watch may have started after this write.
			t.Errorf("GET /: %+v, want %s's token %s or none", v, id, acquired)
		case i == 1 && v.FencingToken != acquired:
			t.Errorf("GET /: %+v, want %s's token %s", v, id, acquired)
		}
		if err := lock.Update(ctx, record("", i+1, at)); err != nil {
			t.Fatal(err)
		}
		if v = getLeader(t, base, v.Version); v.State != "released" || v.FencingToken != "" {
			t.Fatalf("GET /: %+v, want the released lock, no token", v)
		}
	}
}
