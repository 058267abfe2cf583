package testapiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// errDropped is what a dropped request fails with in-process.
var errDropped = errors.New("testapiserver: connection reset by peer (injected drop)")

// RoundTripper returns a transport that serves requests in-process, without
// sockets: the handler runs in its own goroutine and streams its answer
// through a pipe, so watches work. It works inside a testing/synctest
// bubble.
func (s *Server) RoundTripper() http.RoundTripper { return roundTripper{s} }

type roundTripper struct{ s *Server }

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	sreq := req.Clone(ctx)
	if req.Body == nil {
		sreq.Body = http.NoBody
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				err := errDropped
				if p != http.ErrAbortHandler {
					err = fmt.Errorf("testapiserver: handler panic: %v", p)
				}
				rw.fail(err)
				return
			}
			rw.finish()
		}()
		rt.s.ServeHTTP(rw, sreq)
	}()
	select {
	case <-rw.ready:
	case <-ctx.Done():
		// The caller gave up before an answer. The handler ends with the
		// request's context; its writes fail once the pipe is closed.
		pr.CloseWithError(ctx.Err())
		cancel()
		return nil, ctx.Err()
	}
	if rw.err != nil {
		cancel()
		return nil, rw.err
	}
	return &http.Response{
		Status:        strconv.Itoa(rw.code) + " " + http.StatusText(rw.code),
		StatusCode:    rw.code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.sent,
		Body:          &body{pr: pr, cancel: cancel},
		ContentLength: -1,
		Request:       req,
	}, nil
}

// body is the client's end of the pipe; closing it ends the handler.
type body struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
}

func (b *body) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *body) Close() error {
	b.cancel()
	return b.pr.Close()
}

// pipeWriter is the handler's http.ResponseWriter: the status and headers
// are handed over when written, the body streams through the pipe.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter

	once  sync.Once
	ready chan struct{} // closed once code and sent, or err, are set
	code  int
	sent  http.Header
	err   error
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.code, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op: every Write reaches the reader at once.
func (w *pipeWriter) Flush() {}

func (w *pipeWriter) finish() {
	w.WriteHeader(http.StatusOK)
	w.pw.Close()
}

func (w *pipeWriter) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.ready)
	})
	w.pw.CloseWithError(err)
}
