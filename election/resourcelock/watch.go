package resourcelock

import (
	"context"
	"errors"

	"github.com/kubelect/kubelect/internal/lockwatch"
	"github.com/kubelect/kubelect/internal/watchloop"
	"github.com/kubelect/kubelect/k8sapi"
)

// decodeFunc reads the record and its raw bytes out of a lock object. A
// record that does not decode gives a record held by UnknownLeader, the raw
// bytes and an error wrapping ErrInvalidRecord.
type decodeFunc func(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error)

// watchRecord runs one watch of a lock object, from where the last one
// ended (or from the current state), and passes what it sees to observe. It
// returns the error that ended the stream; after 410 Gone the next watch
// starts from the current state.
//
// An object whose record cannot be read at all (not an invalid record:
// that is passed on, as held by an unknown holder) is skipped, as the
// shared watch skips it: the stream is healthy and has moved past it, so
// ending it would only reopen it, make the follower poll meanwhile and
// count a restart. Safety does not rest on what the watch shows: a
// candidate writes only after a read of its own, conditionally.
//
// When ctx carries a listener (lockwatch.WithEvents: the Observer's, which
// learns fencing tokens from it), every event of the stream is told to it
// first, with its resourceVersion and where the stream stood before it;
// WatchRecord's public callback stays (rec, raw).
func watchRecord(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, decode decodeFunc,
	at *watchloop.Position, observe func(*LeaderElectionRecord, []byte)) error {
	open := func(ctx context.Context, opts k8sapi.WatchOptions) (*k8sapi.Watcher, error) {
		return c.Watch(ctx, r, meta.Namespace, meta.Name, opts)
	}
	tell := lockwatch.Events[*LeaderElectionRecord](ctx)
	if tell == nil {
		tell = func(lockwatch.Event[*LeaderElectionRecord]) {}
	}
	return watchloop.Read(ctx, at, WatchTimeout, open, func(e k8sapi.WatchEvent, rv, from string) {
		ev := lockwatch.Event[*LeaderElectionRecord]{Kind: lockwatch.SkippedEvent, ResourceVersion: rv, From: from}
		switch e.Type {
		case k8sapi.Added, k8sapi.Modified:
			rec, raw, err := decode(e.Object)
			if err != nil && !errors.Is(err, ErrInvalidRecord) {
				tell(ev)
				return
			}
			ev.Kind, ev.Record = lockwatch.RecordEvent, rec
			tell(ev)
			observe(rec, raw)
		case k8sapi.Deleted:
			ev.Kind = lockwatch.DeletedEvent
			tell(ev)
			observe(nil, nil)
		case k8sapi.Bookmark:
			ev.Kind = lockwatch.BookmarkEvent
			tell(ev)
		default:
			tell(ev)
		}
	})
}
