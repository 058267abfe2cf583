//go:build go1.24

package k8sapi

import (
	"net/http"
	"time"
)

// configureHTTP2 turns on HTTP/2 health checks: a connection that has been
// silent for 30s is pinged and closed when the ping goes unanswered for
// 15s, so a watch on a dead connection ends instead of hanging.
func configureHTTP2(t *http.Transport) {
	t.HTTP2 = &http.HTTP2Config{
		SendPingTimeout: 30 * time.Second,
		PingTimeout:     15 * time.Second,
	}
}
