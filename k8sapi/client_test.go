package k8sapi_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubelect/kubelect/k8sapi"
)

// failingTransport fails every request loudly.
type failingTransport struct{}

func (failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("unexpected request %s %s", r.Method, r.URL)
}

// objectServer answers like an API server that stores nothing: GET
// returns an object named after the path, POST and PUT echo the body
// with resourceVersion "2", DELETE returns a success Status.
func objectServer(rec *recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := rec.add(r)
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodGet:
			parts := strings.Split(r.URL.Path, "/")
			fmt.Fprintf(w, `{"kind":"X","apiVersion":"v1","metadata":{"name":%q,"namespace":%q,"resourceVersion":"1"}}`,
				parts[len(parts)-1], parts[len(parts)-3])
		case http.MethodPost, http.MethodPut:
			var o k8sapi.Object
			if err := json.Unmarshal([]byte(req.Body), &o); err != nil {
				writeStatus(w, 400, "BadRequest", err.Error())
				return
			}
			o.SetField("2", "metadata", "resourceVersion")
			if r.Method == http.MethodPost {
				w.WriteHeader(http.StatusCreated)
			}
			json.NewEncoder(w).Encode(&o)
		case http.MethodDelete:
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Success","details":{"name":"x"}}`)
		}
	}
}

func TestRequestsPathsAndMethods(t *testing.T) {
	rec := &recorder{}
	_, c := newServer(t, objectServer(rec), k8sapi.Config{})
	ctx := context.Background()

	got, err := c.Get(ctx, k8sapi.Endpoints, "kube-system", "my lock")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != "my lock" || got.Namespace() != "kube-system" {
		t.Errorf("Get returned %q/%q", got.Namespace(), got.Name())
	}
	if _, err := c.Get(ctx, k8sapi.Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	lease := k8sapi.NewObject(k8sapi.Leases, "ns", "l")
	lease.SetField("me", "spec", "holderIdentity")
	created, err := c.Create(ctx, k8sapi.Leases, lease)
	if err != nil {
		t.Fatal(err)
	}
	if created.ResourceVersion() != "2" {
		t.Errorf("created resourceVersion %q", created.ResourceVersion())
	}
	created.SetField("you", "spec", "holderIdentity")
	if _, err := c.Update(ctx, k8sapi.Leases, created); err != nil {
		t.Fatal(err)
	}
	// Without apiVersion and kind, Create fills them in from the resource.
	var bare k8sapi.Object
	bare.SetField(map[string]string{"namespace": "ns", "name": "cm"}, "metadata")
	if _, err := c.Create(ctx, k8sapi.ConfigMaps, &bare); err != nil {
		t.Fatal(err)
	}
	if _, ok := bare.Field("kind"); ok {
		t.Error("Create changed the caller's object")
	}
	if err := c.Delete(ctx, k8sapi.ConfigMaps, "ns", "cm"); err != nil {
		t.Fatal(err)
	}

	type call struct{ Method, RawPath, Body string }
	want := []call{
		{"GET", "/api/v1/namespaces/kube-system/endpoints/my%20lock", ""},
		{"GET", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", ""},
		{"POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
			`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"ns"},"spec":{"holderIdentity":"me"}}`},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
			`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","namespace":"ns","resourceVersion":"2"},"spec":{"holderIdentity":"you"}}`},
		{"POST", "/api/v1/namespaces/ns/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","namespace":"ns"}}`},
		{"DELETE", "/api/v1/namespaces/ns/configmaps/cm", ""},
	}
	var calls []call
	for _, r := range rec.all() {
		calls = append(calls, call{r.Method, r.RawPath, r.Body})
		if r.Accept != "application/json" || r.Auth != "Bearer "+testToken || !strings.HasPrefix(r.UserAgent, "kubelect/") {
			t.Errorf("%s %s: Accept %q, Authorization %q, User-Agent %q", r.Method, r.Path, r.Accept, r.Auth, r.UserAgent)
		}
		if wantCT := map[bool]string{true: "application/json"}[r.Body != ""]; r.ContentType != wantCT {
			t.Errorf("%s %s: Content-Type %q", r.Method, r.Path, r.ContentType)
		}
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestUpdateSendsBackEveryField(t *testing.T) {
	rec := &recorder{}
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		req := rec.add(r)
		if r.Method == http.MethodGet {
			fmt.Fprint(w, endpointsJSON)
			return
		}
		fmt.Fprint(w, req.Body)
	}, k8sapi.Config{UserAgent: "test-agent/1"})
	ctx := context.Background()
	obj, err := c.Get(ctx, k8sapi.Endpoints, "kube-system", "lock")
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.SetAnnotation("control-plane.alpha.kubernetes.io/leader", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, k8sapi.Endpoints, obj); err != nil {
		t.Fatal(err)
	}
	reqs := rec.all()
	if len(reqs) != 2 || reqs[1].Method != "PUT" || reqs[1].Path != "/api/v1/namespaces/kube-system/endpoints/lock" {
		t.Fatalf("requests: %+v", reqs)
	}
	if reqs[1].UserAgent != "test-agent/1" {
		t.Errorf("User-Agent %q", reqs[1].UserAgent)
	}
	want := decode(t, []byte(endpointsJSON))
	want.(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)["control-plane.alpha.kubernetes.io/leader"] = "new"
	if diff := cmp.Diff(want, decode(t, []byte(reqs[1].Body))); diff != "" {
		t.Errorf("PUT body (-want +got):\n%s", diff)
	}
	if !strings.Contains(reqs[1].Body, `"resourceVersion":"12345"`) || !strings.Contains(reqs[1].Body, "12345678901234567890") {
		t.Errorf("PUT body lost resourceVersion or a number's spelling:\n%s", reqs[1].Body)
	}
}

func TestNonSuccessBecomesStatusError(t *testing.T) {
	type check func(error) bool
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		is      check
		code    int
		reason  string
		inError []string
	}{
		{
			name: "404", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeStatus(w, 404, "NotFound", `leases.coordination.k8s.io "l" not found`)
			},
			is: k8sapi.IsNotFound, code: 404, reason: "NotFound",
			inError: []string{`k8sapi: GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/l: 404 NotFound: leases.coordination.k8s.io "l" not found`},
		},
		{
			name: "409 Conflict on PUT", method: "PUT",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeStatus(w, 409, "Conflict", "the object has been modified")
			},
			is: k8sapi.IsConflict, code: 409, reason: "Conflict",
			inError: []string{"PUT /apis/coordination.k8s.io/v1/namespaces/ns/leases/l: 409 Conflict"},
		},
		{
			name: "409 AlreadyExists on POST", method: "POST",
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeStatus(w, 409, "AlreadyExists", `leases.coordination.k8s.io "l" already exists`)
			},
			is: k8sapi.IsAlreadyExists, code: 409, reason: "AlreadyExists",
		},
		{
			name: "409 on POST without a body", method: "POST",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(409) },
			is:      k8sapi.IsAlreadyExists, code: 409,
			inError: []string{"POST /apis/coordination.k8s.io/v1/namespaces/ns/leases: 409 Conflict"},
		},
		{
			name: "403", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) { writeStatus(w, 403, "Forbidden", "no") },
			is:      k8sapi.IsForbidden, code: 403, reason: "Forbidden",
		},
		{
			name: "410", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) { writeStatus(w, 410, "Gone", "gone") },
			is:      k8sapi.IsGone, code: 410, reason: "Gone",
		},
		{
			name: "429 with Retry-After", method: "PUT",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "4")
				writeStatus(w, 429, "TooManyRequests", "slow down")
			},
			is: func(err error) bool {
				d, ok := k8sapi.RetryAfter(err)
				return k8sapi.IsTooManyRequests(err) && ok && d.Seconds() == 4
			},
			code: 429, reason: "TooManyRequests",
		},
		{
			name: "HTML from a proxy", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1>"+strings.Repeat("padding ", 100)+"</body></html>")
			},
			is:      func(err error) bool { return !k8sapi.IsNotFound(err) },
			code:    502,
			inError: []string{"GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/l: 502 Bad Gateway", "<h1>502 Bad Gateway</h1>", `..."`},
		},
		{
			name: "empty body", method: "DELETE",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) },
			is:      func(err error) bool { return true }, code: 503,
			inError: []string{"DELETE /apis/coordination.k8s.io/v1/namespaces/ns/leases/l: 503 Service Unavailable"},
		},
		{
			name: "truncated Status", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(404)
				fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Fai`)
			},
			is: k8sapi.IsNotFound, code: 404,
			inError: []string{`404 Not Found: body: "{\"kind\":\"Status\"`},
		},
		{
			name: "redirect is not followed", method: "GET",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
			},
			is: func(err error) bool { return true }, code: 302,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newServer(t, tt.handler, k8sapi.Config{})
			ctx := context.Background()
			var err error
			lease := k8sapi.NewObject(k8sapi.Leases, "ns", "l")
			switch tt.method {
			case "GET":
				_, err = c.Get(ctx, k8sapi.Leases, "ns", "l")
			case "POST":
				_, err = c.Create(ctx, k8sapi.Leases, lease)
			case "PUT":
				_, err = c.Update(ctx, k8sapi.Leases, lease)
			case "DELETE":
				err = c.Delete(ctx, k8sapi.Leases, "ns", "l")
			}
			err = fmt.Errorf("caller: %w", err)
			var se *k8sapi.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if se.Code != tt.code || se.Reason != tt.reason || se.Method != tt.method {
				t.Errorf("code %d reason %q method %q; want %d %q %s", se.Code, se.Reason, se.Method, tt.code, tt.reason, tt.method)
			}
			if !tt.is(err) {
				t.Errorf("predicate false for %v", err)
			}
			for _, s := range tt.inError {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\nlacks %q", err, s)
				}
			}
			if len(se.Body) > 203 {
				t.Errorf("body snippet is %d bytes", len(se.Body))
			}
		})
	}
}

func TestResponseBodyCap(t *testing.T) {
	body := `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"},"data":{"k":"` + strings.Repeat("v", 200) + `"}}`
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) },
		k8sapi.Config{MaxResponseBytes: int64(len(body) - 1)})
	_, err := c.Get(context.Background(), k8sapi.ConfigMaps, "ns", "x")
	if !errors.Is(err, k8sapi.ErrResponseTooLarge) {
		t.Fatalf("error %v, want ErrResponseTooLarge", err)
	}
	if !strings.Contains(err.Error(), "GET /api/v1/namespaces/ns/configmaps/x") {
		t.Errorf("error %q does not name the request", err)
	}

	_, c = newServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) },
		k8sapi.Config{MaxResponseBytes: int64(len(body))})
	if _, err := c.Get(context.Background(), k8sapi.ConfigMaps, "ns", "x"); err != nil {
		t.Errorf("body of exactly the cap: %v", err)
	}
}

func TestSuccessWithNonObjectBody(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>login page</html>")
	}, k8sapi.Config{})
	_, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l")
	if err == nil || !strings.Contains(err.Error(), "GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/l") ||
		!strings.Contains(err.Error(), "login page") {
		t.Errorf("error = %v", err)
	}
}

func TestTLSVerifiedAgainstCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request reached the server")
	}))
	defer srv.Close()
	srv.Config.ErrorLog = discardLogger()
	other, _ := selfSigned(t)
	for name, cfg := range map[string]k8sapi.Config{
		"wrong CA":     {Host: srv.URL, CAData: other, BearerToken: testToken},
		"system roots": {Host: srv.URL, BearerToken: testToken},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := k8sapi.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(context.Background(), k8sapi.Leases, "ns", "l")
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Errorf("error %v is not a certificate verification error", err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "k8sapi: GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/l: ") {
				t.Errorf("error %q lacks method and path", err)
			}
		})
	}
}

func TestPlainHTTPToLoopback(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(objectServer(rec))
	defer srv.Close()
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, BearerToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.all(); len(reqs) != 1 || reqs[0].Auth != "Bearer "+testToken {
		t.Errorf("requests %+v", reqs)
	}
}

func TestHostPathPrefix(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(objectServer(rec))
	defer srv.Close()
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL + "/proxy/k8s/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.all(); len(reqs) != 1 || reqs[0].Path != "/proxy/k8s/apis/coordination.k8s.io/v1/namespaces/ns/leases/l" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestBadArguments(t *testing.T) {
	c, err := k8sapi.New(k8sapi.Config{Host: "https://h", Transport: failingTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["get empty name"] = c.Get(ctx, k8sapi.Leases, "ns", "")
	_, checks["get empty ns"] = c.Get(ctx, k8sapi.Leases, "", "x")
	_, checks["get dot-dot"] = c.Get(ctx, k8sapi.Leases, "ns", "..")
	_, checks["create nil"] = c.Create(ctx, k8sapi.Leases, nil)
	_, checks["create no namespace"] = c.Create(ctx, k8sapi.Leases, k8sapi.NewObject(k8sapi.Leases, "", "x"))
	_, checks["update nil"] = c.Update(ctx, k8sapi.Leases, nil)
	_, checks["update no name"] = c.Update(ctx, k8sapi.Leases, k8sapi.NewObject(k8sapi.Leases, "ns", ""))
	checks["delete empty"] = c.Delete(ctx, k8sapi.Leases, "ns", "")
	_, checks["watch empty"] = c.Watch(ctx, k8sapi.Leases, "ns", "", k8sapi.WatchOptions{})
	for name, err := range checks {
		if err == nil || !strings.HasPrefix(err.Error(), "k8sapi: ") || strings.Contains(err.Error(), "unexpected request") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestConnectionRefusedNamesRequest(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := k8sapi.New(k8sapi.Config{Host: url, BearerToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), k8sapi.Endpoints, "ns", "x")
	if err == nil || !strings.HasPrefix(err.Error(), "k8sapi: GET /api/v1/namespaces/ns/endpoints/x: ") {
		t.Errorf("error = %v", err)
	}
	if k8sapi.IsNotFound(err) {
		t.Error("a transport error is IsNotFound")
	}
}

func TestHTTP2WithTheBuiltTransport(t *testing.T) {
	protos := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto
		fmt.Fprint(w, `{"metadata":{"name":"l"}}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c, err := k8sapi.New(k8sapi.Config{Host: srv.URL, CAData: caPEM(srv)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
		t.Fatal(err)
	}
	if p := <-protos; p != "HTTP/2.0" {
		t.Errorf("protocol %s, want HTTP/2.0", p)
	}
}

// countingTransport counts the requests that pass through it.
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex // guards n
	n    int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func TestWrapTransport(t *testing.T) {
	rec := &recorder{}
	counter := &countingTransport{}
	_, c := newServer(t, objectServer(rec), k8sapi.Config{WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	}})
	for i := 0; i < 3; i++ {
		if _, err := c.Get(context.Background(), k8sapi.Leases, "ns", "l"); err != nil {
			t.Fatal(err)
		}
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.n != 3 || len(rec.all()) != 3 {
		t.Errorf("wrapper saw %d requests, server %d; want 3", counter.n, len(rec.all()))
	}
	if _, err := k8sapi.New(k8sapi.Config{Host: "https://h", WrapTransport: func(http.RoundTripper) http.RoundTripper { return nil }}); err == nil {
		t.Error("New accepted a WrapTransport returning nil")
	}
}
