package k8sapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

// benchLease is a Lease as kube-apiserver answers with it: uid,
// creationTimestamp and one managedFields entry besides the spec.
var benchLease = []byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"lock","namespace":"ns",` +
	`"resourceVersion":"7","uid":"2b6f3c1e-4b8e-4a3e-9d55-0f1c2a3b4c5d","creationTimestamp":"2026-01-01T00:00:00Z",` +
	`"managedFields":[{"manager":"kubelect","operation":"Update","apiVersion":"coordination.k8s.io/v1","time":"2026-01-01T00:00:00Z",` +
	`"fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}}]},` +
	`"spec":{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2026-01-01T00:00:00.000000Z","renewTime":"2026-01-01T00:00:10.000000Z","leaseTransitions":3}}`)

// leaseAnswer answers every request with benchLease, declaring its length
// as kube-apiserver does.
type leaseAnswer struct{}

func (leaseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/2.0", ProtoMajor: 2, Request: req,
		Header:        http.Header{"Content-Type": {"application/json"}},
		ContentLength: int64(len(benchLease)), Body: io.NopCloser(bytes.NewReader(benchLease)),
	}, nil
}

// BenchmarkClientSide is one request of each kind that an elector sends,
// with the server replaced by a transport that answers with a Lease: what
// the client costs per request (the token, the request, reading and
// decoding the answer), plus the few allocations of the canned answer.
func BenchmarkClientSide(b *testing.B) {
	c, err := k8sapi.New(k8sapi.Config{Host: "https://canned.invalid", BearerToken: benchToken, Transport: leaseAnswer{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	obj := new(k8sapi.Object)
	if err := obj.UnmarshalJSON(benchLease); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.Get(ctx, k8sapi.Leases, "ns", "lock"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.Update(ctx, k8sapi.Leases, obj); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetTLS is one GET over the built transport (TLS, HTTP/2, one
// connection kept) to a local server that answers with a Lease: the
// client side as above plus HTTP/2 framing, TLS records and the server's
// handler.
func BenchmarkGetTLS(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(benchLease)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv), BearerToken: benchToken})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx, k8sapi.Leases, "ns", "lock"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(ctx, k8sapi.Leases, "ns", "lock"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchToken is as long as a service-account token (a JWT of about a
// kilobyte).
var benchToken = string(bytes.Repeat([]byte("t"), 1000))
