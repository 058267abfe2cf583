package testapiserver

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// Options configure a Server.
type Options struct {
	// Token, when set, is the bearer token every request must carry;
	// others get 401 Unauthorized.
	Token string
	// Allow, when not nil, lists what requests may do; any other request
	// gets 403 Forbidden.
	Allow []Permission
	// Deny lists what requests may not do, even when Allow lists it: they
	// get 403 Forbidden. SetDeny changes it while the server runs.
	Deny []Permission
	// User is the user named in 403 messages. Default
	// "system:serviceaccount:default:default".
	User string
	// EndpointsWarning sends the deprecation warning Kubernetes 1.33+ puts
	// on every v1 Endpoints response, errors included.
	EndpointsWarning bool
	// WatchHistory is how many events are kept for watches that resume
	// from a resourceVersion; older ones get 410 Gone. Default 1000.
	WatchHistory int
}

// Permission allows (or, in Deny, forbids) one verb (get, list, watch,
// create, update, patch, delete) on one resource ("leases") of one API group (""
// for core). "*" in a field matches any value.
//
// SelfSubjectAccessReviews are answered from the same lists, so a program's
// own preflight check sees what its requests will get.
type Permission struct {
	Verb, Group, Resource string
}

func (p Permission) matches(verb, group, resource string) bool {
	return (p.Verb == "*" || p.Verb == verb) && (p.Group == "*" || p.Group == group) &&
		(p.Resource == "*" || p.Resource == resource)
}

// EndpointsDeprecationWarning is the Warning header value Kubernetes 1.33+
// sends with every v1 Endpoints response.
const EndpointsDeprecationWarning = `299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"`

// maxBody is the largest request body accepted, as the real server's limit.
const maxBody = 3 << 20

// Server is an in-process API server. Its methods are safe for concurrent
// use.
type Server struct {
	opts Options

	mu       sync.Mutex
	rv       int64                  // guarded by mu: the last resourceVersion given out
	objects  map[key]map[string]any // guarded by mu
	history  []change               // guarded by mu: the last WatchHistory changes
	watchers map[*watcher]struct{}  // guarded by mu
	latency  time.Duration          // guarded by mu
	failN    int                    // guarded by mu
	failCode int                    // guarded by mu
	dropN    int                    // guarded by mu
	hang     bool                   // guarded by mu
	unhang   chan struct{}          // guarded by mu: closed when hang ends
	hook     func(*http.Request)    // guarded by mu
	deny     []Permission           // guarded by mu; never modified once stored
	tls      *httptest.Server       // guarded by mu
	closed   bool                   // guarded by mu
}

// key names one stored object.
type key struct {
	group, resource, namespace, name string
}

// New returns a server with no objects.
func New(opts Options) *Server {
	if opts.WatchHistory <= 0 {
		opts.WatchHistory = 1000
	}
	if opts.User == "" {
		opts.User = "system:serviceaccount:default:default"
	}
	return &Server{
		opts:     opts,
		deny:     append([]Permission(nil), opts.Deny...),
		objects:  map[key]map[string]any{},
		watchers: map[*watcher]struct{}{},
		unhang:   make(chan struct{}),
	}
}

// Config returns a client config that reaches the server in-process.
func (s *Server) Config() k8sapi.Config {
	return k8sapi.Config{
		Host:        "https://testapiserver.invalid",
		Transport:   s.RoundTripper(),
		BearerToken: s.opts.Token,
	}
}

// Client returns a client of the server, reaching it in-process as Config
// does: what a test passes to the code it tests. Each call returns a new
// client. It panics if Options.Token is not a valid bearer token (a
// newline in it, say), the only way the config can be wrong.
func (s *Server) Client() *k8sapi.Client {
	c, err := k8sapi.New(s.Config())
	if err != nil {
		panic("testapiserver: " + err.Error())
	}
	return c
}

// StartTLS serves the server on loopback HTTPS (HTTP/2 enabled) and returns
// its URL and the PEM certificate to trust. Calling it again returns the
// same server.
func (s *Server) StartTLS() (url string, caPEM []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls == nil {
		ts := httptest.NewUnstartedServer(s)
		ts.EnableHTTP2 = true
		ts.StartTLS()
		s.tls = ts
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.tls.Certificate().Raw})
	return s.tls.URL, caPEM
}

// Close ends every watch and hung request and stops the HTTPS server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	ts := s.tls
	s.tls = nil
	s.stopHangLocked()
	s.mu.Unlock()
	s.CloseWatches()
	if ts != nil {
		ts.Close()
	}
}

// SetLatency delays every response by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// FailNext makes the next n requests answer code with a matching Status.
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, code
}

// DropNext drops the connection of the next n requests without an answer.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// SetHang makes requests block, unanswered, until their context ends or
// hanging is turned off.
func (s *Server) SetHang(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && !s.hang {
		s.hang = true
		s.unhang = make(chan struct{})
	} else if !on {
		s.stopHangLocked()
	}
}

func (s *Server) stopHangLocked() {
	if s.hang {
		s.hang = false
		close(s.unhang)
	}
}

// SetDeny replaces the Deny list: from now on requests (and access
// reviews) matching one of perms are forbidden, as when a RoleBinding loses
// a rule. SetDeny() with no argument forbids nothing more than Allow does.
func (s *Server) SetDeny(perms ...Permission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = append([]Permission(nil), perms...)
}

// SetHook makes f see every request before the server acts on it. f must
// not read the body.
func (s *Server) SetHook(f func(*http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// Get returns the stored object as JSON.
func (s *Server) Get(group, resource, namespace, name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[key{group, resource, namespace, name}]
	if !ok {
		return nil, false
	}
	b, _ := json.Marshal(obj)
	return b, true
}

// Put stores obj (JSON with metadata.namespace and metadata.name) as it is,
// bypassing every check: a new resourceVersion, a watch event.
func (s *Server) Put(group, resource string, obj []byte) error {
	m, err := decodeObject(bytes.NewReader(obj))
	if err != nil {
		return fmt.Errorf("testapiserver: put: %w", err)
	}
	k := key{group, resource, str(meta(m)["namespace"]), str(meta(m)["name"])}
	if k.namespace == "" || k.name == "" {
		return errors.New("testapiserver: put: metadata.namespace and metadata.name are required")
	}
	kind, ok := resources[[2]string{group, resource}]
	if !ok {
		return fmt.Errorf("testapiserver: put: unknown resource %q in group %q", resource, group)
	}
	m["kind"], m["apiVersion"] = kind, request{group: group, version: "v1"}.apiVersion()
	s.mu.Lock()
	defer s.mu.Unlock()
	_, existed := s.objects[k]
	md := meta(m)
	if str(md["uid"]) == "" {
		md["uid"] = newUID()
	}
	if str(md["creationTimestamp"]) == "" {
		md["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	}
	typ := "ADDED"
	if existed {
		typ = "MODIFIED"
	}
	s.storeLocked(k, m, typ)
	return nil
}

// Delete removes an object, as a DELETE would; false if there was none.
func (s *Server) Delete(group, resource, namespace, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key{group, resource, namespace, name}
	obj, ok := s.objects[k]
	if ok {
		s.deleteLocked(k, obj)
	}
	return ok
}

// storeLocked gives obj the next resourceVersion, stores it and tells the
// watchers.
func (s *Server) storeLocked(k key, obj map[string]any, typ string) {
	s.rv++
	meta(obj)["resourceVersion"] = strconv.FormatInt(s.rv, 10)
	s.objects[k] = obj
	s.notifyLocked(k, typ, obj)
}

func (s *Server) deleteLocked(k key, obj map[string]any) {
	delete(s.objects, k)
	s.rv++
	gone := deepCopy(obj)
	meta(gone)["resourceVersion"] = strconv.FormatInt(s.rv, 10)
	s.notifyLocked(k, "DELETED", gone)
}

// decodeObject decodes one JSON object, keeping numbers as they were
// written.
func decodeObject(r io.Reader) (map[string]any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, ok := m["metadata"].(map[string]any); !ok {
		m["metadata"] = map[string]any{}
	}
	return m, nil
}

// meta is obj's metadata map (decodeObject ensures there is one).
func meta(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func deepCopy(obj map[string]any) map[string]any {
	b, _ := json.Marshal(obj)
	m, _ := decodeObject(bytes.NewReader(b))
	return m
}

func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
