package k8sapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// ErrResponseTooLarge is wrapped by the error of a request whose response
// body, or one watch event, exceeds Config.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("k8sapi: response too large")

// presizeMax bounds the buffer that readBody sets aside for an answer
// from the length it declares.
const presizeMax = 64 << 10

// maxErrorBodyBytes bounds how much of a non-2xx body is read to decode a
// Status from it.
const maxErrorBodyBytes = 64 << 10

// Client talks to one API server. Safe for concurrent use.
//
// Every call but Watch is bounded by Config.Timeout on top of its context.
// At most 50 calls of a client are in flight at once, watches aside; the
// others wait, in the order they came, within that bound, so that a client
// keeps to one HTTP/2 connection (see maxInFlight).
// A non-2xx answer is a *StatusError (see IsNotFound and friends); any
// other failure wraps the cause with the method and path.
type Client struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	http      *http.Client
	tokens    *tokenSource
	warnings  *warnings
	userAgent string
	timeout   time.Duration
	maxBytes  int64
	slots     chan struct{} // holds a token per request in flight, watches aside
}

// maxInFlight bounds the requests a client has in flight at once, watches
// aside: the ones beyond it wait, in order, within their own timeout. An
// HTTP/2 server takes a bounded number of concurrent streams on one
// connection (kube-apiserver: 100), and Go's transport opens a connection
// more for every request beyond that instead of waiting; a program with a
// thousand locks renewing or starting together would otherwise hold a
// dozen connections. Half of kube-apiserver's streams leaves the other
// half to watches, so a client that watches through the shared watch of
// its locks keeps to one connection. Watches are not counted: they last
// minutes, and counting them could make ordinary requests wait for them.
const maxInFlight = 50

// New validates cfg and returns a client: Host must be an http(s) URL,
// plain http only to a loopback host unless AllowInsecureHTTP is set, the
// CA and client certificate must load, a BearerTokenFile must be readable
// (unless BearerToken is there to fall back on), and at most one way of
// getting the token (BearerToken/BearerTokenFile or TokenSource) and of
// getting the client certificate (the files or data, or
// GetClientCertificate) may be set.
func New(cfg Config) (*Client, error) {
	base, err := cfg.parseHost()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	userLogger := cfg.Logger
	logger := func() *slog.Logger {
		if userLogger != nil {
			return userLogger
		}
		return slog.Default()
	}
	tokens, err := newTokenSource(cfg.BearerToken, cfg.BearerTokenFile, cfg.TokenSource, logger)
	if err != nil {
		return nil, err
	}
	auth := &bearerAuth{tokens: tokens}
	var rt http.RoundTripper = cfg.Transport
	if rt == nil && cfg.GetClientCertificate != nil {
		auth.certs = newRenewingTransport(tc)
		rt = auth.certs
	}
	if rt == nil {
		rt = newTransport(tc)
	}
	if cfg.WrapTransport != nil {
		if rt = cfg.WrapTransport(rt); rt == nil {
			return nil, errors.New("k8sapi: config: WrapTransport returned nil")
		}
	}
	auth.next = rt
	c := &Client{
		base:   base.String(),
		tokens: tokens,
		http: &http.Client{
			Transport: auth,
			// The token is added below the client, so a redirect would carry
			// it to wherever the redirect points. The API server does not
			// redirect these requests: a 3xx is returned as an error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		warnings:  newWarnings(cfg.WarningHandler, logger),
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
		maxBytes:  cfg.MaxResponseBytes,
		slots:     make(chan struct{}, maxInFlight),
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent()
	}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	if c.maxBytes == 0 {
		c.maxBytes = defaultMaxResponseBytes
	}
	return c, nil
}

// Get reads the object named name.
func (c *Client) Get(ctx context.Context, r Resource, namespace, name string) (*Object, error) {
	if err := checkNames("get", namespace, name); err != nil {
		return nil, err
	}
	return c.doObject(ctx, http.MethodGet, r.objectPath(namespace, name), "", nil)
}

// Create POSTs obj to its namespace's collection and returns what the server stored.
// apiVersion and kind are sent from r when obj lacks them.
func (c *Client) Create(ctx context.Context, r Resource, obj *Object) (*Object, error) {
	if obj == nil {
		return nil, errors.New("k8sapi: create: nil object")
	}
	ns := obj.Namespace()
	if err := checkName("create", "namespace", ns); err != nil {
		return nil, err
	}
	body, err := requestBody(r, obj)
	if err != nil {
		return nil, err
	}
	return c.doObject(ctx, http.MethodPost, r.collectionPath(ns), contentJSON, body)
}

// Update PUTs obj, carrying the resourceVersion it holds, and returns what
// the server stored. A stale resourceVersion gives a Conflict error.
func (c *Client) Update(ctx context.Context, r Resource, obj *Object) (*Object, error) {
	if obj == nil {
		return nil, errors.New("k8sapi: update: nil object")
	}
	meta := obj.meta()
	ns, name := meta.Namespace, meta.Name
	if err := checkNames("update", ns, name); err != nil {
		return nil, err
	}
	body, err := requestBody(r, obj)
	if err != nil {
		return nil, err
	}
	return c.doObject(ctx, http.MethodPut, r.objectPath(ns, name), contentJSON, body)
}

// PatchType is the media type of a patch: how the server applies it.
type PatchType string

// The patch types Patch sends. Server-side apply and strategic merge patch
// are not among them.
const (
	// JSONPatch is a JSON Patch (RFC 6902): a list of operations ("test",
	// "add", "remove", "replace", "move", "copy"), applied in order and
	// all or nothing. A "test" that fails, or an operation on a path that
	// is not there, makes kube-apiserver refuse the whole patch with 422
	// Invalid, changing nothing: a condition on any field of the object.
	JSONPatch PatchType = "application/json-patch+json"
	// MergePatch is a JSON merge patch (RFC 7386): an object whose fields
	// replace the object's, null removing one.
	MergePatch PatchType = "application/merge-patch+json"
)

// Patch applies patch, of type pt, to the object named name and returns
// what the server stored. The patch is not conditional on a
// resourceVersion unless it carries one (a merge patch's
// metadata.resourceVersion, or a JSON Patch "test" of it). A failed JSON
// Patch "test" is a 422 *StatusError with reason Invalid (IsInvalid).
func (c *Client) Patch(ctx context.Context, r Resource, namespace, name string, pt PatchType, patch []byte) (*Object, error) {
	if err := checkNames("patch", namespace, name); err != nil {
		return nil, err
	}
	if pt != JSONPatch && pt != MergePatch {
		return nil, fmt.Errorf("k8sapi: patch: unsupported patch type %q (JSONPatch or MergePatch)", cut(string(pt)))
	}
	if len(patch) == 0 {
		return nil, errors.New("k8sapi: patch: empty patch")
	}
	return c.doObject(ctx, http.MethodPatch, r.objectPath(namespace, name), string(pt), patch)
}

// Delete deletes the object named name.
func (c *Client) Delete(ctx context.Context, r Resource, namespace, name string) error {
	if err := checkNames("delete", namespace, name); err != nil {
		return err
	}
	_, err := c.do(ctx, http.MethodDelete, r.objectPath(namespace, name), "", nil)
	return err
}

// contentJSON is the media type of a request body that is an object.
const contentJSON = "application/json"

// doObject runs one request and decodes the object it answers with.
func (c *Client) doObject(ctx context.Context, method, path, contentType string, body []byte) (*Object, error) {
	b, err := c.do(ctx, method, path, contentType, body)
	if err != nil {
		return nil, err
	}
	obj := new(Object)
	if err := obj.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("k8sapi: %s %s: response is not an object (%d bytes, starting %q): %w",
			method, path, len(b), snippet(b, c.tokens.secrets()), err)
	}
	return obj, nil
}

// do runs one request under the per-request timeout and returns the body
// of a 2xx answer. Any other answer is a *StatusError. contentType is the
// body's media type.
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return nil, c.wrap(method, path, fmt.Errorf("waiting for one of the client's %d requests in flight to end: %w", maxInFlight, ctx.Err()))
	}
	resp, err := c.send(ctx, method, path, nil, contentType, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp, method, path)
	}
	b, err := readBody(resp.Body, resp.ContentLength, c.maxBytes)
	if err != nil {
		return nil, c.wrap(method, path, fmt.Errorf("read response: %w", err))
	}
	if int64(len(b)) > c.maxBytes {
		return nil, fmt.Errorf("%w: %s %s: body exceeds the limit of %d bytes (Config.MaxResponseBytes)",
			ErrResponseTooLarge, method, path, c.maxBytes)
	}
	return b, nil
}

// readBody reads r to its end, or to one byte past limit. size is the
// length the answer declared (-1 when unknown): a body within the limit is
// read into one buffer of its size, where io.ReadAll would start small and
// grow, copying, several times over. A declared size is trusted up to
// presizeMax only, so that an answer cannot make the client set aside
// more than that before it sends the bytes.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	n := int64(512)
	if size >= 0 && size <= limit {
		n = min(size, presizeMax) + 1 // the read that finds the end needs room too
	}
	b := make([]byte, 0, n)
	r = io.LimitReader(r, limit+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // a body longer than it said, or unsaid
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// send sends one request and surfaces its warnings. The caller closes the
// response body. contentType is the body's media type.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) (*http.Response, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // sets GetBody, so a 401 can be retried
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, c.wrap(method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.wrap(method, path, err)
	}
	c.warnings.observe(resp.Header, c.tokens)
	return resp, nil
}

// statusError reads a non-2xx answer into a *StatusError.
func (c *Client) statusError(resp *http.Response, method, path string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	se := decodeStatus(resp.StatusCode, resp.Header.Get("Retry-After"), b, c.tokens.secrets())
	se.Method, se.Path = method, path
	return se
}

// wrap gives a transport failure the method and path. The *url.Error
// layer is dropped: it repeats the URL, and the method and path say which
// request it was. Go's HTTP client quotes a malformed response line or
// header in its error, so one that echoes the token is redacted.
func (c *Client) wrap(method, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("k8sapi: %s %s: %w", method, path, redactError(err, c.tokens.secrets()))
}

// requestBody encodes obj, adding apiVersion and kind from r when absent.
func requestBody(r Resource, obj *Object) ([]byte, error) {
	if _, ok := obj.fields["apiVersion"]; !ok {
		obj = obj.DeepCopy()
		obj.fields["apiVersion"] = mustMarshal(r.APIVersion())
	}
	if _, ok := obj.fields["kind"]; !ok && r.Kind != "" {
		obj = obj.DeepCopy()
		obj.fields["kind"] = mustMarshal(r.Kind)
	}
	return obj.MarshalJSON()
}

func checkNames(op, namespace, name string) error {
	if err := checkName(op, "namespace", namespace); err != nil {
		return err
	}
	return checkName(op, "name", name)
}

// checkName rejects what cannot be a path segment of an object, as
// kube-apiserver does: empty, "." or "..", or holding '/' or '%' (a name
// with a '/' would address a sub-resource instead).
func checkName(op, what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s: empty %s", ErrInvalidName, op, what)
	case s == "." || s == "..":
		return fmt.Errorf("%w: %s: %s %q is not allowed", ErrInvalidName, op, what, s)
	case strings.ContainsAny(s, "/%"):
		return fmt.Errorf("%w: %s: %s %q must not contain '/' or '%%'", ErrInvalidName, op, what, cut(s))
	}
	return nil
}

// defaultUserAgent is "kubelect/<module version> (<os>/<arch>)".
func defaultUserAgent() string {
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		const module = "github.com/kubelect/kubelect"
		if bi.Main.Path == module && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == module && d.Version != "" {
				version = d.Version
			}
		}
	}
	return "kubelect/" + version + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
