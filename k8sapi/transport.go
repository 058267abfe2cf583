package k8sapi

import (
	"bytes"
	"context"
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
// keep-alives, and bounded dial, handshake and idle times. With conns, the
// connections it dials are tracked, so that they can all be closed.
func newTransport(tc *tls.Config, conns *connTracker) *http.Transport {
	dialer := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: keepAlive,
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   25,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
	if conns != nil {
		t.DialContext = conns.dialContext(dialer.DialContext)
	}
	configureHTTP2(t)
	return t
}

// bearerAuth is the RoundTripper that authenticates: it adds the bearer
// token to each request and, when the server answers 401 and the token
// source (the file, or a TokenSource) has a newer token, sends the request
// once more with it. With certsRefused, a 401 also renews the transport
// (renewingTransport), so that the next handshake asks
// Config.GetClientCertificate again. It reads no other status; everything else is for the client
// above it.
type bearerAuth struct {
	tokens       *tokenSource
	next         http.RoundTripper
	certsRefused func() // nil unless the client certificate can change
}

func (a *bearerAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := a.tokens.get(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip closes the body, even on errors
		}
		return nil, err
	}
	resp, err := a.next.RoundTrip(withToken(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	fresh, changed := a.tokens.refresh(req.Context(), tok)
	if a.certsRefused != nil {
		// The connection that carried the refused certificate goes too:
		// keep the answer in memory first. The token source has been told
		// first, so that a handshake from now on gets the new certificate.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		a.certsRefused()
	}
	if !changed || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
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
// the server refuses one (401), renew replaces the transport with a new
// one, whose connections make new handshakes, and closes every connection
// of the old one: requests in flight on them fail, watches end.
type renewingTransport struct {
	tc *tls.Config

	mu    sync.Mutex      // guards cur and conns
	cur   *http.Transport // carries new requests
	conns *connTracker    // the connections cur dialed
}

func newRenewingTransport(tc *tls.Config) *renewingTransport {
	r := &renewingTransport{tc: tc}
	r.conns = newConnTracker()
	r.cur = newTransport(tc, r.conns)
	return r
}

func (r *renewingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	t := r.cur
	r.mu.Unlock()
	return t.RoundTrip(req)
}

// renew puts a new transport in place and closes the old one's
// connections.
func (r *renewingTransport) renew() {
	conns := newConnTracker()
	t := newTransport(r.tc, conns)
	r.mu.Lock()
	old, oldConns := r.cur, r.conns
	r.cur, r.conns = t, conns
	r.mu.Unlock()
	old.CloseIdleConnections()
	oldConns.closeAll()
}

// connTracker keeps the connections a transport dialed, so that closeAll
// can end them all, busy ones too.
type connTracker struct {
	mu    sync.Mutex                // guards conns
	conns map[*trackedConn]struct{} // open connections
}

func newConnTracker() *connTracker {
	return &connTracker{conns: make(map[*trackedConn]struct{})}
}

// dialContext wraps dial so that the connections it makes are tracked.
func (t *connTracker) dialContext(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, tracker: t}
		t.mu.Lock()
		t.conns[tc] = struct{}{}
		t.mu.Unlock()
		return tc, nil
	}
}

// closeAll closes every open connection. Requests in flight on them fail,
// watches end; the transport dials anew for the next ones.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	conns := t.conns
	t.conns = make(map[*trackedConn]struct{})
	t.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

// trackedConn is a connection that leaves its tracker when closed.
type trackedConn struct {
	net.Conn
	tracker *connTracker
}

func (c *trackedConn) Close() error {
	c.tracker.mu.Lock()
	delete(c.tracker.conns, c)
	c.tracker.mu.Unlock()
	return c.Conn.Close()
}
