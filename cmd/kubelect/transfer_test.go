package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelect/kubelect/election"
	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// stand starts a candidate on the test server that stands until the test
// ends; leads gets its identity each time it starts leading.
func stand(t *testing.T, te *testEnv, identity string, leads chan<- string) {
	t.Helper()
	lock := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", identity)
	le, err := election.NewLeaderElector(election.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Callbacks: election.LeaderCallbacks{
			OnStartedLeading: func(stop <-chan struct{}) {
				leads <- identity
				<-stop
			},
			OnStoppedLeading: func() {},
		},
		ReleaseOnCancel: true,
		Name:            identity,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); le.Stand(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func TestTransfer(t *testing.T) {
	te := newTestEnv(t)
	leads := make(chan string, 10)
	stand(t, te, "pod-a", leads)
	if got := <-leads; got != "pod-a" {
		t.Fatalf("%s leads first", got)
	}
	stand(t, te, "pod-b", leads)

	if code := te.run("transfer", "--name=my-lock", "--to=pod-b", "--log-format=json"); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, te.stderr)
	}
	if got := <-leads; got != "pod-b" {
		t.Fatalf("%s leads after the transfer", got)
	}
	if out := te.stdout.String(); !strings.HasPrefix(out, "pod-b leads leases team-a/my-lock (term 1), ") {
		t.Errorf("stdout: %s", out)
	}
	var logged map[string]any
	line, _, _ := strings.Cut(te.stderr.String(), "\n")
	if err := json.Unmarshal([]byte(line), &logged); err != nil || logged["msg"] != "asked for a transfer" || logged["to"] != "pod-b" || logged["from"] != "pod-a" {
		t.Errorf("first log line %q (%v)", line, err)
	}

	// Asked again, it says so at once and writes nothing.
	te.stdout = newSyncBuffer()
	te.app.stdout = te.stdout
	if code := te.run("transfer", "--name=my-lock", "--to=pod-b"); code != exitOK {
		t.Fatalf("again: exit %d; stderr: %s", code, te.stderr)
	}
	if out := te.stdout.String(); out != "pod-b already leads leases team-a/my-lock (term 1)\n" {
		t.Errorf("again: stdout %q", out)
	}
}

// preferredHolder reads the transfer request off the Lease.
func preferredHolder(t *testing.T, te *testEnv) string {
	t.Helper()
	client := te.srv.Client()
	obj, err := client.Get(context.Background(), k8sapi.Leases, "team-a", "my-lock")
	if err != nil {
		t.Fatal(err)
	}
	return obj.Annotations()[rl.PreferredHolderAnnotationKey]
}

func TestTransferTimeoutAndCancel(t *testing.T) {
	te := newTestEnv(t)
	// A holder that never runs: nobody hands over.
	if err := te.lock(t, rl.LeasesResourceLock, "team-a", "my-lock", "pod-a").Create(context.Background(), record("pod-a", 1, time.Now())); err != nil {
		t.Fatal(err)
	}
	if code := te.run("transfer", "--name=my-lock", "--to=pod-b", "--timeout=1ms"); code != exitTimeout {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitTimeout, te.stderr)
	}
	if got := te.stderr.String(); !strings.Contains(got, "pod-b does not lead leases team-a/my-lock after 1ms") {
		t.Errorf("stderr: %s", got)
	}
	if got := te.stderr.String(); !strings.Contains(got, "(pod-a holds it); the request stays") {
		t.Errorf("stderr: %s", got)
	}
	if got := preferredHolder(t, te); got != "pod-b" {
		t.Errorf("request %q, want pod-b", got)
	}

	if code := te.run("transfer", "--name=my-lock", "--cancel"); code != exitOK {
		t.Fatalf("--cancel: exit %d; stderr: %s", code, te.stderr)
	}
	if got := preferredHolder(t, te); got != "" {
		t.Errorf("request %q after --cancel", got)
	}
}

func TestTransferAbsentLock(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("transfer", "--name=my-lock", "--to=pod-b"); code != exitError {
		t.Fatalf("exit %d, want 1; stderr: %s", code, te.stderr)
	}
	if got := te.stderr.String(); !strings.Contains(got, "leases team-a/my-lock does not exist: nothing to transfer") {
		t.Errorf("stderr: %s", got)
	}
}
