package chaos

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a Proxy does to a candidate's connections.
type Mode int

const (
	// Pass forwards everything.
	Pass Mode = iota
	// Blackhole accepts connections and reads requests but answers
	// nothing and forwards nothing, like a partition: bytes in flight are
	// held and delivered (both ways) when the mode changes back, as TCP
	// retransmission would after the partition heals.
	Blackhole
	// Reset closes every open connection with a TCP reset, and resets each
	// new one as soon as its first request arrives.
	Reset
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Reset:
		return "reset"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// maxHeld bounds the bytes a blackholed connection holds in each
// direction; beyond it the connection is reset.
const maxHeld = 4 << 20

// maxStamps bounds the request timestamps a proxy keeps.
const maxStamps = 1 << 21

// Proxy is one candidate's way to the API server: a TCP fault layer on a
// loopback port that the candidate talks plain HTTP/1.1 to (blackhole,
// reset, and a count of requests and connections), in front of an HTTP
// layer that adds delay and speaks TLS to kube-apiserver. A dead API server
// shows as a reset connection, as it would without the proxy.
type Proxy struct {
	outer, inner net.Listener
	server       *http.Server

	mu      sync.Mutex // protects the fields below
	mode    Mode
	changed chan struct{}      // closed and replaced on every mode change
	links   map[*link]struct{} // open connections
	delay   time.Duration      // added before each request is forwarded
	jitter  time.Duration      // delay is drawn from [delay-jitter, delay+jitter]
	answer  time.Duration      // added before each answer goes back
	stamps  []int64            // UnixNano of each request seen by the TCP layer
	answers []answer           // how long kube-apiserver took, per request (not watches)
	accepts []int64            // UnixNano of each accepted connection
	closed  bool

	wg sync.WaitGroup
}

// NewProxy starts a proxy to the API server at upstream (https://host:port)
// whose serving certificate chains to the PEM file caFile.
func NewProxy(upstream, caFile string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("chaos: proxy upstream: %w", err)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("chaos: proxy: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("chaos: proxy: no certificate in " + caFile)
	}
	p := &Proxy{changed: make(chan struct{}), links: map[*link]struct{}{}}
	if p.inner, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("chaos: proxy: %w", err)
	}
	if p.outer, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		p.inner.Close()
		return nil, fmt.Errorf("chaos: proxy: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
		},
		Transport: &timed{p: p, next: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool},
			MaxIdleConnsPerHost: 16,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		}},
		FlushInterval: -1, // watches stream
		ModifyResponse: func(resp *http.Response) error {
			p.mu.Lock()
			d := p.answer
			p.mu.Unlock()
			if d > 0 && resp.Request.Method != http.MethodGet {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-resp.Request.Context().Done():
				}
			}
			return nil
		},
		// An unreachable server shows as an aborted connection.
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) },
		ErrorLog:     nil,
	}
	p.server = &http.Server{Handler: p.delayed(rp), ErrorLog: quietLog}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _ = p.server.Serve(p.inner) }()
	go func() { defer p.wg.Done(); p.accept() }()
	return p, nil
}

// URL is what the candidate uses as its API server.
func (p *Proxy) URL() string { return "http://" + p.outer.Addr().String() }

// SetMode changes the mode; Reset resets every open connection at once.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
	var reset []*link
	if m == Reset {
		for l := range p.links {
			reset = append(reset, l)
		}
	}
	p.mu.Unlock()
	for _, l := range reset {
		l.reset()
	}
}

// SetDelay adds a delay, drawn uniformly from [d-jitter, d+jitter], before
// each request is forwarded.
func (p *Proxy) SetDelay(d, jitter time.Duration) {
	p.mu.Lock()
	p.delay, p.jitter = d, jitter
	p.mu.Unlock()
}

// Requests is how many requests the proxy saw start in [from, to),
// including those it held or reset.
func (p *Proxy) Requests(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return countIn(p.stamps, from, to)
}

// Connections is how many connections the proxy accepted in [from, to).
func (p *Proxy) Connections(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return countIn(p.accepts, from, to)
}

func countIn(stamps []int64, from, to time.Time) int {
	n := 0
	for _, s := range stamps {
		if s >= from.UnixNano() && s < to.UnixNano() {
			n++
		}
	}
	return n
}

// answer is when a request went to kube-apiserver and how long the answer
// (its headers) took: the server's own latency, without injected delays.
type answer struct {
	sent int64 // UnixNano
	took time.Duration
}

// timed measures kube-apiserver's latency for each request but watches.
type timed struct {
	p    *Proxy
	next http.RoundTripper
}

// RoundTrip forwards req and records how long the answer took.
func (t *timed) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") != "" {
		return t.next.RoundTrip(req)
	}
	sent := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.p.mu.Lock()
	if len(t.p.answers) < maxStamps {
		t.p.answers = append(t.p.answers, answer{sent.UnixNano(), time.Since(sent)})
	}
	t.p.mu.Unlock()
	return resp, err
}

// SlowestAnswer is the longest kube-apiserver took to answer a request
// sent in [from, to) (watches aside), without the delays the proxy adds.
func (p *Proxy) SlowestAnswer(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var most time.Duration
	for _, a := range p.answers {
		if a.sent >= from.UnixNano() && a.sent < to.UnixNano() {
			most = max(most, a.took)
		}
	}
	return most
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	close(p.changed)
	p.changed = make(chan struct{})
	var all []*link
	for l := range p.links {
		all = append(all, l)
	}
	p.mu.Unlock()
	p.outer.Close()
	for _, l := range all {
		l.close()
	}
	p.server.Close()
	p.wg.Wait()
}

func (p *Proxy) delayed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		d, j := p.delay, p.jitter
		p.mu.Unlock()
		if j > 0 {
			d += time.Duration(rand.Int64N(int64(2*j+1))) - j
		}
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// SetAnswerDelay holds the answer to each write (PUT, POST, DELETE) for d
// after the API server has given it: the write is applied, its answer is
// late.
func (p *Proxy) SetAnswerDelay(d time.Duration) {
	p.mu.Lock()
	p.answer = d
	p.mu.Unlock()
}

// state is the mode and the channel that closes when it next changes.
func (p *Proxy) state() (Mode, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.changed, p.closed
}

// maxConns bounds the connections one proxy accepts in its life.
const maxConns = 1 << 20

func (p *Proxy) accept() {
	for i := 0; i < maxConns; i++ {
		c, err := p.outer.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.inner.Addr().String())
		if err != nil {
			resetConn(c)
			continue
		}
		l := &link{p: p, client: c.(*net.TCPConn), server: up.(*net.TCPConn), done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.close()
			return
		}
		p.links[l] = struct{}{}
		if len(p.accepts) < maxStamps {
			p.accepts = append(p.accepts, time.Now().UnixNano())
		}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); l.pump(l.client, l.server, true) }()
		go func() { defer p.wg.Done(); l.pump(l.server, l.client, false) }()
	}
}

// link is one candidate connection and its connection to the HTTP layer.
type link struct {
	p              *Proxy
	client, server *net.TCPConn
	once           sync.Once
	done           chan struct{} // closed when the link is closed
	eofs           atomic.Int32  // directions that ended with EOF
	scan           requestScanner
}

// pump copies src to dst; fromClient marks the request direction, where
// requests are counted and the first request of a reset-mode connection
// resets it.
func (l *link) pump(src, dst *net.TCPConn, fromClient bool) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient {
				if k := l.scan.count(buf[:n]); k > 0 {
					now := time.Now().UnixNano()
					l.p.mu.Lock()
					for i := 0; i < k && len(l.p.stamps) < maxStamps; i++ {
						l.p.stamps = append(l.p.stamps, now)
					}
					l.p.mu.Unlock()
				}
			}
			if !l.hold(n) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && l.eofs.Add(1) == 1 {
				// Half-close: let the other direction finish, for a while.
				_ = dst.CloseWrite()
				t := time.NewTimer(30 * time.Second)
				defer t.Stop()
				select {
				case <-l.done:
				case <-t.C:
				}
			}
			return
		}
	}
}

// hold waits while the proxy blackholes (the bytes just read stay in the
// caller's buffer); it resets the link and reports false in reset mode or
// when the link or proxy closes.
func (l *link) hold(n int) bool {
	for {
		mode, changed, closed := l.p.state()
		switch {
		case closed:
			return false
		case mode == Reset:
			l.reset()
			return false
		case mode == Pass:
			return true
		}
		if n > maxHeld {
			l.reset()
			return false
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

// reset closes the candidate's side with a TCP reset.
func (l *link) reset() {
	_ = l.client.SetLinger(0)
	l.close()
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		l.server.Close()
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
}

func resetConn(c net.Conn) {
	if t, ok := c.(*net.TCPConn); ok {
		_ = t.SetLinger(0)
	}
	c.Close()
}

// requestScanner counts HTTP/1.1 request lines in a byte stream split at
// arbitrary points. Only the request direction is scanned, where
// " HTTP/1.1\r\n" ends each request line (bodies are small JSON). The
// pattern cannot overlap itself, so keeping its length less one byte of
// the stream between calls finds every match exactly once.
type requestScanner struct{ tail []byte }

var requestLineEnd = []byte(" HTTP/1.1\r\n")

func (s *requestScanner) count(b []byte) int {
	buf := append(s.tail, b...)
	n := bytes.Count(buf, requestLineEnd)
	keep := min(len(requestLineEnd)-1, len(buf))
	s.tail = append(s.tail[:0:0], buf[len(buf)-keep:]...)
	return n
}

// quietLog drops the HTTP layer's log lines (aborted connections are the
// point of the exercise).
var quietLog = log.New(io.Discard, "", 0)
