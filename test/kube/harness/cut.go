package harness

import (
	"errors"
	"net/http"
	"sync/atomic"
)

// ErrCut is the error of every request Cuttable fails.
var ErrCut = errors.New("harness: connection cut")

// Cuttable wraps next so that every request fails with ErrCut, unsent,
// while cut is set: a candidate whose network is gone, so that its crash
// leaves its record behind as a killed pod's would.
func Cuttable(next http.RoundTripper, cut *atomic.Bool) http.RoundTripper {
	return cutTransport{next, cut}
}

type cutTransport struct {
	next http.RoundTripper
	cut  *atomic.Bool
}

// RoundTrip fails the request while the connection is cut.
func (c cutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, ErrCut
	}
	return c.next.RoundTrip(req)
}
