//go:build !go1.24

package k8sapi

import "net/http"

// configureHTTP2 has nothing to set before Go 1.24 (no http.HTTP2Config).
func configureHTTP2(*http.Transport) {}
