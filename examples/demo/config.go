package main

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// apiConfig returns the client config for the API server the flags name,
// starting the embedded in-process server when they name none.
func apiConfig(o *options) (cfg k8sapi.Config, where string, cleanup func(), err error) {
	cleanup = func() {}
	switch {
	case o.inCluster:
		c, err := k8sapi.InClusterConfig()
		if err != nil {
			return cfg, "", cleanup, err
		}
		if o.namespace == "" {
			o.namespace = c.Namespace
		}
		return *c, c.Host + " (in-cluster)", cleanup, nil
	case o.host != "":
		if o.token == "" {
			return cfg, "", cleanup, errors.New("-host needs -token-file")
		}
		if o.namespace == "" {
			o.namespace = "default"
		}
		return k8sapi.Config{Host: o.host, BearerTokenFile: o.token, CAFile: o.caFile}, o.host, cleanup, nil
	default:
		if o.namespace == "" {
			o.namespace = "default"
		}
		srv := testapiserver.New(testapiserver.Options{Token: "demo-token"})
		url, caPEM := srv.StartTLS()
		cfg = k8sapi.Config{Host: url, BearerToken: "demo-token", CAData: caPEM}
		return cfg, url + " (embedded in-process API server)", srv.Close, nil
	}
}

// cuttable is a transport that can be cut off: then every request fails as
// if the process had died or lost the network.
type cuttable struct {
	next http.RoundTripper
	cut  *atomic.Bool
}

var errCut = errors.New("demo: connection cut")

func (c *cuttable) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errCut
	}
	return c.next.RoundTrip(req)
}
