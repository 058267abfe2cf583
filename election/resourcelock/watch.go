package resourcelock

import (
	"context"
	"errors"
	"io"

	"github.com/kubelect/kubelect/k8sapi"
)

// decodeFunc reads the record and its raw bytes out of a lock object.
type decodeFunc func(obj *k8sapi.Object) (*LeaderElectionRecord, []byte, error)

// watchRecord follows one lock object: a watch from the current state,
// resumed from the last resourceVersion seen when the server ends it, and
// started afresh after 410 Gone. It returns on any other error.
func watchRecord(ctx context.Context, c *k8sapi.Client, r k8sapi.Resource, meta ObjectMeta, decode decodeFunc,
	observe func(*LeaderElectionRecord, []byte)) error {
	var rv string // "" : start from the current state
	for {
		w, err := c.Watch(ctx, r, meta.Namespace, meta.Name, k8sapi.WatchOptions{ResourceVersion: rv, AllowBookmarks: true})
		if err != nil {
			return err
		}
		rv, err = readEvents(w, rv, decode, observe)
		w.Close()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case k8sapi.IsGone(err):
			rv = ""
		case errors.Is(err, io.EOF):
			// The server ended the watch (its timeout): resume.
		default:
			return err
		}
	}
}

// readEvents passes the records of one watch stream to observe and
// returns the last resourceVersion seen and the error that ended it.
func readEvents(w *k8sapi.Watcher, rv string, decode decodeFunc, observe func(*LeaderElectionRecord, []byte)) (string, error) {
	for {
		e, err := w.Next()
		if err != nil {
			return rv, err
		}
		if e.Object != nil && e.Object.ResourceVersion() != "" {
			rv = e.Object.ResourceVersion()
		}
		switch e.Type {
		case k8sapi.Added, k8sapi.Modified:
			rec, raw, err := decode(e.Object)
			if err != nil {
				return rv, err
			}
			observe(rec, raw)
		case k8sapi.Deleted:
			observe(&LeaderElectionRecord{}, nil)
		}
	}
}
