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
	if f := strings.Fields(lines[1]); len(f) != 9 || f[0] != "leases" || f[1] != "team-a/my-lock" || f[2] != "absent" || f[3] != "-" {
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
	want := []string{"leases", "team-a/my-lock", "held", "pod-a", "3", "2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z", "15s"}
	if len(f) != 9 || strings.Join(f[:8], " ") != strings.Join(want, " ") {
		t.Errorf("row %q, want %q and the time left", f, want)
	}
	if left, err := time.ParseDuration(f[8]); err != nil || left <= 0 || left > 15*time.Second {
		t.Errorf("time left %q", f[8])
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
		got.RemainingSeconds <= 0 || got.RemainingSeconds > 15 {
		t.Errorf("status %+v", got)
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
