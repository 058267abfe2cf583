package k8sapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
)

// ErrWatchClosed is what Watcher.Next returns once Close has been called.
var ErrWatchClosed = errors.New("k8sapi: watch closed")

// WatchOptions tune a watch: of one object (Watch) or of a namespace's
// collection (WatchAll).
type WatchOptions struct {
	ResourceVersion string // start after this version; "" means current state first
	TimeoutSeconds  int    // server-side timeout; 0 lets the server choose
	AllowBookmarks  bool
}

// EventType is the type of a watch event.
type EventType string

// The event types of a watch stream.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Bookmark EventType = "BOOKMARK"
	Error    EventType = "ERROR"
)

// WatchEvent is one event of a watch stream.
type WatchEvent struct {
	Type   EventType
	Object *Object
}

// Watch opens a watch on the one object named name: a GET of the
// namespace's collection with watch=1 and a field selector on the name,
// which needs only the "watch" verb in RBAC, not "list".
//
// Config.Timeout does not apply: the watch lasts until ctx is done, the
// server ends it (opts.TimeoutSeconds) or Close. A refusal is a
// *StatusError; IsForbidden tells the caller to fall back to polling.
func (c *Client) Watch(ctx context.Context, r Resource, namespace, name string, opts WatchOptions) (*Watcher, error) {
	if err := checkNames("watch", namespace, name); err != nil {
		return nil, err
	}
	return c.watch(ctx, r, namespace, name, opts)
}

// WatchAll opens a watch on every object of r in namespace: one stream
// that several followers of objects in the same namespace can share
// (events carry the object, so its name). It needs the "watch" verb on
// the resource without a resourceNames restriction; a Role that names
// the objects allows Watch of each of them, and refuses this with 403.
// The rest is as for Watch.
func (c *Client) WatchAll(ctx context.Context, r Resource, namespace string, opts WatchOptions) (*Watcher, error) {
	if err := checkName("watch", "namespace", namespace); err != nil {
		return nil, err
	}
	return c.watch(ctx, r, namespace, "", opts)
}

// watch opens the watch of Watch, or of WatchAll when name is empty.
func (c *Client) watch(ctx context.Context, r Resource, namespace, name string, opts WatchOptions) (*Watcher, error) {
	if opts.TimeoutSeconds < 0 {
		return nil, fmt.Errorf("k8sapi: watch: negative TimeoutSeconds %d", opts.TimeoutSeconds)
	}
	q := url.Values{}
	q.Set("watch", "1")
	if name != "" {
		q.Set("fieldSelector", "metadata.name="+name)
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	if opts.AllowBookmarks {
		q.Set("allowWatchBookmarks", "true")
	}
	if opts.TimeoutSeconds > 0 {
		q.Set("timeoutSeconds", strconv.Itoa(opts.TimeoutSeconds))
	}
	path := r.collectionPath(namespace)
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.send(ctx, http.MethodGet, path, q, "", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := c.statusError(resp, http.MethodGet, path)
		resp.Body.Close()
		cancel()
		return nil, err
	}
	w := &Watcher{
		ctx:    ctx,
		cancel: cancel,
		body:   resp.Body,
		path:   path,
		client: c,
		limit:  &eventLimit{r: resp.Body},
	}
	w.dec = json.NewDecoder(w.limit)
	return w, nil
}

// Watcher reads one watch stream. Next is for one goroutine; Close may be
// called from any goroutine, any number of times.
type Watcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	path   string
	client *Client

	closed      atomic.Bool // set by Close
	releaseOnce sync.Once

	// Used by Next only.
	limit *eventLimit
	dec   *json.Decoder
	err   error // sticky: once the stream failed or ended, Next repeats it
}

// wireEvent is an event as the server sends it.
type wireEvent struct {
	Type   EventType
	Object json.RawMessage
}

// decodeEvent reads the event out of frame, valid JSON: its "type" (empty
// when not a string) and its "object" (nil when absent), keys exact.
func decodeEvent(frame []byte) wireEvent {
	var we wireEvent
	eachMember(frame, func(k []byte, escaped bool, v []byte) {
		switch {
		case keyIs(k, escaped, "type"):
			s, _ := jsonString(v)
			we.Type = EventType(s)
		case keyIs(k, escaped, "object"):
			we.Object = v
		}
	})
	return we
}

// Next blocks for the next event. An ERROR event is returned as a
// *StatusError (IsGone for 410); the end of the stream is io.EOF. After
// ctx is done Next returns an error wrapping ctx.Err(), after Close
// ErrWatchClosed; a stream that failed or ended keeps returning its error, and
// has already let its connection go.
func (w *Watcher) Next() (WatchEvent, error) {
	if w.err != nil {
		return WatchEvent{}, w.err
	}
	ev, err := w.next()
	if err != nil {
		w.err = err
		w.release()
	}
	return ev, err
}

func (w *Watcher) next() (WatchEvent, error) {
	max := w.client.maxBytes
	w.limit.left = max
	// The decoder checks the frame and copies it: one pass over it, and
	// the event's object is a slice of the copy.
	var frame json.RawMessage
	err := w.dec.Decode(&frame)
	we := decodeEvent(frame)
	switch {
	case w.closed.Load():
		return WatchEvent{}, ErrWatchClosed
	case err != nil && w.ctx.Err() != nil:
		// Checked before io.EOF: a body cut by the cancellation may read
		// as a clean end.
		return WatchEvent{}, fmt.Errorf("k8sapi: watch %s: %w", w.path, w.ctx.Err())
	case err == io.EOF:
		return WatchEvent{}, io.EOF
	case errors.Is(err, ErrResponseTooLarge) || (err == nil && int64(len(we.Object)) > max):
		return WatchEvent{}, fmt.Errorf("%w: watch %s: an event exceeds the limit of %d bytes (Config.MaxResponseBytes)",
			ErrResponseTooLarge, w.path, max)
	case err != nil:
		return WatchEvent{}, fmt.Errorf("k8sapi: watch %s: read event: %w", w.path, redactError(err, w.client.tokens.secrets()))
	}
	switch we.Type {
	case Added, Modified, Deleted, Bookmark:
		// The decoder checked the event and copied its object: valid JSON,
		// the object's own.
		obj := new(Object)
		if err := obj.decodeValid(we.Object); err != nil {
			return WatchEvent{}, fmt.Errorf("k8sapi: watch %s: %s event: %w", w.path, we.Type, err)
		}
		return WatchEvent{Type: we.Type, Object: obj}, nil
	case Error:
		se := decodeStatus(0, "", we.Object, w.client.tokens.secrets())
		se.Method, se.Path = http.MethodGet, w.path
		return WatchEvent{}, se
	default:
		return WatchEvent{}, fmt.Errorf("k8sapi: watch %s: unknown event type %q", w.path, snippet([]byte(we.Type), w.client.tokens.secrets()))
	}
}

// Close ends the stream. It returns nil, and may be called again and
// concurrently with Next, which then returns promptly.
func (w *Watcher) Close() error {
	w.closed.Store(true)
	w.release()
	return nil
}

// release ends the request and frees its connection, once.
func (w *Watcher) release() {
	w.releaseOnce.Do(func() {
		w.cancel()
		w.body.Close()
	})
}

// eventLimit caps how many bytes one Next may read from the stream, so an
// endless event cannot take all memory. The decoder may have buffered the
// start of the next event already; that part is not counted, so an event
// is cut off after between max and max plus one read's worth of bytes,
// and Next checks the exact size of what it decoded.
type eventLimit struct {
	r    io.Reader
	left int64 // bytes this Next may still read
}

func (l *eventLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// At the limit, the end of the stream (or a failed read) is what
		// it is, not an event too large: look for one more byte.
		var one [1]byte
		if n, err := l.r.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		return 0, ErrResponseTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
