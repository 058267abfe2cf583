package watchloop

import (
	"context"
	"sync"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// Position is where the next watch of a stream resumes: the last
// resourceVersion seen, or "" for the current state. It is safe for
// concurrent use.
type Position struct {
	mu sync.Mutex
	rv string // guarded by mu
}

// Load returns the position.
func (p *Position) Load() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rv
}

func (p *Position) store(rv string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rv = rv
}

// Opener opens one watch with opts.
type Opener func(ctx context.Context, opts k8sapi.WatchOptions) (*k8sapi.Watcher, error)

// Read runs one watch opened by open from at, asking the server to end it
// within timeout, and hands every event to event, bookmarks included. at
// moves past each event before event sees it, so that the next watch
// resumes after it whatever event does; after 410 Gone the next watch
// starts from the current state. Read returns the error that ended the
// stream: ctx's once ctx has ended.
//
// rv is the event's own resourceVersion ("" when it has none), read once
// here for the position. from is where the stream stood before the event: the resourceVersion
// of the last event with one that this position moved past, in this watch
// or an earlier one, or "" while a watch that started from the current
// state has had none yet. Such a watch begins with the current state
// (the server's synthetic ADDED events), not with writes as they
// happened: a reader that must tell one write from the next (which one
// began a leadership) can only trust an event whose from is the
// resourceVersion of the event it last saw.
func Read(ctx context.Context, at *Position, timeout time.Duration, open Opener, event func(e k8sapi.WatchEvent, rv, from string)) error {
	w, err := open(ctx, k8sapi.WatchOptions{
		ResourceVersion: at.Load(),
		TimeoutSeconds:  int(timeout.Seconds()),
		AllowBookmarks:  true,
	})
	if err != nil {
		at.forgetIfGone(err)
		return err
	}
	defer w.Close()
	for {
		e, err := w.Next()
		if err != nil {
			at.forgetIfGone(err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		from, rv := at.Load(), ""
		if e.Object != nil {
			rv = e.Object.ResourceVersion()
		}
		if rv != "" {
			at.store(rv)
		}
		event(e, rv, from)
	}
}

// forgetIfGone starts the next watch from the current state when the
// server no longer has the history after the position (410 Gone).
func (p *Position) forgetIfGone(err error) {
	if k8sapi.IsGone(err) {
		p.store("")
	}
}
