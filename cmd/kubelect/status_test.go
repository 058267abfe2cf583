package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

func TestStatusAbsent(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("status", "--name=my-lock"); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, te.stderr)
	}
	lines := strings.Split(strings.TrimSpace(te.stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "KIND") {
		t.Fatalf("output:\n%s", te.stdout)
	}
	if f := strings.Fields(lines[1]); len(f) != 10 || f[0] != "leases" || f[1] != "team-a/my-lock" || f[2] != "absent" || f[3] != "-" || f[5] != "-" {
		t.Errorf("row: %q", f)
	}
}

func TestStatusHeld(t *testing.T) {
	te := newTestEnv(t)
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "pod-a").Create(context.Background(), record("pod-a", 3, at)); err != nil {
		t.Fatal(err)
	}
	if code := te.run("status", "--name=my-lock"); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, te.stderr)
	}
	lines := strings.Split(strings.TrimSpace(te.stdout.String()), "\n")
	f := strings.Fields(lines[len(lines)-1])
	// A one-shot status reads the lock: it cannot know the token of a
	// leadership it did not see begin.
	want := []string{"leases", "team-a/my-lock", "held", "pod-a", "3", "-", "2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z", "15s"}
	if len(f) != 10 || strings.Join(f[:9], " ") != strings.Join(want, " ") {
		t.Errorf("row %q, want %q and the time left", f, want)
	}
	if left, err := time.ParseDuration(f[9]); err != nil || left <= 0 || left > 15*time.Second {
		t.Errorf("time left %q", f[9])
	}
	if !strings.Contains(lines[0], "TERM  TOKEN") {
		t.Errorf("header %q", lines[0])
	}
}

func TestStatusJSONConfigMap(t *testing.T) {
	te := newTestEnv(t)
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := te.lock(t, rl.ConfigMapsResourceLock, "ns-b", "my-lock", "pod-a").Create(context.Background(), record("pod-a", 2, at)); err != nil {
		t.Fatal(err)
	}
	if code := te.run("status", "--name=my-lock", "-n", "ns-b", "--lock-kind=configmaps", "-o", "json"); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, te.stderr)
	}
	var got statusJSON
	if err := json.Unmarshal([]byte(te.stdout.String()), &got); err != nil {
		t.Fatalf("%v: %s", err, te.stdout)
	}
	if got.Kind != "configmaps" || got.Namespace != "ns-b" || got.Name != "my-lock" || got.State != "held" || !got.Exists ||
		got.Holder != "pod-a" || got.Term != 2 || got.LeaseDurationSeconds != 15 || got.Version != 1 ||
		got.AcquireTime == nil || !got.AcquireTime.Equal(at) || got.RenewTime == nil || !got.RenewTime.Equal(at) ||
		got.Expiry == nil || !got.Expiry.Equal(got.ObservedAt.Add(15*time.Second)) ||
		got.RemainingSeconds <= 0 || got.RemainingSeconds > 15 || got.FencingToken != "" {
		t.Errorf("status %+v", got)
	}
	if strings.Contains(te.stdout.String(), "fencingToken") {
		t.Errorf("an unknown token is in the JSON: %s", te.stdout)
	}
}

func TestStatusWatch(t *testing.T) {
	te := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- te.app.run(ctx, []string{"status", "--name=my-lock", "-w", "-o", "json"}) }()

	next := func() statusJSON {
		t.Helper()
		var ob statusJSON
		if line := te.stdout.next(t); json.Unmarshal([]byte(line), &ob) != nil {
			t.Fatalf("not JSON: %q", line)
		}
		return ob
	}
	if ob := next(); ob.State != "absent" || ob.Version != 1 {
		t.Fatalf("first: %+v", ob)
	}
	lock := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "pod-a")
	at := time.Now()
	if err := lock.Create(ctx, record("pod-a", 1, at)); err != nil {
		t.Fatal(err)
	}
	if ob := next(); ob.State != "held" || ob.Holder != "pod-a" || ob.Term != 1 || ob.Version != 2 {
		t.Fatalf("after create: %+v", ob)
	}
	released := record("", 1, at)
	if err := lock.Update(ctx, released); err != nil {
		t.Fatal(err)
	}
	if ob := next(); ob.State != "released" || ob.Holder != "" || ob.Version != 3 || ob.RemainingSeconds != 0 || ob.Expiry != nil {
		t.Fatalf("after release: %+v", ob)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("exit %d after interrupt; stderr: %s", c, te.stderr)
	}
}

func TestStatusUnreachable(t *testing.T) {
	te := newTestEnv(t)
	te.srv.SetHang(true)
	defer te.srv.SetHang(false)
	if code := te.run("status", "--name=my-lock", "--timeout=1ms"); code != exitError {
		t.Fatalf("exit %d, want 1; stderr: %s", code, te.stderr)
	}
	if got := te.stderr.String(); !strings.Contains(got, "kubelect status: no answer about leases team-a/my-lock within 1ms") {
		t.Errorf("stderr: %s", got)
	}
}

// With -w the token of a leadership that began while the command watched
// is in the table and the JSON: the resourceVersion of the write that took
// the lock. One it did not see begin is not, and a released lock has none.
func TestStatusWatchFencingToken(t *testing.T) {
	for _, format := range []string{"json", "table"} {
		t.Run(format, func(t *testing.T) {
			te := newTestEnv(t)
			before := te.releasedLock(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"status", "--name=my-lock", "-w",
				// No polling: every change after the first read comes
				// from the watch.
				"--retry-period=20m", "--renew-deadline=30m", "--lease-duration=1h"}
			if format == "json" {
				args = append(args, "-o", "json")
			}
			code := make(chan int, 1)
			go func() { code <- te.app.run(ctx, args) }()

			// next returns the holder and token of the next line.
			next := func() (string, string) {
				t.Helper()
				line := te.stdout.next(t)
				if format == "table" {
					if strings.HasPrefix(line, "KIND") {
						line = te.stdout.next(t)
					}
					f := strings.Fields(line)
					if len(f) != 10 {
						t.Fatalf("row %q", line)
					}
					return f[3], f[5]
				}
				var ob statusJSON
				if json.Unmarshal([]byte(line), &ob) != nil {
					t.Fatalf("not JSON: %q", line)
				}
				if ob.Holder == "" {
					ob.Holder = "-"
				}
				if ob.FencingToken == "" {
					ob.FencingToken = "-"
				}
				return ob.Holder, ob.FencingToken
			}
			if h, tok := next(); h != "-" || tok != "-" {
				t.Fatalf("first: holder %q token %q, want the released lock", h, tok)
			}
			lock := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "pod-a")
			if _, _, err := lock.Get(ctx); err != nil {
				t.Fatal(err)
			}
			at := time.Now()
			if err := lock.Update(ctx, record("pod-a", 1, at)); err != nil {
				t.Fatal(err)
			}
			// The watch may have started after this write (then it shows
			// the state, without a token): never another token.
			_, acquired := te.writeAfter(t, before)
			if h, tok := next(); h != "pod-a" || tok != "-" && tok != acquired {
				t.Fatalf("after pod-a's acquisition: holder %q token %q, want pod-a and %s or none", h, tok, acquired)
			}
			if err := lock.Update(ctx, record("", 1, at)); err != nil {
				t.Fatal(err)
			}
			if h, tok := next(); h != "-" || tok != "-" {
				t.Fatalf("after the release: holder %q token %q", h, tok)
			}
			released := te.leaseVersion(t)
			b := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "pod-b")
			if _, _, err := b.Get(ctx); err != nil {
				t.Fatal(err)
			}
			if err := b.Update(ctx, record("pod-b", 2, at.Add(time.Second))); err != nil {
				t.Fatal(err)
			}
			holder, acquiredB := te.writeAfter(t, released)
			if holder != "pod-b" {
				t.Fatalf("the write after the release holds %q", holder)
			}
			if h, tok := next(); h != "pod-b" || tok != acquiredB {
				t.Fatalf("after pod-b's acquisition: holder %q token %q, want pod-b and %s", h, tok, acquiredB)
			}
			cancel()
			if c := <-code; c != exitOK {
				t.Errorf("exit %d after interrupt; stderr: %s", c, te.stderr)
			}
		})
	}
}
