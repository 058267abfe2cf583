package testapiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// change is one write, kept for watches.
type change struct {
	rv    int64
	key   key
	event []byte // the encoded watch event, newline included
}

// watcher is one open watch stream.
type watcher struct {
	match  func(key) bool
	events chan []byte   // buffered; closed never
	done   chan struct{} // closed when the server ends the watch
}

// watchBuffer is how many events a slow watcher may fall behind before the
// server ends its watch.
const watchBuffer = 256

func encodeEvent(typ string, obj any) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "object": obj})
	return append(b, '\n')
}

// notifyLocked records a change and sends it to the matching watchers. A
// watcher too slow to keep up has its watch ended.
func (s *Server) notifyLocked(k key, typ string, obj map[string]any) {
	c := change{rv: s.rv, key: k, event: encodeEvent(typ, obj)}
	s.history = append(s.history, c)
	if over := len(s.history) - s.opts.WatchHistory; over > 0 {
		// Drop the oldest in place; append copies the rest into a new
		// array only when the old one is full, so a write costs O(1).
		clear(s.history[:over])
		s.history = s.history[over:]
	}
	for w := range s.watchers {
		if !w.match(k) {
			continue
		}
		select {
		case w.events <- c.event:
		default:
			delete(s.watchers, w)
			close(w.done)
		}
	}
}

// CloseWatches ends every open watch stream, as a restarting API server
// would.
func (s *Server) CloseWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		delete(s.watchers, w)
		close(w.done)
	}
}

func (s *Server) watch(w http.ResponseWriter, req *http.Request, r request) {
	q := req.URL.Query()
	name := ""
	if sel := q.Get("fieldSelector"); sel != "" {
		v, ok := strings.CutPrefix(sel, "metadata.name==")
		if !ok {
			v, ok = strings.CutPrefix(sel, "metadata.name=")
		}
		if !ok || v == "" || strings.ContainsAny(v, ",=!") {
			writeStatus(w, failure(http.StatusBadRequest, "", fmt.Sprintf("unsupported field selector %q: only metadata.name=<name>", sel), nil))
			return
		}
		name = v
	}
	match := func(k key) bool {
		return k.group == r.group && k.resource == r.resource && k.namespace == r.namespace && (name == "" || k.name == name)
	}
	var timeout <-chan time.Time
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 {
			writeStatus(w, failure(http.StatusBadRequest, "", "invalid timeoutSeconds "+strconv.Quote(ts), nil))
			return
		}
		if n > 0 {
			t := time.NewTimer(time.Duration(n) * time.Second)
			defer t.Stop()
			timeout = t.C
		}
	}
	var since int64 = -1 // -1: start with the current state
	if rv := q.Get("resourceVersion"); rv != "" && rv != "0" {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil {
			writeStatus(w, failure(http.StatusBadRequest, "", "invalid resourceVersion "+strconv.Quote(rv), nil))
			return
		}
		since = n
	}

	wt := &watcher{match: match, events: make(chan []byte, watchBuffer), done: make(chan struct{})}
	var first [][]byte
	s.mu.Lock()
	switch {
	case since < 0:
		for k, obj := range s.objects {
			if match(k) {
				first = append(first, encodeEvent("ADDED", obj))
			}
		}
	case s.tooOldLocked(since):
		oldest := s.rv
		if len(s.history) > 0 {
			oldest = s.history[0].rv
		}
		s.mu.Unlock()
		gone := failure(http.StatusGone, "Expired", fmt.Sprintf("too old resource version: %d (%d)", since, oldest-1), nil)
		startStream(w)
		_, _ = w.Write(encodeEvent("ERROR", gone))
		flush(w)
		return
	default:
		for _, c := range s.history {
			if c.rv > since && match(c.key) {
				first = append(first, c.event)
			}
		}
	}
	s.watchers[wt] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, wt)
		s.mu.Unlock()
	}()

	startStream(w)
	for _, e := range first {
		if _, err := w.Write(e); err != nil {
			return
		}
	}
	flush(w)
	for {
		select {
		case e := <-wt.events:
			if _, err := w.Write(e); err != nil {
				return
			}
			flush(w)
		case <-wt.done:
			return
		case <-timeout:
			return
		case <-req.Context().Done():
			return
		}
	}
}

// tooOldLocked reports whether the changes after rv are no longer all kept.
func (s *Server) tooOldLocked(rv int64) bool {
	if rv >= s.rv {
		return false
	}
	return len(s.history) == 0 || s.history[0].rv > rv+1
}

func startStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush(w)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
