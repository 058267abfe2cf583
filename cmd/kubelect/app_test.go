package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
	"github.com/kubelect/kubelect/kubeconfig"
)

// syncBuffer is an output that a command writes while a test reads it;
// lines gets each complete line.
type syncBuffer struct {
	mu    sync.Mutex // protects buf and part
	buf   bytes.Buffer
	part  string
	lines chan string
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{lines: make(chan string, 100)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.part += string(p)
	for {
		i := strings.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		select {
		case b.lines <- b.part[:i]:
		default:
		}
		b.part = b.part[i+1:]
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// next returns the next line, failing the test after a generous bound
// (a hang, not a timing the test relies on).
func (b *syncBuffer) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-b.lines:
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("no line after 30s; output so far:\n%s", b.String())
		return ""
	}
}

type testEnv struct {
	srv            *testapiserver.Server
	app            *app
	stdout, stderr *syncBuffer
	loaded         []kubeconfig.Options
}

// newTestEnv returns an app whose API server is an in-process one, in
// namespace "team-a", on a host named "host-1" without $POD_NAME.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	srv := testapiserver.New(testapiserver.Options{})
	t.Cleanup(srv.Close)
	te := &testEnv{srv: srv, stdout: newSyncBuffer(), stderr: newSyncBuffer()}
	var mu sync.Mutex
	te.app = &app{
		stdout:   te.stdout,
		stderr:   te.stderr,
		getenv:   func(string) string { return "" },
		hostname: func() (string, error) { return "host-1", nil },
		loadConfig: func(opts kubeconfig.Options) (*k8sapi.Config, error) {
			mu.Lock()
			te.loaded = append(te.loaded, opts)
			mu.Unlock()
			cfg := srv.Config()
			cfg.Namespace = "team-a"
			return &cfg, nil
		},
		now: time.Now,
		listen: func(string, string) (net.Listener, error) {
			return net.Listen("tcp", "127.0.0.1:0")
		},
		environ: os.Environ,
	}
	return te
}

func (te *testEnv) run(args ...string) int {
	return te.app.run(context.Background(), args)
}

// lock returns a lock on the test server, for the test to write records.
func (te *testEnv) lock(t *testing.T, kind, namespace, name, identity string) rl.Interface {
	t.Helper()
	client := te.srv.Client()
	lock, err := rl.New(kind, namespace, name, client, rl.ResourceLockConfig{Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

func record(holder string, term int, at time.Time) rl.LeaderElectionRecord {
	return rl.LeaderElectionRecord{
		HolderIdentity:       holder,
		LeaseDurationSeconds: 15,
		AcquireTime:          rl.NewTime(at),
		RenewTime:            rl.NewTime(at),
		LeaderTransitions:    term,
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		te := newTestEnv(t)
		if code := te.run(args...); code != exitOK {
			t.Fatalf("%v: exit %d, want 0; stderr: %s", args, code, te.stderr)
		}
		out := te.stdout.String()
		for _, want := range []string{"status", "transfer", "Exit codes:", "2  usage error", "Example"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, out)
			}
		}
	}
}

func TestCommandHelp(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			te := newTestEnv(t)
			if code := te.run(args...); code != exitOK {
				t.Fatalf("%v: exit %d, want 0; stderr: %s", args, code, te.stderr)
			}
			out := te.stdout.String()
			for _, want := range []string{"Usage: kubelect " + c.name, "Example", "kubelect " + c.name + " ", "-name", "-lease-duration", "(default 15s)", "-kubeconfig", "-log-format"} {
				if !strings.Contains(out, want) {
					t.Errorf("%v: help lacks %q:\n%s", args, want, out)
				}
			}
			if te.stderr.String() != "" {
				t.Errorf("%v: stderr: %s", args, te.stderr)
			}
			if len(te.loaded) > 0 {
				t.Errorf("%v: help loaded a config", args)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"status"}, "--name is required"},
		{[]string{"status", "--name=x", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"status", "--name=x", "extra"}, `unexpected argument "extra"`},
		{[]string{"status", "--name=x", "-o", "yaml"}, `-o "yaml"`},
		{[]string{"status", "--name=x", "--lock-kind=secrets"}, `--lock-kind "secrets" is not one of`},
		{[]string{"status", "--name=x", "--lease-duration=5s"}, "--lease-duration 5s must be longer than --renew-deadline 10s"},
		{[]string{"status", "--name=x", "--retry-period=9s"}, "--renew-deadline 10s must be longer than 1.2 × --retry-period 9s"},
		{[]string{"status", "--name=x", "--retry-period=0s"}, "must be positive"},
		{[]string{"status", "--name=x", "--lease-duration=xyz"}, `invalid value "xyz"`},
		{[]string{"status", "--name=x", "--log-format=xml"}, `--log-format "xml"`},
		{[]string{"status", "--name=x", "--log-level=loud"}, `--log-level "loud"`},
		{[]string{"status", "--name=Not_A_Name"}, "invalid lock"},
		{[]string{"transfer", "--name=x"}, "--to is required"},
		{[]string{"transfer", "--name=x", "--to=a", "--cancel"}, "exclude each other"},
		{[]string{"transfer", "--name=x", "--to=a", "--lock-kind=endpoints"}, "a planned transfer needs a Lease lock"},
		{[]string{"transfer", "--name=x", "--to=a", "--lock-kind=configmapsleases"}, "a planned transfer needs a Lease lock"},
	} {
		te := newTestEnv(t)
		if code := te.run(tc.args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr: %s", tc.args, code, exitUsage, te.stderr)
			continue
		}
		stderr := te.stderr.String()
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr lacks %q:\n%s", tc.args, tc.want, stderr)
		}
		if len(tc.args) > 1 && tc.args[0] != "help" && !strings.Contains(stderr, "Run 'kubelect "+tc.args[0]+" --help' for usage.") {
			t.Errorf("%v: stderr does not point to --help:\n%s", tc.args, stderr)
		}
		if te.stdout.String() != "" {
			t.Errorf("%v: stdout: %s", tc.args, te.stdout)
		}
	}
}

func TestSetupDefaults(t *testing.T) {
	te := newTestEnv(t)
	c := commonFlags{name: "x", lockKind: "leases", leaseDuration: 15 * time.Second, renewDeadline: 10 * time.Second,
		retryPeriod: 2 * time.Second, logFormat: "text", logLevel: "info", kubeconfig: "/k", context: "kind"}
	e, err := te.app.setup(&c)
	if err != nil {
		t.Fatal(err)
	}
	if e.namespace != "team-a" || e.identity != "host-1" {
		t.Errorf("namespace %q identity %q, want team-a and host-1", e.namespace, e.identity)
	}
	if len(te.loaded) != 1 || te.loaded[0].Path != "/k" || te.loaded[0].Context != "kind" {
		t.Errorf("config loaded with %+v", te.loaded)
	}

	te.app.getenv = func(k string) string {
		if k == "POD_NAME" {
			return "pod-7"
		}
		return ""
	}
	c.namespace = "other"
	if e, err = te.app.setup(&c); err != nil || e.identity != "pod-7" || e.namespace != "other" {
		t.Errorf("with $POD_NAME and -n: %+v, %v", e, err)
	}
	c.identity = "me"
	if e, err = te.app.setup(&c); err != nil || e.identity != "me" {
		t.Errorf("with --identity: %+v, %v", e, err)
	}

	c.identity = ""
	te.app.getenv = func(string) string { return "" }
	te.app.hostname = func() (string, error) { return "", errors.New("no host name") }
	var ue *usageError
	if _, err = te.app.setup(&c); !errors.As(err, &ue) {
		t.Errorf("without any identity: %v, want a usage error", err)
	}
}

func TestConfigErrorExits1(t *testing.T) {
	te := newTestEnv(t)
	te.app.loadConfig = func(kubeconfig.Options) (*k8sapi.Config, error) {
		return nil, kubeconfig.ErrNoConfig
	}
	if code := te.run("status", "--name=x"); code != exitError {
		t.Fatalf("exit %d, want 1", code)
	}
	if got := te.stderr.String(); !strings.Contains(got, "kubelect status: API server config: kubeconfig: no configuration") {
		t.Errorf("stderr: %s", got)
	}
}

// The help of run, serve and status says what the fencing token is and
// that the term is no fencing token.
func TestFencingTokenHelp(t *testing.T) {
	for cmd, wants := range map[string][]string{
		"run":    {"KUBELECT_FENCING_TOKEN", "KUBELECT_TERM", "Fence with it", "can go backwards"},
		"serve":  {`"fencingToken"`, "not the term"},
		"status": {"TOKEN", `"fencingToken"`, "With -w", "one-shot status", "not with the term"},
	} {
		te := newTestEnv(t)
		if code := te.run("help", cmd); code != exitOK {
			t.Fatalf("help %s: exit %d", cmd, code)
		}
		for _, want := range wants {
			if !strings.Contains(te.stdout.String(), want) {
				t.Errorf("help %s lacks %q", cmd, want)
			}
		}
	}
}
