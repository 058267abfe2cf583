package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// errInjected is what a request fails with when a fault cuts it without an
// answer (a reset connection).
var errInjected = errors.New("chaos: connection reset (injected)")

// transport sits between one candidate process's client and the in-process
// server. It applies the faults active for its candidate, drops everything
// once its process has crashed, and tells the recorder about every request:
// its send time, and for a write the server stored, the send time that
// bounds the candidate's renew deadline.
type transport struct {
	h    *harness
	cand int
	proc *process // the process this transport belongs to
	run  *electorRun
	next http.RoundTripper

	mu      sync.Mutex
	watches map[*cutBody]struct{} // guarded by mu: open watch streams
	instant time.Time             // guarded by mu: the instant of the last request
	burst   int                   // guarded by mu: requests sent at that instant
}

// hotLoopBurst is how many requests one client may send at a single
// instant of fake time before the transport calls it a hot loop. Time does
// not pass in a loop that never waits, so without this a run would spin
// forever; with it, such requests are held back a RetryPeriod each.
const hotLoopBurst = 200

// verbOf classifies a request as "read", "write" or "watch".
func verbOf(req *http.Request) string {
	switch {
	case req.Method == http.MethodGet && req.URL.Query().Get("watch") != "":
		return "watch"
	case req.Method == http.MethodGet:
		return "read"
	}
	return "write"
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	verb := verbOf(req)
	sent := time.Now()
	if t.proc.isDead() || t.h.isShutdown() {
		return nil, t.blackhole(ctx)
	}
	t.mu.Lock()
	if sent.Equal(t.instant) {
		t.burst++
	} else {
		t.instant, t.burst = sent, 1
	}
	burst := t.burst
	t.mu.Unlock()
	if burst > hotLoopBurst {
		if burst == hotLoopBurst+1 {
			t.h.rec.violationAt(sent, "hot-loop", fmt.Sprintf("%s sent %d requests at one instant of fake time (last: %s %s)",
				t.h.plan.Candidates[t.cand].ID, hotLoopBurst, req.Method, req.URL.Path))
		}
		if !sleepCtx(ctx, t.h.plan.Timing.RetryPeriod) {
			return nil, context.Cause(ctx)
		}
		sent = time.Now()
	}
	window, active := t.h.activeFaults(t.cand, verb, req.URL.Path, sent)
	t.h.rec.request(t.cand, verb, sent, window, active)

	var slow time.Duration
	for _, f := range active {
		switch f.Kind {
		case Partition, Hang:
			if f.Kind == Partition && f.Variant == "error" {
				return nil, errInjected
			}
			<-ctx.Done()
			return nil, context.Cause(ctx)
		case ErrorCode:
			if f.Code == http.StatusConflict && verb != "write" {
				continue
			}
			if f.Code == http.StatusTooManyRequests && verb != "watch" {
				t.h.rec.retryAfter(t.cand, sent, time.Duration(f.Retry)*time.Second)
			}
			return statusResponse(req, f.Code, f.Retry), nil
		case WatchEmpty:
			return streamResponse(req, nil), nil
		case WatchGone:
			return streamResponse(req, goneEvent), nil
		case Latency:
			if !sleepCtx(ctx, f.Delay) {
				return nil, context.Cause(ctx)
			}
		case SlowAnswer:
			slow += f.Delay
		}
	}
	if t.proc.isDead() || t.h.isShutdown() {
		return nil, t.blackhole(ctx)
	}
	resp, err := t.next.RoundTrip(req)
	if trace {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.h.rec.note(fmt.Sprintf("%s/%d %s %s%s -> %d %v", t.h.plan.Candidates[t.cand].ID, t.proc.gen, req.Method, req.URL.Path, watchMark(verb), code, err))
	}
	if err != nil {
		return nil, err
	}
	if verb == "write" && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The server stored it: whether the answer arrives or not, the
		// candidate may learn of it (by reading its own record back), and
		// no follower saw the change before this send.
		sw := inspectWrite(req.URL.Path, resp)
		sw.cand = t.cand
		t.run.wroteOK(sent, resp.StatusCode == http.StatusCreated, sw)
		t.h.rec.stored(t.run, sw)
	}
	for _, f := range active {
		if f.Kind == LostAnswer {
			// The server applied the write; its answer never arrives.
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if f.Variant == "hang" {
				<-ctx.Done()
				return nil, context.Cause(ctx)
			}
			return nil, errInjected
		}
	}
	if slow > 0 && !sleepCtx(ctx, slow) {
		resp.Body.Close()
		return nil, context.Cause(ctx)
	}
	if t.proc.isDead() {
		resp.Body.Close()
		return nil, t.blackhole(ctx)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 && verb != "watch" {
		t.run.answered(time.Now()) // a watch counts once it delivers something
	}
	if verb == "watch" && resp.StatusCode == http.StatusOK {
		cb := newCutBody(resp.Body, t, t.h.plan.Candidates[t.cand].WatchDelay)
		t.mu.Lock()
		t.watches[cb] = struct{}{}
		t.mu.Unlock()
		resp.Body = cb
	}
	return resp, nil
}

// trace logs every request that reaches the server in the run's event log
// (CHAOS_TRACE=1): for diagnosing a replay.
var trace = os.Getenv("CHAOS_TRACE") != ""

func watchMark(verb string) string {
	if verb == "watch" {
		return " (watch)"
	}
	return ""
}

// blackhole is a request of a crashed process: it never reaches the server
// and ends with its context.
func (t *transport) blackhole(ctx context.Context) error {
	if t.h.isShutdown() {
		return errInjected
	}
	<-ctx.Done()
	return context.Cause(ctx)
}

// cutWatches ends every open watch stream of this transport, as a broken
// connection would.
func (t *transport) cutWatches() {
	t.mu.Lock()
	ws := make([]*cutBody, 0, len(t.watches))
	for w := range t.watches {
		ws = append(ws, w)
	}
	t.mu.Unlock()
	for _, w := range ws {
		w.Close()
	}
}

// cutBody is a watch stream that cutWatches can end, and that hands over
// what it reads delay after the server wrote it: a network's latency (not
// a slow link: a burst of events arrives together, delay late).
type cutBody struct {
	io.ReadCloser
	t     *transport
	delay time.Duration
	once  sync.Once

	chunks chan chunk    // from the pump, when delay > 0
	done   chan struct{} // closed by Close
	rest   []byte        // used by Read only: what is left of the last chunk
	err    error         // used by Read only: the error that ended the stream
}

// chunk is what one read of the stream gave, and when.
type chunk struct {
	b   []byte
	at  time.Time
	err error
}

func newCutBody(rc io.ReadCloser, t *transport, delay time.Duration) *cutBody {
	b := &cutBody{ReadCloser: rc, t: t, delay: delay, done: make(chan struct{})}
	if delay > 0 {
		b.chunks = make(chan chunk, 64)
		go b.pump()
	}
	return b
}

// pump reads the stream as the server writes it, stamping each chunk.
func (b *cutBody) pump() {
	for {
		buf := make([]byte, 4096)
		n, err := b.ReadCloser.Read(buf)
		select {
		case b.chunks <- chunk{b: buf[:n], at: time.Now(), err: err}:
		case <-b.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.delay <= 0 {
		n, err := b.ReadCloser.Read(p)
		b.traceRead(p[:n])
		return n, err
	}
	for len(b.rest) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		select {
		case c := <-b.chunks:
			if !sleepUntil(b.done, c.at.Add(b.delay)) {
				return 0, io.ErrClosedPipe
			}
			b.rest, b.err = c.b, c.err
		case <-b.done:
			return 0, io.ErrClosedPipe
		}
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	b.traceRead(p[:n])
	return n, nil
}

func (b *cutBody) traceRead(p []byte) {
	if len(p) > 0 {
		b.t.run.answered(time.Now())
	}
	if trace && len(p) > 0 {
		b.t.h.rec.note(fmt.Sprintf("%s/%d watch reads %d bytes: %.300s", b.t.h.plan.Candidates[b.t.cand].ID, b.t.proc.gen, len(p), p))
	}
}

func (b *cutBody) Close() error {
	var err error
	b.once.Do(func() {
		close(b.done)
		err = b.ReadCloser.Close()
		b.t.mu.Lock()
		delete(b.t.watches, b)
		b.t.mu.Unlock()
	})
	return err
}

var goneEvent = []byte(`{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version (injected)","reason":"Expired","code":410}}` + "\n")

// statusResponse is an injected error answer with a Kubernetes Status.
func statusResponse(req *http.Request, code, retryAfter int) *http.Response {
	reason := map[int]string{409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}[code]
	if code == 409 && req.Method == http.MethodPost {
		reason = "AlreadyExists"
	}
	st := map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": "chaos: injected " + strconv.Itoa(code), "reason": reason, "code": code}
	h := http.Header{"Content-Type": {"application/json"}}
	if retryAfter > 0 {
		st["details"] = map[string]any{"retryAfterSeconds": retryAfter}
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	b, _ := json.Marshal(st)
	return &http.Response{StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code), Proto: "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}
}

// streamResponse is a 200 watch answer whose stream holds body and ends.
func streamResponse(req *http.Request, body []byte) *http.Response {
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: -1, Request: req}
}

// sleepCtx waits d of true time; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
