//go:build go1.25

//go:debug asynctimerchan=0

package k8sapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// hangingTransport answers nothing until the request's context is done.
type hangingTransport struct{}

func (hangingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

func TestRequestTimeout(t *testing.T) {
	for _, tt := range []struct {
		timeout, want time.Duration
	}{{0, 30 * time.Second}, {2 * time.Second, 2 * time.Second}} {
		synctest.Test(t, func(t *testing.T) {
			c, err := k8sapi.New(k8sapi.Config{Host: "https://api.example", Timeout: tt.timeout, Transport: hangingTransport{}})
			if err != nil {
				t.Fatal(err)
			}
			for op, call := range map[string]func() error{
				"get": func() error { _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); return err },
				"patch": func() error {
					_, err := c.Patch(context.Background(), k8sapi.Pods, "ns", "p", k8sapi.MergePatch, []byte(`{}`))
					return err
				},
			} {
				start := time.Now()
				if err := call(); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: error %v, want DeadlineExceeded", op, err)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("%s: gave up after %v, want %v", op, got, tt.want)
				}
			}
		})
	}
}

// streamBody is a watch body that delivers what is written to it and
// otherwise blocks until closed or its context is done.
type streamBody struct {
	ctx    context.Context
	data   chan string
	closed chan struct{}
	once   sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) {
	select {
	case s := <-b.data:
		return copy(p, s), nil
	case <-b.closed:
		return 0, errors.New("body closed")
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	}
}

func (b *streamBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

type streamTransport struct{ body *streamBody }

func (s *streamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.body = &streamBody{ctx: r.Context(), data: make(chan string, 1), closed: make(chan struct{})}
	s.body.data <- `{"type":"ADDED","object":{"metadata":{"name":"l"}}}`
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: s.body, Request: r}, nil
}

func TestWatchIsNotBoundedByTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := k8sapi.New(k8sapi.Config{Host: "https://api.example", Timeout: time.Second, Transport: &streamTransport{}})
		if err != nil {
			t.Fatal(err)
		}
		w, err := c.Watch(context.Background(), k8sapi.Leases, "ns", "l", k8sapi.WatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Next(); err != nil {
			t.Fatal(err)
		}
		var nextErr error
		done := make(chan struct{})
		go func() {
			_, nextErr = w.Next()
			close(done)
		}()
		time.Sleep(time.Hour) // fake time
		synctest.Wait()
		select {
		case <-done:
			t.Fatalf("Next returned after an hour without events: %v", nextErr)
		default:
		}
		w.Close()
		<-done
		if !errors.Is(nextErr, k8sapi.ErrWatchClosed) {
			t.Errorf("Next = %v, want ErrWatchClosed", nextErr)
		}
	})
}

var _ io.ReadCloser = (*streamBody)(nil)
