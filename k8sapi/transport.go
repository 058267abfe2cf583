package k8sapi

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts of the transport built from the TLS settings. The per-request
// timeout (Config.Timeout) bounds a whole request on top of these.
const (
	dialTimeout         = 10 * time.Second
	keepAlive           = 30 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	idleConnTimeout     = 90 * time.Second
)

// newTransport returns the transport for tc: proxies from the environment
// (as kubectl and client-go honour them), HTTP/2 when the server offers it,
// keep-alives, and bounded dial, handshake and idle times.
func newTransport(tc *tls.Config) *http.Transport {
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: keepAlive,
		}).DialContext,
		TLSClientConfig:       tc.Clone(), // the transport changes its NextProtos
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   25,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
	configureHTTP2(t)
	return t
}

// bearerAuth is the RoundTripper that authenticates: it adds the bearer
// token to each request and, when the server answers 401 and the token
// source (the file, or a TokenSource) has a newer token, sends the request
// once more with it. With certs, a 401 also renews the transport, so that
// the next handshake asks Config.GetClientCertificate again. It reads no
// other status; everything else is for the client above it.
type bearerAuth struct {
	tokens *tokenSource
	next   http.RoundTripper
	certs  *renewingTransport // nil unless the client certificate can change
}

func (a *bearerAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := a.tokens.get(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip closes the body, even on errors
		}
		return nil, err
	}
	var gen uint64
	if a.certs != nil {
		gen = a.certs.generation()
	}
	resp, err := a.next.RoundTrip(withToken(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	var fresh string
	var again bool
	switch {
	case a.certs != nil && a.certs.generation() != gen:
		// Another request met a 401 while this one was out, and the
		// transport was renewed: the source already knows. Send this one
		// once more through the new transport.
		if fresh, err = a.tokens.get(req.Context()); err == nil {
			again = true
		}
	default:
		fresh, again = a.tokens.refresh(req.Context(), tok)
	}
	if a.certs != nil {
		// The token source has been told, so that a handshake from now on
		// gets the new certificate: the transport whose connections carry
		// the refused one is replaced. The connection of this answer goes
		// too: keep the answer in memory first.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		a.certs.renew(gen)
	}
	if !again || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return resp, nil
	}
	retry := withToken(req, fresh)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	// The first answer is replaced: drain a little so the connection can
	// be reused, then close it.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	return a.next.RoundTrip(retry)
}

// withToken returns a copy of req carrying tok. RoundTrip must not change
// the request it was given.
func withToken(req *http.Request, tok string) *http.Request {
	r := req.Clone(req.Context())
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// renewingTransport is the built transport of a client whose client
// certificate can change (Config.GetClientCertificate). A TLS connection
// keeps the certificate of its handshake for as long as it lives, so when
// the server refuses one (401), renew puts a new transport in place, whose
// connections make new handshakes. The old one's idle connections are
// closed; busy ones finish what they carry (a request that then meets a
// 401 is sent again through the new transport) and are closed once they
// have been idle for idleConnTimeout.
type renewingTransport struct {
	tc *tls.Config

	mu  sync.Mutex      // guards cur and gen
	cur *http.Transport // carries new requests
	gen uint64          // how many times cur was replaced
}

func newRenewingTransport(tc *tls.Config) *renewingTransport {
	return &renewingTransport{tc: tc, cur: newTransport(tc)}
}

func (r *renewingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	t := r.cur
	r.mu.Unlock()
	return t.RoundTrip(req)
}

// generation tells which transport carries new requests.
func (r *renewingTransport) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// renew puts a new transport in place of generation gen. When gen was
// replaced already (by another request's 401), the new one is kept: its
// connections may carry the new certificate.
func (r *renewingTransport) renew(gen uint64) {
	r.mu.Lock()
	if r.gen != gen {
		r.mu.Unlock()
		return
	}
	old := r.cur
	r.cur = newTransport(r.tc)
	r.gen++
	r.mu.Unlock()
	old.CloseIdleConnections()
}
