package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/election"
)

// readyTolerance is how long every try to reach the lock may fail before
// /readyz answers 503.
const readyTolerance = time.Minute

// electorRoutes adds /healthz, /readyz and /metrics, answered for the
// elector that cur holds. Before the first elector is stored, /healthz
// answers 200 and /readyz 503.
func electorRoutes(mux *http.ServeMux, cur *atomic.Pointer[election.LeaderElector], m *promMetrics, liveTolerance time.Duration) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if le := cur.Load(); le != nil {
			le.LivenessHandler(liveTolerance).ServeHTTP(w, r)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if le := cur.Load(); le != nil {
			le.ReadinessHandler(readyTolerance).ServeHTTP(w, r)
			return
		}
		http.Error(w, "not standing yet", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if cur.Load() != nil {
			m.write(w)
		}
	})
}

// serveHTTP serves h on addr until ctx ends, then shuts the server down
// (within 5s). Errors of the server after it started go to failed.
func (a *app) serveHTTP(ctx context.Context, log *slog.Logger, addr string, h http.Handler, failed func(error)) (wait func(), err error) {
	ln, err := a.listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed(err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-served:
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("serving HTTP", "addr", ln.Addr().String())
	return func() { <-stopped; <-served }, nil
}
