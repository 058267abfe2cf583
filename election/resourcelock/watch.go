package resourcelock

import (
	"context"
	"errors"
	"sync"

	"github.com/kubelect/kubelect/k8sapi"
)

// decodeFunc reads the record and its raw bytes out of a lock object. A
// record that does not decode gives a record held by UnknownLeader, the raw
// bytes and an error wrapping ErrInvalidRecord.
type decodeFunc func(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error)

// watchState is where a lock's next watch resumes.
type watchState struct {
	mu sync.Mutex
	rv string // guarded by mu: the last resourceVersion seen; "" starts from the current state
}

func (s *watchState) load() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv
}

func (s *watchState) store(rv string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv = rv
}

// watchRecord runs one watch of a lock object, from where the last one
// ended (or from the current state), and passes what it sees to observe. It
// returns the error that ended the stream; after 410 Gone the next watch
// starts from the current state.
func watchRecord(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, decode decodeFunc,
	state *watchState, observe func(*LeaderElectionRecord, []byte)) error {
	w, err := c.Watch(ctx, r, meta.Namespace, meta.Name, k8sapi.WatchOptions{
		ResourceVersion: state.load(),
		TimeoutSeconds:  int(WatchTimeout.Seconds()),
		AllowBookmarks:  true,
	})
	if err != nil {
		if k8sapi.IsGone(err) {
			state.store("")
		}
		return err
	}
	defer w.Close()
	for {
		e, err := w.Next()
		if err != nil {
			if k8sapi.IsGone(err) {
				state.store("")
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if e.Object != nil && e.Object.ResourceVersion() != "" {
			state.store(e.Object.ResourceVersion())
		}
		switch e.Type {
		case k8sapi.Added, k8sapi.Modified:
			rec, raw, err := decode(e.Object)
			if err != nil && !errors.Is(err, ErrInvalidRecord) {
				return err
			}
			observe(rec, raw)
		case k8sapi.Deleted:
			observe(nil, nil)
		}
	}
}
