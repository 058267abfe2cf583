package k8sapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kubelect/kubelect/k8sapi"
)

// rotatingSource is a TokenSource that hands out tokens[i] and moves to
// the next one when told that the current one was refused.
type rotatingSource struct {
	mu      sync.Mutex // guards the fields below
	tokens  []string
	i       int
	err     error    // returned by Token when set
	refused []string // what Refused was told
}

func (s *rotatingSource) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return "", s.err
	}
	return s.tokens[s.i], nil
}

func (s *rotatingSource) Refused(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = append(s.refused, tok)
	if s.tokens[s.i] == tok && s.i+1 < len(s.tokens) {
		s.i++
	}
}

func (s *rotatingSource) refusedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// authServer answers 401, echoing the Authorization header it got in the
// Status message, unless the header carries the accepted token; it
// records the Authorization header and body of each request.
type authServer struct {
	mu       sync.Mutex // guards the fields below
	accepted string
	auths    []string
	bodies   []string
}

func (s *authServer) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	auth := r.Header.Get("Authorization")
	s.mu.Lock()
	s.auths = append(s.auths, auth)
	s.bodies = append(s.bodies, string(body))
	ok := auth == "Bearer "+s.accepted
	s.mu.Unlock()
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Request: r,
		Body: io.NopCloser(strings.NewReader(`{"kind":"Lease","metadata":{"name":"l","namespace":"ns","resourceVersion":"1"}}`))}
	if !ok {
		resp.StatusCode = 401
		resp.Body = io.NopCloser(strings.NewReader(fmt.Sprintf(
			`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized: you sent %q","reason":"Unauthorized","code":401}`, auth)))
	}
	return resp, nil
}

func (s *authServer) seen() (auths, bodies []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	auths, bodies = s.auths, s.bodies
	s.auths, s.bodies = nil, nil
	return auths, bodies
}

const (
	sourceToken1 = "source-token-one-4b1d8e"
	sourceToken2 = "source-token-two-93a7c0"
)

func sourceClient(t *testing.T, src k8sapi.TokenSource, srv http.RoundTripper) *k8sapi.Client {
	t.Helper()
	c, err := k8sapi.New(k8sapi.Config{Host: "https://api.example", TokenSource: src, Transport: srv})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenSourceTokenIsSent(t *testing.T) {
	srv := &authServer{accepted: sourceToken1}
	c := sourceClient(t, &rotatingSource{tokens: []string{sourceToken1}}, srv)
	for i := 0; i < 2; i++ {
		if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
			t.Fatal(err)
		}
	}
	auths, _ := srv.seen()
	if diff := cmp.Diff([]string{"Bearer " + sourceToken1, "Bearer " + sourceToken1}, auths); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

// TestTokenSourceAskedAgainAfter401 has the server refuse the first
// token: the source is told, and the request (a PUT, whose body must go
// again) is sent once more with the new token.
func TestTokenSourceAskedAgainAfter401(t *testing.T) {
	srv := &authServer{accepted: sourceToken2}
	src := &rotatingSource{tokens: []string{sourceToken1, sourceToken2}}
	c := sourceClient(t, src, srv)
	obj := new(k8sapi.Object)
	if err := obj.UnmarshalJSON([]byte(`{"metadata":{"name":"l","namespace":"ns","resourceVersion":"1"}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(context.Background(), k8sapi.Leases, obj); err != nil {
		t.Fatalf("Update: %v", err)
	}
	auths, bodies := srv.seen()
	if diff := cmp.Diff([]string{"Bearer " + sourceToken1, "Bearer " + sourceToken2}, auths); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
	if len(bodies) != 2 || bodies[0] == "" || bodies[0] != bodies[1] {
		t.Errorf("bodies %q: want the same body twice", bodies)
	}
	if diff := cmp.Diff([]string{sourceToken1}, src.refusedTokens()); diff != "" {
		t.Errorf("Refused calls (-want +got):\n%s", diff)
	}
}

// TestTokenSourceSameTokenNotRetried: a source that has nothing new after
// a 401 gets no second request, and the caller sees the 401 with the
// token redacted from the server's echo.
func TestTokenSourceSameTokenNotRetried(t *testing.T) {
	srv := &authServer{accepted: "something else"}
	src := &rotatingSource{tokens: []string{sourceToken1}}
	c := sourceClient(t, src, srv)
	_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	if !k8sapi.IsUnauthorized(err) {
		t.Fatalf("error %v, want Unauthorized", err)
	}
	checkNoToken(t, "401", err, sourceToken1)
	if auths, _ := srv.seen(); len(auths) != 1 {
		t.Errorf("%d requests sent, want 1", len(auths))
	}
	if diff := cmp.Diff([]string{sourceToken1}, src.refusedTokens()); diff != "" {
		t.Errorf("Refused calls (-want +got):\n%s", diff)
	}
}

// TestTokenSourceTokensRedacted: the server echoes both the token refused
// and the one that replaced it; neither shows in the error.
func TestTokenSourceTokensRedacted(t *testing.T) {
	srv := &authServer{accepted: "never"}
	src := &rotatingSource{tokens: []string{sourceToken1, sourceToken2}}
	c := sourceClient(t, src, srv)
	_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	if !k8sapi.IsUnauthorized(err) {
		t.Fatalf("error %v, want Unauthorized", err)
	}
	checkNoToken(t, "second 401", err, sourceToken2)
	echo := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 403, Header: http.Header{}, Request: r, Body: io.NopCloser(strings.NewReader(
			`{"kind":"Status","code":403,"reason":"Forbidden","message":"` + sourceToken1 + ` then ` + sourceToken2 + `"}`))}, nil
	})
	c = sourceClient(t, src, echo)
	src.mu.Lock()
	src.i = 0
	src.mu.Unlock()
	_, _ = c.Get(context.Background(), k8sapi.Leases, "ns", "l") // sends sourceToken1
	src.Refused(sourceToken1)
	_, err = c.Get(context.Background(), k8sapi.Leases, "ns", "l") // sends sourceToken2
	checkNoToken(t, "echo of the token", err, sourceToken2)
	checkNoToken(t, "echo of the token before", err, sourceToken1)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var errNoCredential = errors.New("no credential today")

// TestTokenSourceError: the source's error fails the request, wrapped,
// and a token it quotes (one it returned before) is redacted.
func TestTokenSourceError(t *testing.T) {
	srv := &authServer{accepted: sourceToken1}
	src := &rotatingSource{tokens: []string{sourceToken1}}
	c := sourceClient(t, src, srv)
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.err = fmt.Errorf("plugin said %s is stale: %w", sourceToken1, errNoCredential)
	src.mu.Unlock()
	_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	if !errors.Is(err, errNoCredential) {
		t.Fatalf("error %v, want one wrapping errNoCredential", err)
	}
	checkNoToken(t, "source error", err, sourceToken1)
	if !strings.Contains(err.Error(), "token source") {
		t.Errorf("error %q does not say it came from the token source", err)
	}
	if auths, _ := srv.seen(); len(auths) != 1 {
		t.Errorf("%d requests sent, want the first only", len(auths))
	}
}

// TestTokenSourceBadToken: a token that cannot go in a header fails the
// request without showing it; an empty one sends no header.
func TestTokenSourceBadToken(t *testing.T) {
	srv := &authServer{accepted: ""}
	bad := "bad-token-with-newline\nsecond-line"
	c := sourceClient(t, &rotatingSource{tokens: []string{bad}}, srv)
	_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	if err == nil || strings.Contains(err.Error(), "bad-token") || strings.Contains(err.Error(), "second-line") {
		t.Errorf("error %v: want one that does not show the token", err)
	}

	c = sourceClient(t, &rotatingSource{tokens: []string{""}}, srv)
	_, _ = c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	if auths, _ := srv.seen(); len(auths) != 1 || auths[0] != "" {
		t.Errorf("Authorization headers %q, want one empty", auths)
	}
}

func TestTokenSourceConfigErrors(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	getCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	src := &rotatingSource{tokens: []string{"t"}}
	file := filepath.Join(t.TempDir(), "token")
	writeFile(t, file, "t")
	for name, tc := range map[string]struct {
		cfg  k8sapi.Config
		want string // in the error; "" for none
	}{
		"source":                  {k8sapi.Config{TokenSource: src}, ""},
		"source and token":        {k8sapi.Config{TokenSource: src, BearerToken: "t"}, "TokenSource or BearerToken"},
		"source and file":         {k8sapi.Config{TokenSource: src, BearerTokenFile: file}, "TokenSource or BearerToken"},
		"cert callback":           {k8sapi.Config{GetClientCertificate: getCert, TokenSource: src}, ""},
		"cert callback and data":  {k8sapi.Config{GetClientCertificate: getCert, CertData: certPEM, KeyData: keyPEM}, "GetClientCertificate or a client certificate"},
		"cert callback and files": {k8sapi.Config{GetClientCertificate: getCert, KeyFile: file}, "GetClientCertificate or a client certificate"},
		"server name":             {k8sapi.Config{TLSServerName: "kubernetes.default.svc"}, ""},
		"server name IPv6":        {k8sapi.Config{TLSServerName: "fd00::1"}, ""},
		"server name with port":   {k8sapi.Config{TLSServerName: "kubernetes:443"}, "TLSServerName"},
		"server name URL":         {k8sapi.Config{TLSServerName: "https://kubernetes"}, "TLSServerName"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.Host = "https://api.example"
			_, err := k8sapi.New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New: error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestTLSServerName reaches the test server by its IP address and checks
// its certificate against another name it holds (example.com), as
// kubeconfig's tls-server-name does; a name it does not hold fails.
func TestTLSServerName(t *testing.T) {
	var sni sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni.Store(r.TLS.ServerName, true)
		fmt.Fprint(w, `{"kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`)
	}))
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"example.com", true}, {"kubernetes.example", false}} {
		c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), TLSServerName: tc.name, BearerToken: testToken})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Get(context.Background(), k8sapi.Leases, "ns", "l")
		var hostErr x509.HostnameError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && !errors.As(err, &hostErr):
			t.Errorf("%s: error %v, want an x509.HostnameError", tc.name, err)
		}
	}
	if _, ok := sni.Load("example.com"); !ok {
		t.Error("the server did not see example.com as the TLS server name")
	}
}

// clientCert makes a self-signed client certificate for cn.
func clientCert(t *testing.T, cn string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestGetClientCertificateAskedAgainAfter401: the server refuses the
// first certificate; the client closes its connections, so the next
// request's handshake asks for the certificate again and gets the good
// one, on a new connection.
func TestGetClientCertificateAskedAgainAfter401(t *testing.T) {
	var mu sync.Mutex // guards remotes
	var remotes []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes = append(remotes, r.RemoteAddr)
		mu.Unlock()
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "good" {
			writeStatus(w, 401, "Unauthorized", "Unauthorized")
			return
		}
		fmt.Fprint(w, `{"kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	bad, good := clientCert(t, "bad"), clientCert(t, "good")
	var calls int // guarded by mu
	getCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return bad, nil
		}
		return good, nil
	}
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), GetClientCertificate: getCert})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx, k8sapi.Leases, "ns", "l"); !k8sapi.IsUnauthorized(err) {
		t.Fatalf("first request: error %v, want Unauthorized", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.Get(ctx, k8sapi.Leases, "ns", "l"); err != nil {
			t.Fatalf("request %d after the 401: %v", i+2, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("GetClientCertificate called %d times, want 2 (one handshake per certificate)", calls)
	}
	if len(remotes) != 3 || remotes[0] == remotes[1] || remotes[1] != remotes[2] {
		t.Errorf("connections %q: want a new one after the 401, then kept", remotes)
	}
}

// TestTokenSourceConcurrent: many requests at once through a source that
// changes its token whenever one is refused; each request ends with the
// current token or a 401, and the race detector watches.
func TestTokenSourceConcurrent(t *testing.T) {
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("concurrent-token-%02d-5e1a", i)
	}
	src := &rotatingSource{tokens: tokens}
	srv := &authServer{accepted: tokens[len(tokens)-1]}
	c := sourceClient(t, src, srv)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
				if err != nil && !k8sapi.IsUnauthorized(err) {
					t.Errorf("error %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
		t.Errorf("after the rotations: %v", err)
	}
}

// ExampleTokenSource shows a source that fetches a short-lived token and
// caches it until the server refuses it.
func ExampleTokenSource() {
	src := &cachedSource{fetch: func(context.Context) (string, error) { return "a-fresh-token", nil }}
	client, err := k8sapi.New(k8sapi.Config{
		Host:        "https://kubernetes.example:6443",
		TokenSource: src,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = client
	tok, _ := src.Token(context.Background())
	fmt.Println(tok != "")
	// Output: true
}

// cachedSource caches the token fetch returns until it is refused.
type cachedSource struct {
	fetch func(context.Context) (string, error)
	mu    sync.Mutex // guards token
	token string
}

func (s *cachedSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" {
		tok, err := s.fetch(ctx)
		if err != nil {
			return "", err
		}
		s.token = tok
	}
	return s.token, nil
}

func (s *cachedSource) Refused(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = ""
	}
}

// TestGetClientCertificateConcurrent401: many requests in flight on a
// refused certificate all get their 401 at once. The transport is renewed
// once, and no request fails because another's renewal closed the
// connection under it: each ends with an answer.
func TestGetClientCertificateConcurrent401(t *testing.T) {
	const n = 8
	var mu sync.Mutex // guards bad and calls
	bad, calls := 0, 0
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.PeerCertificates[0].Subject.CommonName == "bad" {
			mu.Lock()
			bad++
			if bad == n {
				close(release) // all n are in flight: answer them together
			}
			mu.Unlock()
			<-release
			writeStatus(w, 401, "Unauthorized", "Unauthorized")
			return
		}
		fmt.Fprint(w, `{"kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	badCert, goodCert := clientCert(t, "bad"), clientCert(t, "good")
	getCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if bad < n {
			return badCert, nil
		}
		return goodCert, nil
	}
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), GetClientCertificate: getCert})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !k8sapi.IsUnauthorized(err) {
			t.Errorf("request failed without an answer: %v", err)
		}
	}
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
		t.Errorf("after the 401s: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls > 2*n+1 { // up to one dial per request, twice
		t.Errorf("GetClientCertificate called %d times for %d requests", calls, n)
	}
}

// TestGetClientCertificateInFlight401: two requests are in flight on a
// refused certificate. The first one's 401 renews the transport; the
// second one's 401, which comes after, is not a reason to renew it again:
// the request is sent once more through the new transport, with the new
// certificate, and succeeds.
func TestGetClientCertificateInFlight401(t *testing.T) {
	arrivals := make(chan chan struct{}, 2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.PeerCertificates[0].Subject.CommonName == "bad" {
			release := make(chan struct{})
			arrivals <- release
			<-release
			writeStatus(w, 401, "Unauthorized", "Unauthorized")
			return
		}
		fmt.Fprint(w, `{"kind":"Lease","metadata":{"name":"l","namespace":"ns"}}`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = discardLogger()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	var mu sync.Mutex // guards good
	good := false
	badCert, goodCert := clientCert(t, "bad"), clientCert(t, "good")
	getCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		if good {
			return goodCert, nil
		}
		return badCert, nil
	}
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), GetClientCertificate: getCert})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
			results <- err
		}()
	}
	first, second := <-arrivals, <-arrivals
	mu.Lock()
	good = true // the certificate source has a new one from now on
	mu.Unlock()
	close(first)
	if err := <-results; !k8sapi.IsUnauthorized(err) {
		t.Errorf("first request: %v, want its 401", err)
	}
	close(second)
	if err := <-results; err != nil {
		t.Errorf("second request: %v, want it sent again with the new certificate", err)
	}
}
