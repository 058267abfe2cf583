package k8sapi

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
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
		TLSClientConfig:       tc,
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
// file holds a newer token, sends the request once more with it. It reads
// no other status; everything else is for the client above it.
type bearerAuth struct {
	tokens *tokenSource
	next   http.RoundTripper
}

func (a *bearerAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	tok := a.tokens.Token()
	resp, err := a.next.RoundTrip(withToken(req, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	fresh, changed := a.tokens.Refresh(tok)
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
