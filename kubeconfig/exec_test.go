package kubeconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// apiServer starts the in-process API server on loopback HTTPS, accepting
// only token (any request when token is "").
func apiServer(t *testing.T, token string) (url string, ca []byte) {
	t.Helper()
	srv := testapiserver.New(testapiserver.Options{Token: token})
	t.Cleanup(srv.Close)
	return srv.StartTLS()
}

// getLease makes one request that needs credentials: reading a Lease that
// does not exist answers 404 when the server accepted the credentials.
func getLease(ctx context.Context, c *k8sapi.Client) error {
	_, err := c.Get(ctx, k8sapi.Leases, "lease-ns", "absent")
	if k8sapi.IsNotFound(err) {
		return nil
	}
	return err
}

func loadClient(t *testing.T, opts Options) (*k8sapi.Config, *k8sapi.Client) {
	t.Helper()
	cfg, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c, err := k8sapi.New(*cfg)
	if err != nil {
		t.Fatalf("k8sapi.New: %v", err)
	}
	return cfg, c
}

// TestExecToken runs a v1 and a v1beta1 plugin for a token against the
// API server: it runs once for many requests, gets the ExecCredential it
// should, the env of the kubeconfig and the program's own.
func TestExecToken(t *testing.T) {
	for _, api := range []string{execAPIv1, execAPIv1beta1} {
		t.Run(api[strings.LastIndexByte(api, '/')+1:], func(t *testing.T) {
			isolate(t)
			t.Setenv("KUBECONFIG_TEST_INHERITED", "inherited")
			url, ca := apiServer(t, "plugin-token-1")
			dir, plugins := t.TempDir(), t.TempDir()
			mode := "Never"
			if api == execAPIv1beta1 {
				mode = "-" // v1beta1 defaults to IfAvailable
			}
			path := writeExecKubeconfig(t, dir, url, ca, plugins, execUser{apiVersion: api, mode: "token", interactiveMode: mode,
				provideClusterInfo: true, args: []string{"get-token", "--flag=a b"}})
			cfg, c := loadClient(t, Options{Path: path})
			if cfg.Namespace != "lease-ns" {
				t.Errorf("Namespace %q", cfg.Namespace)
			}
			if n := pluginRuns(t, plugins); n != 0 {
				t.Errorf("Load ran the plugin %d times; it runs at the first request", n)
			}
			for i := 0; i < 3; i++ {
				if err := getLease(context.Background(), c); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if n := pluginRuns(t, plugins); n != 1 {
				t.Errorf("plugin ran %d times, want once", n)
			}
			if got := pluginRecord(t, plugins, "args", 1); got != "get-token\n--flag=a b" {
				t.Errorf("args %q", got)
			}
			if got := pluginRecord(t, plugins, "env", 1); got != "token\ninherited" {
				t.Errorf("env %q: want PLUGIN_MODE from the kubeconfig and the inherited variable", got)
			}
			var info map[string]any
			if err := json.Unmarshal([]byte(pluginRecord(t, plugins, "info", 1)), &info); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"apiVersion": api, "kind": "ExecCredential",
				"spec": map[string]any{"interactive": false, "cluster": map[string]any{
					"server": url, "certificate-authority-data": b64(ca),
					"config": map[string]any{"audience": "kubelect-test", "scopes": []any{"a", "b"}},
				}},
			}
			if got, want := mustJSON(t, info), mustJSON(t, want); got != want {
				t.Errorf("KUBERNETES_EXEC_INFO\n got %s\nwant %s", got, want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExecRunAgainAfter401: the server accepts only the second token; the
// client's first request gets a 401, the plugin runs again, and the
// request is sent again with the new token: the caller sees no error.
func TestExecRunAgainAfter401(t *testing.T) {
	isolate(t)
	url, ca := apiServer(t, "plugin-token-2")
	plugins := t.TempDir()
	path := writeExecKubeconfig(t, t.TempDir(), url, ca, plugins, execUser{mode: "token"})
	_, c := loadClient(t, Options{Path: path})
	for i := 0; i < 3; i++ {
		if err := getLease(context.Background(), c); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := pluginRuns(t, plugins); n != 2 {
		t.Errorf("plugin ran %d times, want twice (once more after the 401)", n)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestExecExpiry: a credential is used until its expirationTimestamp by
// the injected clock, then the plugin runs again.
func TestExecExpiry(t *testing.T) {
	isolate(t)
	t1 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	clock := &fakeClock{t: t1.Add(-time.Hour)}
	url, ca := apiServer(t, "")
	plugins := t.TempDir()
	setExpiry := func(at time.Time) {
		if err := os.WriteFile(filepath.Join(plugins, "expiry"), []byte(at.Format(time.RFC3339)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setExpiry(t1)
	path := writeExecKubeconfig(t, t.TempDir(), url, ca, plugins, execUser{mode: "token"})
	cfg, c := loadClient(t, Options{Path: path, Now: clock.now})
	ctx := context.Background()
	for _, s := range []struct {
		at     time.Time
		expiry time.Time // what the plugin returns from then on
		runs   int
	}{
		{t1.Add(-time.Hour), t1, 1},
		{t1.Add(-time.Second), t1, 1},
		{t1, t2, 1}, // expired only after the instant
		{t1.Add(time.Second), t2, 2},
		{t2.Add(-time.Minute), t2, 2},
		{t2.Add(time.Nanosecond), t2.Add(time.Hour), 3},
	} {
		clock.set(s.at)
		setExpiry(s.expiry)
		if err := getLease(ctx, c); err != nil {
			t.Fatalf("at %v: %v", s.at, err)
		}
		tok, err := cfg.TokenSource.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, want := pluginRuns(t, plugins), fmt.Sprintf("plugin-token-%d", s.runs); n != s.runs || tok != want {
			t.Errorf("at %v: %d runs, token %q; want %d, %q", s.at, n, tok, s.runs, want)
		}
	}
	// A credential that has already expired when the plugin returns it
	// is used by the request it was got for, and not kept.
	clock.set(t2.Add(2 * time.Hour))
	if err := getLease(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.TokenSource.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pluginRuns(t, plugins); n != 5 {
		t.Errorf("%d runs, want 5: one per call once the plugin returns expired credentials", n)
	}
}

// certPEM makes a client certificate for cn, signed by itself, in PEM.
func certPEM(t *testing.T, cn string) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestExecClientCertificate: the plugin returns a client certificate; the
// server refuses the first one. The request that met the 401 fails, the
// plugin runs again, and the next request's new connection carries the
// new certificate.
func TestExecClientCertificate(t *testing.T) {
	isolate(t)
	var mu sync.Mutex // guards seen
	var seen []string // the CN of each request's client certificate
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		mu.Lock()
		seen = append(seen, cn)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if cn != "client-2" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`)
			return
		}
		w.WriteHeader(404)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	plugins := t.TempDir()
	for i := 1; i <= 2; i++ {
		cert, key := certPEM(t, fmt.Sprintf("client-%d", i))
		if err := os.WriteFile(filepath.Join(plugins, fmt.Sprintf("cert-%d.pem", i)), cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, fmt.Sprintf("key-%d.pem", i)), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := writeExecKubeconfig(t, t.TempDir(), srv.URL, ca, plugins, execUser{mode: "cert"})
	_, c := loadClient(t, Options{Path: path})
	ctx := context.Background()
	if err := getLease(ctx, c); !k8sapi.IsUnauthorized(err) {
		t.Fatalf("first request: %v, want 401", err)
	}
	for i := 0; i < 2; i++ {
		if err := getLease(ctx, c); err != nil {
			t.Fatalf("request %d after the 401: %v", i, err)
		}
	}
	if n := pluginRuns(t, plugins); n != 2 {
		t.Errorf("plugin ran %d times, want twice", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, " ") != "client-1 client-2 client-2" {
		t.Errorf("client certificates seen %q", seen)
	}
}

// TestExecFailure: a plugin that fails gives an error with its stderr and
// exit code, without the token it gave before (which it quotes).
func TestExecFailure(t *testing.T) {
	isolate(t)
	url, ca := apiServer(t, "never-this-one")
	plugins := t.TempDir()
	var stderr strings.Builder
	path := writeExecKubeconfig(t, t.TempDir(), url, ca, plugins, execUser{mode: "fail-after-1"})
	_, c := loadClient(t, Options{Path: path, ExecStderr: &stderr})
	err := getLease(context.Background(), c) // token 1 refused; the second run fails
	if !k8sapi.IsUnauthorized(err) {
		t.Fatalf("first request: %v, want the 401 (the plugin's failure comes with the next request)", err)
	}
	err = getLease(context.Background(), c)
	if !errors.Is(err, ErrExecPlugin) {
		t.Fatalf("error %v, want one wrapping ErrExecPlugin", err)
	}
	var ee *ExecError
	var exit *exec.ExitError
	if !errors.As(err, &ee) || !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("error %v: want an *ExecError with exit code 3", err)
	}
	if !strings.Contains(ee.Stderr, "login failed") || !strings.Contains(err.Error(), "run the login command again") {
		t.Errorf("error %q: want the plugin's stderr", err)
	}
	if strings.Contains(err.Error(), "plugin-token-1") || strings.Contains(ee.Stderr, "plugin-token-1") {
		t.Errorf("error shows the token the plugin gave before: %v", err)
	}
	if !strings.Contains(stderr.String(), "plugin-token-1") {
		t.Errorf("ExecStderr got %q: want the plugin's stderr as written", stderr.String())
	}
}

// TestExecBadOutput: every way a plugin's output can be wrong is an
// ExecError that says what, and shows no token.
func TestExecBadOutput(t *testing.T) {
	isolate(t)
	cert, key := certPEM(t, "c")
	for _, tc := range []struct {
		name, output, contains string
	}{
		{"not JSON", "leaky-token", "not an ExecCredential"},
		{"nothing", "", "not an ExecCredential"},
		{"JSON then more", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"leaky-token"}} leaky-token`, "not an ExecCredential"},
		{"token of another type", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":["leaky-token"]}}`, "not an ExecCredential"},
		{"other apiVersion", `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"leaky-token"}}`, "v1beta1"},
		{"other kind", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"Secret","status":{"token":"leaky-token"}}`, "Secret"},
		{"no status", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}`, "no status"},
		{"empty status", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}`, "neither a token nor"},
		{"certificate without key", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":` + mustJSON(t, string(cert)) + `}}`, "without its key"},
		{"key of another certificate", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":` +
			mustJSON(t, string(cert)) + `,"clientKeyData":` + mustJSON(t, strings.Replace(string(key), "A", "B", 1)) + `}}`, "client certificate"},
		{"bad expiry", `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"leaky-token","expirationTimestamp":"soon"}}`, "not an ExecCredential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugins := t.TempDir()
			path := writeExecKubeconfig(t, t.TempDir(), "https://127.0.0.1:1", nil, plugins, execUser{mode: "output",
				env: map[string]string{"PLUGIN_OUTPUT": tc.output}})
			cfg, err := Load(Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cfg.TokenSource.Token(context.Background())
			var ee *ExecError
			if !errors.As(err, &ee) || !errors.Is(err, ErrExecPlugin) {
				t.Fatalf("error %v, want an *ExecError", err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not say %q", err, tc.contains)
			}
			for _, s := range []string{"leaky-token", "PRIVATE KEY"} {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%#v", err), s) {
					t.Errorf("error shows %q: %v", s, err)
				}
			}
		})
	}
}

// TestExecNotFound: a command that is not installed gives the
// kubeconfig's installHint.
func TestExecNotFound(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "config")
	body := strings.Replace(string(readFixture(t, "clouds/gke.yaml")), "command: gke-gcloud-auth-plugin", "command: kubelect-test-no-such-plugin", 1)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.TokenSource.Token(context.Background())
	if !errors.Is(err, exec.ErrNotFound) || !errors.Is(err, ErrExecPlugin) || !strings.Contains(err.Error(), "Install gke-gcloud-auth-plugin") {
		t.Errorf("error %v: want exec.ErrNotFound with the install hint", err)
	}
}

// TestExecRelativeCommand: a command with a path separator is relative to
// the kubeconfig's folder, whatever the working directory.
func TestExecRelativeCommand(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testBinary(t), filepath.Join(dir, "bin", "plugin")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	plugins := t.TempDir()
	path := writeExecKubeconfig(t, dir, "https://127.0.0.1:1", nil, plugins, execUser{mode: "token", command: "./bin/plugin"})
	cfg, err := Load(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.TokenSource.(*execPlugin); p.command != filepath.Join(dir, "bin", "plugin") {
		t.Errorf("command %q", p.command)
	}
	if tok, err := cfg.TokenSource.Token(context.Background()); err != nil || tok != "plugin-token-1" {
		t.Errorf("Token: %q, %v", tok, err)
	}
}

// TestExecInteractive: with ExecStdin, an IfAvailable plugin is told it
// is interactive and reads it; without, it is not, and reads nothing.
func TestExecInteractive(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		name        string
		stdin       *strings.Reader
		interactive bool
		token       string
	}{
		{"with ExecStdin", strings.NewReader("answer\n"), true, "typed-answer"},
		{"without", nil, false, "typed-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugins := t.TempDir()
			path := writeExecKubeconfig(t, t.TempDir(), "https://127.0.0.1:1", nil, plugins, execUser{mode: "stdin", interactiveMode: "IfAvailable"})
			opts := Options{Path: path}
			if tc.stdin != nil {
				opts.ExecStdin = tc.stdin
			}
			cfg, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cfg.TokenSource.Token(context.Background())
			if err != nil || tok != tc.token {
				t.Errorf("Token: %q, %v; want %q", tok, err, tc.token)
			}
			if info := pluginRecord(t, plugins, "info", 1); !strings.Contains(info, fmt.Sprintf(`"interactive":%t`, tc.interactive)) {
				t.Errorf("KUBERNETES_EXEC_INFO %s: want interactive %t", info, tc.interactive)
			}
		})
	}
}

// signalWriter closes ready when what it is written contains want.
type signalWriter struct {
	mu    sync.Mutex // guards buf and once
	buf   strings.Builder
	want  string
	ready chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

// TestExecCancelled: a plugin that hangs is killed when the request's
// context ends, and the error says so; callers waiting for it give up
// with their own context.
func TestExecCancelled(t *testing.T) {
	isolate(t)
	plugins := t.TempDir()
	started := &signalWriter{want: "started", ready: make(chan struct{})}
	path := writeExecKubeconfig(t, t.TempDir(), "https://127.0.0.1:1", nil, plugins, execUser{mode: "hang"})
	cfg, err := Load(Options{Path: path, ExecStderr: started})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := cfg.TokenSource.Token(ctx)
		done <- err
	}()
	<-started.ready
	// A second caller waits for the run; its own context ends first.
	waitCtx, waitCancel := context.WithCancel(context.Background())
	waitCancel()
	if _, err := cfg.TokenSource.Token(waitCtx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting caller: %v, want context.Canceled", err)
	}
	cancel()
	err = <-done
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrExecPlugin) {
		t.Errorf("error %v: want an ExecError wrapping context.Canceled", err)
	}
}

// TestExecConcurrent: many requests at once run the plugin once.
func TestExecConcurrent(t *testing.T) {
	isolate(t)
	url, ca := apiServer(t, "plugin-token-1")
	plugins := t.TempDir()
	path := writeExecKubeconfig(t, t.TempDir(), url, ca, plugins, execUser{mode: "token"})
	_, c := loadClient(t, Options{Path: path})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := getLease(context.Background(), c); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := pluginRuns(t, plugins); n != 1 {
		t.Errorf("plugin ran %d times, want once", n)
	}
}

// TestRefused checks which refusals drop the cached credential.
func TestRefused(t *testing.T) {
	p := &execPlugin{now: time.Now, running: make(chan struct{}, 1)}
	tokenCred := &execCred{token: "a"}
	p.cred = tokenCred
	p.Refused("b")
	if p.cred != tokenCred {
		t.Error("a refusal of another token dropped the credential")
	}
	p.Refused("a")
	if p.cred != nil {
		t.Error("a refusal of the token kept the credential")
	}
	certCred := &execCred{cert: &tls.Certificate{}}
	p.cred = certCred
	p.Refused("")
	if p.cred != certCred {
		t.Error("a refusal dropped a certificate no handshake had used")
	}
	if _, err := p.GetClientCertificate(&tls.CertificateRequestInfo{}); err != nil {
		t.Fatal(err)
	}
	p.Refused("")
	if p.cred != nil {
		t.Error("a refusal kept a certificate a handshake had used")
	}
}
