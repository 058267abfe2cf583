package k8sapi

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
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
// keep-alives, bounded dial, handshake and idle times, and no
// compression.
//
// Compression is off because what this package reads is one object, or a
// watch of one, at a time. kube-apiserver compresses the watch an elector
// opens (from its current state, no resourceVersion) when asked to, and
// each end then keeps a compressor's state (tens of kilobytes here, more
// on the server) for the whole life of the watch, to shrink events of a
// few hundred bytes that are flushed one by one; objects this small are
// not compressed anyway. It also makes Config.MaxResponseBytes bound the
// bytes that cross the wire.
func newTransport(tc *tls.Config) *sharedTransport {
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: keepAlive,
		}).DialContext,
		TLSClientConfig:       tc.Clone(), // the transport changes its NextProtos
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   25,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
	}
	configureHTTP2(t)
	return newSharedTransport(t)
}

// sharedTransport is the built transport, which sends the requests made
// before it has had any connection one at a time, until one of them has
// one, so that they all share it.
//
// An HTTP/2 connection carries every request of the client, but
// http.Transport learns that a connection speaks HTTP/2 only once its
// handshake is over: each request sent while the first connection is
// being made dials one of its own, and all but one of those connections
// are closed as soon as their handshakes end. An elector sends two
// requests at once as it starts (the read of its lock and its watch), and
// a program with many locks sends many: each extra handshake costs both
// ends memory and work for a connection that is thrown away. A request
// waits only until the request ahead of it has a connection, or has
// failed to get one (then it tries itself), and at most gateWait, and
// only for as long as its context allows; once a connection has been
// made, requests go straight to the transport, as they would without the
// gate.
type sharedTransport struct {
	t         *http.Transport
	rt        http.RoundTripper // t, or in tests a fake
	wait      time.Duration     // gateWait, or in tests less
	gate      chan struct{}     // holds a token while a request makes the first connection
	connected atomic.Bool       // a request has had a connection: the gate is open for good
}

// gateWait bounds how long a request waits for the connection of the one
// ahead of it: a TLS handshake takes a few round trips, milliseconds in a
// cluster. A connection that takes longer is stuck (a server unreachable
// as the program starts): the request then dials one of its own, as it
// would without the gate, so that it is not held back for as long as the
// stuck dial lasts when the server comes back.
const gateWait = time.Second

func newSharedTransport(t *http.Transport) *sharedTransport {
	return &sharedTransport{t: t, rt: t, wait: gateWait, gate: make(chan struct{}, 1)}
}

// RoundTrip sends req, after the first connection is made (see
// sharedTransport).
func (s *sharedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.connected.Load() {
		return s.rt.RoundTrip(req)
	}
	timer := time.NewTimer(s.wait)
	select {
	case s.gate <- struct{}{}:
		timer.Stop()
	case <-timer.C:
		return s.rt.RoundTrip(req) // the one ahead is stuck: do not wait on it
	case <-req.Context().Done():
		timer.Stop()
		if req.Body != nil {
			req.Body.Close() // RoundTrip closes the body, even on errors
		}
		return nil, req.Context().Err()
	}
	if s.connected.Load() {
		<-s.gate
		return s.rt.RoundTrip(req)
	}
	var once sync.Once
	pass := func(connected bool) {
		once.Do(func() {
			if connected {
				s.connected.Store(true)
			}
			<-s.gate
		})
	}
	// GotConn comes once the connection is made and, when it speaks
	// HTTP/2, is in the transport's pool, where the requests let through
	// find it.
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { pass(true) }}
	resp, err := s.rt.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	pass(err == nil) // an answer came over a connection; an error without GotConn had none
	return resp, err
}

// CloseIdleConnections closes the transport's idle connections.
func (s *sharedTransport) CloseIdleConnections() { s.t.CloseIdleConnections() }

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
	last   atomic.Pointer[authorization]
}

// authorization is a token and the Authorization header that carries it.
type authorization struct{ token, header string }

// header is the Authorization header for tok. The one of the last token
// is kept: a service-account token is about a kilobyte and lasts an hour,
// so that building the header anew would allocate a kilobyte per request.
func (a *bearerAuth) header(tok string) string {
	if tok == "" {
		return ""
	}
	if last := a.last.Load(); last != nil && last.token == tok {
		return last.header
	}
	h := &authorization{token: tok, header: "Bearer " + tok}
	a.last.Store(h)
	return h.header
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
	resp, err := a.next.RoundTrip(withAuthorization(req, a.header(tok)))
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
	retry := withAuthorization(req, a.header(fresh))
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

// withAuthorization returns a copy of req carrying the Authorization
// header auth, when not empty. RoundTrip must not change the request it
// was given: the copy has a header of its own, and shares everything
// else, which no layer below changes. (http.Request.Clone would copy the
// URL, forms and trailers too, for every request.)
func withAuthorization(req *http.Request, auth string) *http.Request {
	r := req.WithContext(req.Context())
	r.Header = req.Header.Clone()
	if r.Header == nil {
		r.Header = make(http.Header, 1)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
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

	mu  sync.Mutex       // guards cur and gen
	cur *sharedTransport // carries new requests
	gen uint64           // how many times cur was replaced
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
