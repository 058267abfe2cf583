package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

func TestParseOptions(t *testing.T) {
	env := map[string]string{"POD_NAME": "ctl-7d9f-abcde", "POD_NAMESPACE": "apps"}
	o, err := parseOptions([]string{"-lock-name", "my-lock", "-lease-duration", "20s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.identity != "ctl-7d9f-abcde" || o.namespace != "apps" || o.lockName != "my-lock" || o.lease != 20*time.Second || o.listen != ":8080" {
		t.Errorf("options = %+v", o)
	}
	if o, err := parseOptions([]string{"-identity", "x", "-namespace", "other"}, func(k string) string { return env[k] }, io.Discard); err != nil || o.identity != "x" || o.namespace != "other" {
		t.Errorf("flags must win over the environment: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "no identity"},
		{[]string{"stray"}, env, "unexpected arguments"},
		{[]string{"-work-interval", "0s"}, env, "must be positive"},
		{[]string{"-lease-duration", "soon"}, env, "invalid value"},
	} {
		_, err := parseOptions(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseOptions(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// start runs the controller against srv until the returned stop is called;
// stop returns run's error.
func start(t *testing.T, srv *testapiserver.Server, o options) (base string, stop func() error) {
	t.Helper()
	client := srv.Client()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, client, ln, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	stopped := false
	stop = func() error {
		cancel()
		if stopped {
			return nil
		}
		stopped = true
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return within 10s of its context's end")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), stop
}

func testOptions(identity string) options {
	return options{lockName: "ctl", namespace: "ns", identity: identity,
		lease: 2 * time.Second, renew: time.Second, retry: 100 * time.Millisecond,
		workInterval: 20 * time.Millisecond, readyTolerance: 300 * time.Millisecond}
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls url until it answers code, for at most 10s.
func waitFor(t *testing.T, url string, code int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, body := get(url)
		if got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q, want %d within 10s", url, got, body, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func holder(t *testing.T, srv *testapiserver.Server) string {
	t.Helper()
	b, ok := srv.Get("coordination.k8s.io", "leases", "ns", "ctl")
	if !ok {
		t.Fatal("no Lease ns/ctl")
	}
	var l struct {
		Spec struct {
			HolderIdentity string `json:"holderIdentity"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l.Spec.HolderIdentity
}

func TestLeadsServesHealthAndReleases(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	a, stopA := start(t, srv, testOptions("a"))
	waitFor(t, a+"/leader", http.StatusOK)
	if h := holder(t, srv); h != "a" {
		t.Fatalf("holder %q, want a", h)
	}
	b, stopB := start(t, srv, testOptions("b"))
	waitFor(t, b+"/readyz", http.StatusOK)
	for _, url := range []string{a + "/healthz", a + "/readyz", b + "/healthz"} {
		if code, body := get(url); code != http.StatusOK {
			t.Errorf("GET %s: %d %q", url, code, body)
		}
	}
	if code, _ := get(b + "/leader"); code != http.StatusServiceUnavailable {
		t.Errorf("follower's /leader: %d, want 503", code)
	}
	// SIGTERM on the leader: it releases, and the follower takes over at
	// once rather than after a lease.
	if err := stopA(); err != nil {
		t.Fatalf("run: %v", err)
	}
	waitFor(t, b+"/leader", http.StatusOK)
	if h := holder(t, srv); h != "b" {
		t.Errorf("holder %q after a's release, want b", h)
	}
	if err := stopB(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if h := holder(t, srv); h != "" {
		t.Errorf("holder %q after b stopped, want released", h)
	}
}

func TestNotReadyWithoutAccess(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{Deny: []testapiserver.Permission{{Verb: "*", Group: "coordination.k8s.io", Resource: "leases"}}})
	base, stop := start(t, srv, testOptions("a"))
	waitFor(t, base+"/readyz", http.StatusServiceUnavailable)
	if code, body := get(base + "/readyz"); !strings.Contains(body, "forbidden") {
		t.Errorf("/readyz: %d %q, want the 403 in the text", code, body)
	}
	if code, _ := get(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d: a replica without access is not stuck (no restart cures RBAC)", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
