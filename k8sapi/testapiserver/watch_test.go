//go:build go1.25

//go:debug asynctimerchan=0

package testapiserver_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// next reads n events as "TYPE holder".
func next(t *testing.T, w *k8sapi.Watcher, n int) []string {
	t.Helper()
	var got []string
	for i := 0; i < n; i++ {
		e, err := w.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var holder string
		if e.Object != nil {
			_, _ = e.Object.DecodeField(&holder, "spec", "holderIdentity")
		}
		got = append(got, string(e.Type)+" "+holder)
	}
	return got
}

func TestWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		srv := testapiserver.New(testapiserver.Options{WatchHistory: 3})
		c := client(t, srv)
		created, err := c.Create(ctx, k8sapi.Leases, lease("l", ""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(ctx, k8sapi.Leases, lease("other", "")); err != nil {
			t.Fatal(err)
		}
		// From the current state: a synthetic ADDED, then the changes of
		// the one object named.
		w, err := c.Watch(ctx, k8sapi.Leases, ns, "l", k8sapi.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		upd := created.DeepCopy()
		_ = upd.SetField("b", "spec", "holderIdentity")
		updated, err := c.Update(ctx, k8sapi.Leases, upd)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, k8sapi.Leases, ns, "l"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"ADDED a", "MODIFIED b", "DELETED b"}, next(t, w, 3)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}

		// Resumed from a resourceVersion: the changes after it.
		w2, err := c.Watch(ctx, k8sapi.Leases, ns, "l", k8sapi.WatchOptions{ResourceVersion: updated.ResourceVersion()})
		if err != nil {
			t.Fatal(err)
		}
		defer w2.Close()
		if diff := cmp.Diff([]string{"DELETED b"}, next(t, w2, 1)); diff != "" {
			t.Errorf("resumed events (-want +got):\n%s", diff)
		}

		// Too old for the history kept (3 events): 410 as an ERROR event.
		for i := 0; i < 3; i++ {
			if err := c.Delete(ctx, k8sapi.Leases, ns, "other"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, k8sapi.Leases, lease("other", "")); err != nil {
				t.Fatal(err)
			}
		}
		w3, err := c.Watch(ctx, k8sapi.Leases, ns, "l", k8sapi.WatchOptions{ResourceVersion: created.ResourceVersion()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w3.Next(); !k8sapi.IsGone(err) {
			t.Errorf("watch from a compacted version: %v, want Gone", err)
		}
		w3.Close()

		// CloseWatches ends the streams.
		srv.CloseWatches()
		if _, err := w2.Next(); !errors.Is(err, io.EOF) {
			t.Errorf("after CloseWatches: %v, want EOF", err)
		}
	})
}

func TestWatchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		w, err := client(t, srv).Watch(context.Background(), k8sapi.Leases, ns, "l", k8sapi.WatchOptions{TimeoutSeconds: 30})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		start := time.Now()
		if _, err := w.Next(); !errors.Is(err, io.EOF) || time.Since(start) != 30*time.Second {
			t.Errorf("Next = %v after %v, want EOF after 30s", err, time.Since(start))
		}
	})
}

func TestLatencyAndHang(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := testapiserver.New(testapiserver.Options{})
		c := client(t, srv)
		srv.SetLatency(250 * time.Millisecond)
		start := time.Now()
		if _, err := c.Get(context.Background(), k8sapi.Leases, ns, "l"); !k8sapi.IsNotFound(err) {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 250*time.Millisecond {
			t.Errorf("request took %v, want 250ms", d)
		}
		srv.SetLatency(0)

		srv.SetHang(true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start = time.Now()
		if _, err := c.Get(ctx, k8sapi.Leases, ns, "l"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("hung request: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("hung request ended after %v, want 5s", d)
		}
		srv.SetHang(false)
		if _, err := c.Get(context.Background(), k8sapi.Leases, ns, "l"); !k8sapi.IsNotFound(err) {
			t.Errorf("after the hang: %v", err)
		}
	})
}
