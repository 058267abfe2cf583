package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
	"github.com/kubelect/kubelect/kubeconfig"
)

func TestOneShotCanHeal(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("k8sapi: GET /x: %w", err) }
	for _, tc := range []struct {
		name     string
		err      error
		heal     bool
		hopeless bool
	}{
		{"500", wrap(&k8sapi.StatusError{Code: 500, Reason: "InternalError"}), true, false},
		{"503 without a Status", wrap(&k8sapi.StatusError{Code: 503, Body: "<html>"}), true, false},
		{"504 timeout", wrap(&k8sapi.StatusError{Code: 504, Reason: "Timeout"}), true, false},
		{"429", wrap(&k8sapi.StatusError{Code: 429, Reason: "TooManyRequests", RetryAfter: time.Second}), true, false},
		{"request timeout", wrap(context.DeadlineExceeded), true, false},
		{"net timeout", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), true, false},
		{"refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true, false},
		{"reset", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), true, false},
		{"EOF", wrap(io.EOF), true, false},
		{"DNS server down", wrap(&net.DNSError{Err: "server misbehaving", Name: "api", IsTemporary: true}), true, false},
		{"plugin cut off by the request timeout", wrap(&kubeconfig.ExecError{User: "u", Command: "p", Err: fmt.Errorf("cut off: %w", context.DeadlineExceeded)}), true, false},

		{"401", wrap(&k8sapi.StatusError{Code: 401, Reason: "Unauthorized"}), false, true},
		{"403", wrap(&k8sapi.StatusError{Code: 403, Reason: "Forbidden"}), false, false},
		{"400", wrap(&k8sapi.StatusError{Code: 400, Reason: "BadRequest"}), false, false},
		{"plugin fails", wrap(&kubeconfig.ExecError{User: "u", Command: "p", Err: errors.New("exit status 1")}), false, true},
		{"unknown CA", wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false, true},
		{"wrong host name", wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"}), false, true},
		{"TLS alert", wrap(&net.OpError{Op: "remote error", Err: tls.AlertError(42)}), false, true},
		{"plain HTTP server", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false, true},
		{"no such host", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api", IsNotFound: true}}), false, true},
		{"response too large", wrap(k8sapi.ErrResponseTooLarge), false, false},
		{"unknown", errors.New("something else"), false, false},
		{"nil", nil, false, false},
	} {
		if got := canHeal(tc.err); got != tc.heal {
			t.Errorf("%s: canHeal(%v) = %v, want %v", tc.name, tc.err, got, tc.heal)
		}
		if got := hopeless(tc.err); got != tc.hopeless {
			t.Errorf("%s: hopeless(%v) = %v, want %v", tc.name, tc.err, got, tc.hopeless)
		}
	}
}

// TestOneShotErrorText checks the three messages of a failed first read
// and that the cause stays reachable.
func TestOneShotErrorText(t *testing.T) {
	cause := &k8sapi.StatusError{Code: 503}
	for _, tc := range []struct {
		err  *firstReadError
		want string
		is   error
	}{
		{&firstReadError{lock: "leases ns/x", failures: 1, err: cause},
			"cannot read leases ns/x, and trying again cannot fix it: k8sapi: 503 Service Unavailable", cause},
		{&firstReadError{lock: "leases ns/x", timeout: time.Second, failures: 1, err: cause},
			"no answer about leases ns/x within 1s (1 failed read); the last error: k8sapi: 503 Service Unavailable", cause},
		{&firstReadError{lock: "leases ns/x", timeout: time.Second, failures: 3, err: cause},
			"no answer about leases ns/x within 1s (3 failed reads); the last error: k8sapi: 503 Service Unavailable", cause},
		{&firstReadError{lock: "leases ns/x", timeout: time.Second},
			"no answer about leases ns/x within 1s: the first read is still waiting for the API server", context.DeadlineExceeded},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.err, tc.is) {
			t.Errorf("%q: errors.Is(%v) is false", tc.want, tc.is)
		}
	}
}

// runOneShot runs the command line args and returns its exit code; a
// command still running after 30s fails the test (a hang: the commands
// under test return at once, or when the test moves the fake clock).
func runOneShot(t *testing.T, te *testEnv, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- te.app.run(ctx, args) }()
	select {
	case c := <-code:
		return c
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("%v still running after 30s; stderr:\n%s", args, te.stderr)
		return 0
	}
}

// countReads makes srv count the reads (GETs but watches) of lock
// name in namespace team-a.
func countReads(srv *testapiserver.Server, name string) *atomic.Int32 {
	var n atomic.Int32
	srv.SetHook(func(r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "" && strings.HasSuffix(r.URL.Path, "/namespaces/team-a/leases/"+name) {
			n.Add(1)
		}
	})
	return &n
}

// writeKubeconfig writes a kubeconfig for server, trusting caPEM, whose
// user is given by user (YAML, indented for its place), in namespace
// team-a, and returns its path.
func writeKubeconfig(t *testing.T, server string, caPEM []byte, user string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team-a}
current-context: ctx
users:
- name: u
  user:
%s
`, server, base64.StdEncoding.EncodeToString(caPEM), user)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// selfSignedCA returns the PEM certificate of a CA that signed nothing.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// execUser is a kubeconfig user whose exec plugin is sh running script.
func execUser(script string) string {
	return fmt.Sprintf(`    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", %q]
      interactiveMode: Never`, script)
}

// An error that trying again cannot fix ends status and transfer at once,
// with the cause: the clock is fake and never moves, so no retry can
// happen, and the server sees one read at most. No token shows.
func TestOneShotFailsAtOnce(t *testing.T) {
	const (
		clientToken = "client-secret-token-1234"
		serverToken = "server-secret-token-5678"
		pluginToken = "plugin-secret-token-9012"
	)
	type setup func(t *testing.T, te *testEnv) // points te at its server
	inProcess := func(token string, opts testapiserver.Options) setup {
		return func(t *testing.T, te *testEnv) {
			srv := testapiserver.New(opts)
			t.Cleanup(srv.Close)
			te.srv = srv
			te.app.loadConfig = func(kubeconfig.Options) (*k8sapi.Config, error) {
				cfg := srv.Config()
				cfg.Namespace = "team-a"
				cfg.BearerToken = token
				return &cfg, nil
			}
		}
	}
	// fromKubeconfig serves opts over HTTPS and loads a kubeconfig for it
	// with user; wrongCA trusts another server's CA instead.
	fromKubeconfig := func(opts testapiserver.Options, user string, wrongCA bool) setup {
		return func(t *testing.T, te *testEnv) {
			srv := testapiserver.New(opts)
			t.Cleanup(srv.Close)
			url, ca := srv.StartTLS()
			if wrongCA {
				ca = selfSignedCA(t)
			}
			te.srv = srv
			path := writeKubeconfig(t, url, ca, user)
			te.app.loadConfig = func(o kubeconfig.Options) (*k8sapi.Config, error) {
				o.Path = path
				return kubeconfig.Load(o)
			}
		}
	}
	denyAll := testapiserver.Options{Deny: []testapiserver.Permission{{Verb: "*", Group: "*", Resource: "*"}}}
	credential := fmt.Sprintf(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}`, pluginToken)

	for _, tc := range []struct {
		name     string
		setup    setup
		want     string // in the message
		maxReads int32
	}{
		{"401", inProcess(clientToken, testapiserver.Options{Token: serverToken}), "401 Unauthorized", 1},
		{"403", inProcess("", denyAll), "403 Forbidden", 1},
		{"plugin prints garbage", fromKubeconfig(testapiserver.Options{}, execUser("echo garbage"), false),
			"exec plugin sh: its output is not an ExecCredential", 0},
		{"plugin fails", fromKubeconfig(testapiserver.Options{}, execUser("echo 'no login' >&2; exit 3"), false),
			"exec plugin sh: exit status 3; its stderr: no login", 0},
		{"plugin token refused", fromKubeconfig(testapiserver.Options{Token: serverToken}, execUser("echo '"+credential+"'"), false),
			"401 Unauthorized", 1},
		{"unknown CA", fromKubeconfig(testapiserver.Options{}, "    token: "+clientToken, true),
			"certificate signed by unknown authority", 0},
	} {
		for _, cmd := range [][]string{
			{"status", "--name=my-lock", "--timeout=1h"},
			{"transfer", "--name=my-lock", "--to=pod-b"},
		} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				te := newTestEnv(t)
				tc.setup(t, te)
				te.app.clock = newFakeClock()
				reads := countReads(te.srv, "my-lock")
				if code := runOneShot(t, te, cmd...); code != exitError {
					t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitError, te.stderr)
				}
				// The last line is the error; the plugin's own stderr may
				// come before it, no log line does (the observer was
				// stopped before it could log what the error says).
				stderr := te.stderr.String()
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				prefix := "kubelect " + cmd[0] + ": cannot read leases team-a/my-lock, and trying again cannot fix it: "
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, prefix) || !strings.Contains(last, tc.want) {
					t.Errorf("stderr lacks %q and %q:\n%s", prefix, tc.want, stderr)
				}
				if strings.Contains(stderr, "level=") {
					t.Errorf("a log line on stderr:\n%s", stderr)
				}
				if n := reads.Load(); n > tc.maxReads {
					t.Errorf("%d reads, want at most %d", n, tc.maxReads)
				}
				for _, tok := range []string{clientToken, serverToken, pluginToken} {
					if strings.Contains(stderr+te.stdout.String(), tok) {
						t.Errorf("the output shows a token:\n%s", stderr)
					}
				}
			})
		}
	}
}

// An invalid kubeconfig ends the command before any request.
func TestOneShotInvalidKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("apiVersion: v1\nclusters: [ {name: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"status", "--name=my-lock"}, {"transfer", "--name=my-lock", "--to=pod-b"}} {
		te := newTestEnv(t)
		te.app.loadConfig = kubeconfig.Load
		if code := runOneShot(t, te, append(args, "--kubeconfig="+path)...); code != exitError {
			t.Fatalf("%v: exit %d; stderr:\n%s", args, code, te.stderr)
		}
		if got := te.stderr.String(); !strings.Contains(got, "kubelect "+args[0]+": API server config: kubeconfig: invalid configuration") {
			t.Errorf("%v: stderr: %s", args, got)
		}
	}
}

// The first read is retried while its errors can heal, and the command
// goes on once the server answers.
func TestOneShotRetriesWhatCanHeal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*testapiserver.Server)
	}{
		{"503", func(s *testapiserver.Server) { s.FailNext(3, http.StatusServiceUnavailable) }},
		{"500", func(s *testapiserver.Server) { s.FailNext(2, http.StatusInternalServerError) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			reads := countReads(te.srv, "my-lock")
			tc.fault(te.srv)
			if code := runOneShot(t, te, "status", "--name=my-lock", "--retry-period=10ms", "-o", "json"); code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, te.stderr)
			}
			if !strings.Contains(te.stdout.String(), `"state":"absent"`) {
				t.Errorf("stdout: %s", te.stdout)
			}
			if n := reads.Load(); n < 2 {
				t.Errorf("%d reads: the failed one was not retried", n)
			}
		})
	}
}

// Transfer's first read is retried as status's, then it goes on.
func TestTransferFirstReadRetried(t *testing.T) {
	te := newTestEnv(t)
	if err := te.lock(t, "leases", "team-a", "my-lock", "pod-b").Create(context.Background(), record("pod-b", 4, time.Now())); err != nil {
		t.Fatal(err)
	}
	reads := countReads(te.srv, "my-lock")
	te.srv.FailNext(3, http.StatusServiceUnavailable)
	if code := runOneShot(t, te, "transfer", "--name=my-lock", "--to=pod-b", "--retry-period=10ms"); code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, te.stderr)
	}
	if got := te.stdout.String(); !strings.Contains(got, "pod-b already leads leases team-a/my-lock (term 4)") {
		t.Errorf("stdout: %s", got)
	}
	if n := reads.Load(); n < 2 {
		t.Errorf("%d reads: the failed one was not retried", n)
	}
}

// When the errors last, the command gives up at --timeout, on the fake
// clock, naming the last one.
func TestStatusTimeoutNamesLastError(t *testing.T) {
	te := newTestEnv(t)
	clock := newFakeClock()
	te.app.clock = clock
	te.srv.FailNext(1000, http.StatusServiceUnavailable)
	code := make(chan int, 1)
	go func() {
		code <- te.app.run(context.Background(), []string{"status", "--name=my-lock", "--timeout=10s"})
	}()
	// The observer logs the failed read once firstRead has noted it.
	for l := te.stderr.next(t); !strings.Contains(l, "read the lock"); l = te.stderr.next(t) {
	}
	clock.WaitTimer(t, 10*time.Second)
	clock.Advance(10 * time.Second)
	select {
	case c := <-code:
		if c != exitError {
			t.Fatalf("exit %d, want 1; stderr:\n%s", c, te.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running after the timeout; stderr:\n%s", te.stderr)
	}
	want := regexp.MustCompile(`kubelect status: no answer about leases team-a/my-lock within 10s \([12] failed reads?\); the last error: .*503 .*testapiserver: injected 503`)
	if got := te.stderr.String(); !want.MatchString(got) || strings.Contains(got, "<nil>") {
		t.Errorf("stderr does not match %s:\n%s", want, got)
	}
}

// A server that does not answer at all: the message says the read is
// still waiting, never "<nil>".
func TestStatusTimeoutNoAnswer(t *testing.T) {
	te := newTestEnv(t)
	clock := newFakeClock()
	te.app.clock = clock
	te.srv.SetHang(true)
	t.Cleanup(func() { te.srv.SetHang(false) })
	reads := countReads(te.srv, "my-lock")
	code := make(chan int, 1)
	go func() {
		code <- te.app.run(context.Background(), []string{"status", "--name=my-lock", "--timeout=500ms"})
	}()
	clock.WaitTimer(t, 500*time.Millisecond)
	// Less than the request timeout (2s): no read has failed yet.
	clock.Advance(500 * time.Millisecond)
	select {
	case c := <-code:
		if c != exitError {
			t.Fatalf("exit %d, want 1; stderr:\n%s", c, te.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running after the timeout; stderr:\n%s", te.stderr)
	}
	want := "kubelect status: no answer about leases team-a/my-lock within 500ms: the first read is still waiting for the API server\n"
	if got := te.stderr.String(); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if n := reads.Load(); n > 1 {
		t.Errorf("%d reads", n)
	}
}

// throttleFirstRead answers the first read of a Lease with 429 and
// Retry-After: 7, and passes the rest to next.
type throttleFirstRead struct {
	next http.RoundTripper
	done atomic.Bool
}

func (rt *throttleFirstRead) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.Query().Get("watch") != "" || !strings.Contains(req.URL.Path, "/leases/") || rt.done.Swap(true) {
		return rt.next.RoundTrip(req)
	}
	body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"slow down","reason":"TooManyRequests","code":429}`
	return &http.Response{
		StatusCode: http.StatusTooManyRequests,
		Status:     "429 Too Many Requests",
		Header:     http.Header{"Retry-After": {"7"}, "Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
		ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// A 429 is retried after the server's Retry-After (7s on the fake clock),
// not after --retry-period with jitter (at most 4.4s).
func TestStatusHonoursRetryAfter(t *testing.T) {
	te := newTestEnv(t)
	clock := newFakeClock()
	te.app.clock = clock
	load := te.app.loadConfig
	te.app.loadConfig = func(o kubeconfig.Options) (*k8sapi.Config, error) {
		cfg, err := load(o)
		if err == nil {
			cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper { return &throttleFirstRead{next: next} }
		}
		return cfg, err
	}
	reads := countReads(te.srv, "my-lock")
	code := make(chan int, 1)
	go func() { code <- te.app.run(context.Background(), []string{"status", "--name=my-lock", "-o", "json"}) }()
	clock.WaitTimer(t, 7*time.Second)
	clock.Advance(7 * time.Second)
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", c, te.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running; stderr:\n%s", te.stderr)
	}
	if !strings.Contains(te.stdout.String(), `"state":"absent"`) {
		t.Errorf("stdout: %s", te.stdout)
	}
	if n := reads.Load(); n != 1 { // the throttled read never reached the server
		t.Errorf("%d reads reached the server, want 1", n)
	}
}
